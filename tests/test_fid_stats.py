"""Frechet distance, streaming statistics and statistics files."""

import numpy as np
import pytest
import scipy.linalg

from wae_jax.fid import FIDError
from wae_jax.fid import RunningStatistics
from wae_jax.fid import frechet_distance
from wae_jax.fid import load_statistics
from wae_jax.fid import save_statistics

PROTOCOL = {'dataset': 'celeba', 'split': 'test', 'crop': 140, 'resolution': 128}


def _random_covariance(rng, dim):
  factor = rng.normal(size=(dim, dim))
  return factor @ factor.T / dim + 0.1 * np.eye(dim)


def test_frechet_distance_matches_direct_scipy_sqrtm():
  rng = np.random.default_rng(0)
  mu1, mu2 = rng.normal(size=16), rng.normal(size=16)
  sigma1, sigma2 = _random_covariance(rng, 16), _random_covariance(rng, 16)
  root = scipy.linalg.sqrtm(sigma1 @ sigma2).real
  direct = ((mu1 - mu2) ** 2).sum() + np.trace(sigma1 + sigma2 - 2 * root)
  assert frechet_distance(mu1, sigma1, mu2, sigma2) == pytest.approx(direct, rel=1e-10)


def test_frechet_distance_of_known_gaussians():
  # Diagonal (commuting) covariances: FID = |mu1 - mu2|^2 + sum (sqrt(a) - sqrt(b))^2.
  variances1, variances2 = np.array([1.0, 4.0, 9.0]), np.array([4.0, 1.0, 9.0])
  mu1, mu2 = np.array([0.0, 1.0, 2.0]), np.array([3.0, 1.0, -2.0])
  expected = 9 + 16 + (1 - 2) ** 2 + (2 - 1) ** 2 + 0
  assert frechet_distance(mu1, np.diag(variances1), mu2, np.diag(variances2)) == \
      pytest.approx(expected, rel=1e-12)


def test_frechet_distance_is_zero_for_equal_and_symmetric_for_rank_deficient():
  rng = np.random.default_rng(1)
  a, b = rng.normal(size=(20, 64)), rng.normal(size=(30, 64)) + 0.5  # fewer samples than dims
  mu_a, sigma_a = a.mean(0), np.cov(a, rowvar=False)
  mu_b, sigma_b = b.mean(0), np.cov(b, rowvar=False)
  # Square roots of round-off eigenvalues make a tiny residue: relative to the trace, ~1e-8.
  assert abs(frechet_distance(mu_a, sigma_a, mu_a, sigma_a)) < 1e-6 * np.trace(sigma_a)
  forward = frechet_distance(mu_a, sigma_a, mu_b, sigma_b)
  assert forward == pytest.approx(frechet_distance(mu_b, sigma_b, mu_a, sigma_a), rel=1e-7)
  assert forward > 0


def test_frechet_distance_rejects_mismatched_shapes():
  with pytest.raises(FIDError, match='means'):
    frechet_distance(np.zeros(3), np.eye(3), np.zeros(4), np.eye(4))


def test_running_statistics_match_numpy_over_uneven_batches():
  rng = np.random.default_rng(2)
  features = rng.normal(size=(257, 12)) * rng.uniform(0.1, 3, 12) + 1e4  # large offset
  stats = RunningStatistics()
  for start, stop in [(0, 1), (1, 1), (1, 100), (100, 257)]:
    stats.update(features[start:stop].astype(np.float32 if start else np.float64))
  mean, covariance = stats.mean_and_covariance()
  exact = features.astype(np.float32).astype(np.float64)
  exact[0] = features[0]
  assert stats.count == 257
  np.testing.assert_allclose(mean, exact.mean(0), rtol=1e-12)
  np.testing.assert_allclose(covariance, np.cov(exact, rowvar=False), rtol=1e-7, atol=1e-9)


def test_running_statistics_need_two_images_and_one_width():
  stats = RunningStatistics()
  stats.update(np.ones((1, 4)))
  with pytest.raises(FIDError, match='at least 2'):
    stats.mean_and_covariance()
  with pytest.raises(FIDError, match='does not match'):
    stats.update(np.ones((2, 5)))


def test_statistics_file_roundtrip(tmp_path):
  rng = np.random.default_rng(3)
  mean, covariance = rng.normal(size=8), _random_covariance(rng, 8)
  path = tmp_path / 'stats' / 'fid_stats_test_128.npz'
  save_statistics(path, mean, covariance, 660, PROTOCOL)
  loaded_mean, loaded_covariance, count, protocol = load_statistics(path, dict(PROTOCOL))
  np.testing.assert_array_equal(loaded_mean, mean)
  np.testing.assert_array_equal(loaded_covariance, covariance)
  assert count == 660 and protocol == PROTOCOL
  assert list(tmp_path.joinpath('stats').iterdir()) == [path]  # no temporary file left


def test_protocol_mismatch_names_the_differing_fields(tmp_path):
  path = tmp_path / 'stats.npz'
  save_statistics(path, np.zeros(2), np.eye(2), 10, PROTOCOL)
  with pytest.raises(FIDError) as error:
    load_statistics(path, {**PROTOCOL, 'crop': 0, 'split': 'test'})
  assert "crop: file has 140, expected 0" in str(error.value)
  assert 'split' not in str(error.value) and 'resolution' not in str(error.value)
  with pytest.raises(FIDError, match="extra: file has None, expected 'x'"):
    load_statistics(path, {**PROTOCOL, 'extra': 'x'})


def test_missing_or_foreign_statistics_file_is_a_clear_error(tmp_path):
  with pytest.raises(FIDError, match='not found'):
    load_statistics(tmp_path / 'absent.npz')
  foreign = tmp_path / 'foreign.npz'
  np.savez(foreign, mu=np.zeros(2))
  with pytest.raises(FIDError, match='unreadable FID statistics file'):
    load_statistics(foreign)
