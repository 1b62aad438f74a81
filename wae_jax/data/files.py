"""The image files of a folder (searched recursively) or a zip, read by name without extracting."""

import os
import zipfile

from wae_jax.data.errors import DataError

# Suffixes read as images (compared case-insensitively).
IMAGE_EXTENSIONS = ('.jpg', '.jpeg', '.png', '.bmp', '.gif', '.webp', '.tif', '.tiff', '.ppm')


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


class ImageFiles:
  """Image files by relative name ('a/b.jpg', sorted), from a folder or a zip.

  In a zip, a leading folder shared by all images is not part of the names, so a zip of a
  folder and the same folder extracted give the same names. The zip is opened lazily once per
  process, which makes instances cheap to send to worker processes.
  """

  def __init__(self, path: str, names: list[str] | None = None, prefix: str = ''):
    """Lists the images under `path`, or takes `names` (with the zip `prefix`) as given."""
    self.path = path
    self.is_zip = os.path.isfile(path)
    self._zip = None
    if names is not None:
      self.names, self._prefix = names, prefix
    elif self.is_zip:
      members = sorted(name for name in self._open_zip().namelist() if _is_image(name))
      if not members:
        raise DataError(f'{path}: the zip holds no images ({", ".join(IMAGE_EXTENSIONS)}); '
                        'check that it is the right file')
      self._prefix = _common_directory(members)
      self.names = [member[len(self._prefix):] for member in members]
    else:
      self._prefix = ''
      self.names = sorted(_list_folder(path))
      if not self.names:
        raise DataError(f'{path}: the folder holds no images ({", ".join(IMAGE_EXTENSIONS)}); '
                        'point the data path at the images')

  def __len__(self) -> int:
    return len(self.names)

  def subset(self, indices) -> 'ImageFiles':
    """The files at `indices`, in that order."""
    return ImageFiles(self.path, [self.names[i] for i in indices], self._prefix)

  def location(self, index: int) -> str:
    """Where a file is, for messages: 'folder/a.jpg' or 'data.zip:dir/a.jpg'."""
    if self.is_zip:
      return f'{self.path}:{self._prefix}{self.names[index]}'
    return os.path.join(self.path, self.names[index])

  def read(self, index: int) -> bytes:
    """The bytes of one file; EmptyFileError for a file of zero bytes."""
    if self.is_zip:
      content = self._open_zip().read(self._prefix + self.names[index])
    else:
      with open(os.path.join(self.path, self.names[index]), 'rb') as file:
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
    return {**self.__dict__, '_zip': None}


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
