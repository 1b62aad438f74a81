"""The image files of a folder (searched recursively) or a zip, read by name without extracting.

Light on purpose (no pipeline, no Grain): the FID command line lists its images with it too.
"""

import hashlib
import os
import zipfile
import zlib

import numpy as np
from PIL import Image

from wae_jax.data.errors import DataError

# Suffixes read as images (compared case-insensitively).
IMAGE_EXTENSIONS = ('.jpg', '.jpeg', '.png', '.bmp', '.gif', '.webp', '.tif', '.tiff', '.ppm')
# What decoding a broken file raises (PIL, zip CRC checks, zlib inside PNG).
DECODE_ERRORS = (OSError, ValueError, SyntaxError, EOFError, Image.DecompressionBombError,
                 zipfile.BadZipFile, zlib.error)


def _is_image(name: str) -> bool:
  """An image by its suffix; hidden files and macOS '__MACOSX/' zip entries are not."""
  base = name.rsplit('/', 1)[-1]
  return (base.lower().endswith(IMAGE_EXTENSIONS) and not base.startswith('.')
          and not name.startswith('__MACOSX/'))


def _common_directory(members: list[str]) -> str:
  """The leading 'dir/' every member shares (a zip of one folder), or ''."""
  first = members[0].split('/', 1)
  if len(first) == 1:
    return ''
  prefix = first[0] + '/'
  return prefix if all(member.startswith(prefix) for member in members) else ''


class EmptyFileError(OSError):
  """A zero-byte image file: reported as an empty file, not as an unknown image format."""

  def __str__(self) -> str:
    return 'empty file'


def describe_decode_error(error: Exception) -> str:
  """Why a file could not be decoded, in a few words."""
  if isinstance(error, EmptyFileError):
    return str(error)
  if isinstance(error, Image.UnidentifiedImageError):  # its message names an in-memory buffer
    return 'not an image format PIL can read'
  return f'{type(error).__name__}: {error}'


class ImageFiles:
  """Image files by relative name ('a/b.jpg', sorted), from a folder or a zip.

  A zip's leading folder shared by all images is not part of the names (zip and extracted folder
  agree). Pickled for a worker, an instance is its path and a bit per image it holds, small
  enough for one write to the spawn pipe; the worker lists the path again and refuses a change.
  """

  def __init__(self, path: str):
    self.path = path
    self.is_zip = os.path.isfile(path)
    self._zip = None
    self._listing, self._prefix = self._list()  # every image under path, sorted; shared by subsets
    self._digest = _digest(self._listing)
    self._selection = np.arange(len(self._listing))  # which of them this instance holds, in order
    self._names = None

  def _list(self) -> tuple[list[str], str]:
    if self.is_zip:
      members = sorted(name for name in self._open_zip().namelist() if _is_image(name))
      prefix = _common_directory(members) if members else ''
      names = [member[len(prefix):] for member in members]
    else:
      names, prefix = sorted(_list_folder(self.path)), ''
    if not names:
      raise DataError(f'{self.path}: no images ({", ".join(IMAGE_EXTENSIONS)}) in this '
                      f'{"zip" if self.is_zip else "folder"}; give the folder or zip that holds them')
    return names, prefix

  @property
  def names(self) -> list[str]:
    if self._names is None:
      if self._listing is None:  # unpickled in a worker: list the path again
        listing, self._prefix = self._list()
        if _digest(listing) != self._digest:
          raise DataError(f'{self.path}: its images changed while this run was using them '
                          f'({len(listing)} images now); restart the run')
        self._listing = listing
      self._names = [self._listing[i] for i in self._selection]
    return self._names

  def __len__(self) -> int:
    return len(self._selection)

  def subset(self, indices) -> 'ImageFiles':
    """The files at `indices`, in that order."""
    subset = object.__new__(ImageFiles)  # not copy.copy: that would go through __getstate__
    subset.__dict__.update(self.__dict__, _zip=None, _names=None,
                           _selection=self._selection[np.fromiter(indices, dtype=np.int64)])
    return subset

  def location(self, index: int) -> str:
    """Where a file is, for messages: 'folder/a.jpg' or 'data.zip:dir/a.jpg'."""
    if self.is_zip:
      return f'{self.path}:{self._prefix}{self.names[index]}'
    return os.path.join(self.path, self.names[index])

  def open(self, index: int):
    """One file as a binary file object, so a reader of its header reads no further."""
    if self.is_zip:
      return self._open_zip().open(self._prefix + self.names[index])
    return open(os.path.join(self.path, self.names[index]), 'rb')

  def read(self, index: int) -> bytes:
    """The bytes of one file; EmptyFileError for a file of zero bytes."""
    with self.open(index) as file:
      content = file.read()
    if not content:
      raise EmptyFileError()
    return content

  def _open_zip(self) -> zipfile.ZipFile:
    if self._zip is None:
      try:
        self._zip = zipfile.ZipFile(self.path)
      except (zipfile.BadZipFile, OSError) as error:
        raise DataError(f'{self.path}: not a readable zip file ({error}); download it again') from None
    return self._zip

  def __getstate__(self) -> dict:
    count, selection = self._count if self._listing is None else len(self._listing), self._selection
    increasing = len(selection) < 2 or bool(np.all(np.diff(selection) > 0))
    if increasing:  # a split's subset: one bit per image of the listing
      mask = np.zeros(count, bool)
      mask[selection] = True
      selection = ('mask', np.packbits(mask))
    else:
      selection = ('indices', selection.astype(np.int32 if count < 2**31 else np.int64))
    return {'path': self.path, 'is_zip': self.is_zip, '_prefix': self._prefix,
            '_digest': self._digest, '_count': count, '_packed': selection}

  def __setstate__(self, state: dict) -> None:
    kind, packed = state['_packed']
    self.__dict__.update({name: value for name, value in state.items() if name != '_packed'},
                         _zip=None, _listing=None, _names=None)
    self._selection = (np.flatnonzero(np.unpackbits(packed, count=self._count)) if kind == 'mask'
                       else packed.astype(np.int64))


def _digest(names: list[str]) -> str:
  """A fingerprint of a listing, to tell a worker's listing from its parent's."""
  return hashlib.sha1('\n'.join(names).encode()).hexdigest()


def _list_folder(root: str) -> list[str]:
  """Relative posix names of the images below `root`."""
  if not os.path.isdir(root):
    raise DataError(f'{root}: no such folder or zip; set config.data.path to your images')
  names = []
  for folder, subfolders, files in os.walk(root, followlinks=True):
    subfolders.sort()
    relative = os.path.relpath(folder, root).replace(os.sep, '/')
    prefix = '' if relative == '.' else relative + '/'
    names.extend(prefix + name for name in files if _is_image(name))
  return names
