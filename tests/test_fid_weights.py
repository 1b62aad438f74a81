"""The TorchScript weights reader: refuses code in pickles, checks the archive, folds BN, caches."""

import os
import pickle
import zipfile

import numpy as np
import pytest

from wae_jax.fid import FIDError
from wae_jax.fid import inception
from wae_jax.fid import weights


def _weights_or_skip() -> str:
  try:
    return weights.default_weights_path()
  except FIDError as error:
    pytest.skip(f'FID weights not installed ({error})')


@pytest.fixture(scope='module')
def archive_contents():
  path = _weights_or_skip()
  return path, weights.read_archive(path)


def _write_archive(path, pickled: bytes) -> str:
  with zipfile.ZipFile(path, 'w') as archive:
    archive.writestr('evil/data.pkl', pickled)
  return str(path)


class _Payload:
  """Pickles as the call `function(argument)`, as a malicious weights file would."""

  def __init__(self, function, argument):
    self.function, self.argument = function, argument

  def __reduce__(self):
    return self.function, (self.argument,)


@pytest.mark.parametrize('runner', ['shell', 'python'])
def test_malicious_pickle_is_refused_and_nothing_runs(tmp_path, runner):
  marker = tmp_path / 'pwned'
  evil = (_Payload(os.system, f'touch {marker}') if runner == 'shell'
          else _Payload(exec, f'open({str(marker)!r}, "w").close()'))
  archive = _write_archive(tmp_path / 'evil.pt', pickle.dumps({'net': evil}, protocol=2))
  with pytest.raises(FIDError, match=r'refusing to load global \S*\.(system|exec) '):
    weights.load_params(archive)
  assert not marker.exists()


def test_file_that_is_not_an_archive_is_a_clear_error(tmp_path):
  path = tmp_path / 'weights.pt'
  path.write_bytes(b'not a zip file')
  with pytest.raises(FIDError, match='unreadable TorchScript archive'):
    weights.read_archive(str(path))


def test_archive_without_the_network_is_refused(tmp_path):
  archive = _write_archive(tmp_path / 'other.pt', pickle.dumps(['just a list'], protocol=2))
  with pytest.raises(FIDError, match='does not hold a TorchScript module'):
    weights.read_archive(archive)


def test_default_weights_with_wrong_sha1_are_refused(tmp_path, monkeypatch):
  fake = tmp_path / 'default_1.pt'
  fake.write_bytes(b'tampered')
  monkeypatch.setattr(weights, 'default_weights_path', lambda: str(fake))
  with pytest.raises(FIDError, match='sha1 .* is not the expected'):
    weights.load_params()


def test_default_archive_has_the_documented_sha1_and_size():
  path = _weights_or_skip()
  assert weights.file_sha1(path) == weights.DEFAULT_SHA1
  assert os.path.getsize(path) > 80e6


def test_archive_holds_the_architecture_with_21_8_million_parameters(archive_contents):
  _, contents = archive_contents
  network = {n: v for n, v in contents.items()
             if n.startswith('net.layers.') and isinstance(v, np.ndarray)}
  assert len(network) == 4 * len(inception.conv_layout())  # weight, beta, mean, var per conv
  assert round(sum(v.size for v in network.values()) / 1e6, 1) == 21.8


def test_batch_norm_is_folded_into_the_convolution(archive_contents):
  path, contents = archive_contents
  params = weights.convert(contents, path)
  rng = np.random.default_rng(0)
  patch = rng.normal(size=(3, 3, 32))  # one 3x3 window of conv_1's input
  raw = {f: contents[f'net.layers.conv_1.{f}'] for f in ('weight', 'beta', 'mean', 'var')}
  conv = np.einsum('hwi,oihw->o', patch, raw['weight'])
  batch_norm = (conv - raw['mean']) / np.sqrt(raw['var'] + 1e-3) + raw['beta']
  folded = np.einsum('hwi,hwio->o', patch, params['conv_1']['kernel']) + params['conv_1']['bias']
  np.testing.assert_allclose(folded, batch_norm, rtol=1e-5, atol=1e-5)


def test_wrong_tensor_shape_is_refused_and_named(archive_contents):
  path, contents = archive_contents
  name = 'net.layers.mixed_10.tower_mixed_conv.weight'
  tampered = {**contents, name: contents[name].transpose(0, 1, 3, 2)}
  with pytest.raises(FIDError, match='mixed_10.tower_mixed_conv.weight should be'):
    weights.convert(tampered, path)


def test_wrong_padding_is_refused(archive_contents):
  path, contents = archive_contents
  tampered = {**contents, 'net.layers.mixed_4.tower.conv_1.padding': [3, 0]}
  with pytest.raises(FIDError, match='mixed_4.tower.conv_1 has stride/padding'):
    weights.convert(tampered, path)


def test_converted_weights_are_cached_and_reused(archive_contents, tmp_path, monkeypatch):
  path, _ = archive_contents
  monkeypatch.setenv('WAE_JAX_CACHE', str(tmp_path))
  converted = weights.load_params(path)
  cached = list(tmp_path.glob(f'*{weights.DEFAULT_SHA1}.npz'))
  assert len(cached) == 1

  def must_not_convert(_):
    raise AssertionError('the archive was read again despite the cache')

  monkeypatch.setattr(weights, 'read_archive', must_not_convert)
  reused = weights.load_params(path)
  np.testing.assert_array_equal(reused['mixed_10']['conv']['kernel'],
                                converted['mixed_10']['conv']['kernel'])

  cached[0].write_bytes(b'truncated')  # a broken cache is rebuilt, not trusted
  monkeypatch.undo()
  monkeypatch.setenv('WAE_JAX_CACHE', str(tmp_path))
  rebuilt = weights.load_params(path)
  np.testing.assert_array_equal(rebuilt['conv']['bias'], converted['conv']['bias'])
  assert weights._read_cache(cached[0]) is not None  # pylint: disable=protected-access
