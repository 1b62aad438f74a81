"""Feature statistics (streaming mean / covariance), the Frechet distance, and statistics files."""

import json
import os
import pathlib
import zipfile

import numpy as np

from wae_jax import atomic_files
from wae_jax.fid.errors import FIDError

STATS_FORMAT = 'wae_jax.fid.stats/1'
ROUND_OFF = 1e-12  # relative; float64 sums of d = 2048 terms err by ~1e-16 x d x the scale


def frechet_distance(mu1: np.ndarray, sigma1: np.ndarray, mu2: np.ndarray,
                     sigma2: np.ndarray) -> float:
  """||mu1 - mu2||^2 + tr(S1) + tr(S2) - 2 tr((S1 S2)^(1/2)), in float64 (pytorch-fid / TTUR).

  The trace is that of the symmetric PSD S1^(1/2) S2 S1^(1/2) (similar to S1 S2), its tiny
  negative eigenvalues clipped. A distance within ROUND_OFF of the terms' scale is round-off and
  returns 0, so a set against itself is exactly 0 on every CPU.
  """
  mu1, mu2 = np.asarray(mu1, np.float64), np.asarray(mu2, np.float64)
  sigma1, sigma2 = np.asarray(sigma1, np.float64), np.asarray(sigma2, np.float64)
  dim = mu1.shape[0]
  if mu1.shape != (dim,) or mu2.shape != (dim,) or sigma1.shape != (dim, dim) or \
      sigma2.shape != (dim, dim):
    raise FIDError(f'Frechet distance needs means (d,) and covariances (d, d) of one d; got '
                   f'{mu1.shape}, {sigma1.shape}, {mu2.shape}, {sigma2.shape}.')
  eigenvalues, eigenvectors = np.linalg.eigh((sigma1 + sigma1.T) / 2)
  sqrt_sigma1 = (eigenvectors * np.sqrt(np.clip(eigenvalues, 0, None))) @ eigenvectors.T
  product = sqrt_sigma1 @ sigma2 @ sqrt_sigma1
  trace_sqrt = np.sqrt(np.clip(np.linalg.eigvalsh((product + product.T) / 2), 0, None)).sum()
  diff = mu1 - mu2
  scale = float(diff @ diff + np.trace(sigma1) + np.trace(sigma2))
  distance = scale - 2 * float(trace_sqrt)
  return 0.0 if distance <= ROUND_OFF * scale else distance


class RunningStatistics:
  """Mean and covariance of feature batches, merged in float64 (Chan et al.'s pairwise update),
  so memory stays flat in the number of images. The covariance is unbiased (ddof=1, np.cov)."""

  def __init__(self):
    self.count = 0
    self._mean = None
    self._scatter = None  # sum of outer products of deviations from the mean

  def update(self, features: np.ndarray) -> None:
    features = np.asarray(features, np.float64)
    if features.ndim != 2 or (self._mean is not None and features.shape[1] != self._mean.size):
      raise FIDError(f'feature batch of shape {features.shape} does not match earlier batches.')
    if not len(features):
      return
    batch_mean = features.mean(axis=0)
    centered = features - batch_mean
    batch_scatter = centered.T @ centered
    if self._mean is None:
      self.count, self._mean, self._scatter = len(features), batch_mean, batch_scatter
      return
    total = self.count + len(features)
    delta = batch_mean - self._mean
    self._scatter += batch_scatter + np.outer(delta, delta) * (self.count * len(features) / total)
    self._mean = self._mean + delta * (len(features) / total)
    self.count = total

  def mean_and_covariance(self) -> tuple[np.ndarray, np.ndarray]:
    if self.count < 2:
      raise FIDError(f'statistics need at least 2 images, got {self.count}.')
    return self._mean.copy(), self._scatter / (self.count - 1)


def save_statistics(path, mean: np.ndarray, covariance: np.ndarray, count: int,
                    protocol: dict, features: np.ndarray | None = None) -> None:
  """Writes an .npz (mean, covariance, count, protocol as JSON and, for KID and precision /
  recall, the features themselves as float32) atomically."""
  extra = {} if features is None else {'features': np.asarray(features, np.float32)}
  with atomic_files.replacing(os.fspath(path)) as temporary, open(temporary, 'wb') as f:
    np.savez(f, mean=np.asarray(mean, np.float64), covariance=np.asarray(covariance, np.float64),
             count=np.int64(count), protocol=np.array(json.dumps(protocol, sort_keys=True)),
             format=np.array(STATS_FORMAT), **extra)


def load_features(path) -> np.ndarray:
  """The per-image features stored beside the statistics (files written with `features`)."""
  try:
    with np.load(path, allow_pickle=False) as data:
      if 'features' not in data.files:
        raise FIDError(f'{path}: the statistics file holds no per-image features (made by an older '
                       'version); remake it with --mode=stats.')
      return data['features']
  except (OSError, ValueError, zipfile.BadZipFile) as error:
    raise FIDError(f'{path}: unreadable FID statistics file ({error}).') from error


def load_statistics(path, expected_protocol: dict | None = None
                   ) -> tuple[np.ndarray, np.ndarray, int, dict]:
  """(mean, covariance, count, protocol) from a file written by `save_statistics`.
  With `expected_protocol`, refuses a file made under another protocol, naming the fields."""
  path = pathlib.Path(path)
  if not path.is_file():
    raise FIDError(f'{path}: FID reference statistics file not found.')
  try:
    with np.load(path, allow_pickle=False) as data:
      if str(data['format']) != STATS_FORMAT:
        raise FIDError(f'{path}: not a wae_jax FID statistics file (format {data["format"]}).')
      mean, covariance = data['mean'], data['covariance']
      count, protocol = int(data['count']), json.loads(str(data['protocol']))
  except (OSError, KeyError, ValueError, zipfile.BadZipFile) as error:
    raise FIDError(f'{path}: unreadable FID statistics file ({error}).') from error
  if mean.ndim != 1 or covariance.shape != (mean.size, mean.size):
    raise FIDError(f'{path}: mean {mean.shape} and covariance {covariance.shape} do not match.')
  if expected_protocol is not None:
    expected = json.loads(json.dumps(expected_protocol, sort_keys=True))  # same types as stored
    differing = [f'{key}: file has {protocol.get(key)!r}, expected {expected.get(key)!r}'
                 for key in sorted(set(protocol) | set(expected))
                 if protocol.get(key) != expected.get(key)]
    if differing:
      raise FIDError(f'{path}: statistics made under another protocol ({"; ".join(differing)}).')
  return mean, covariance, count, protocol
