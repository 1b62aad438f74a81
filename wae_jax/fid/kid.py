"""Kernel Inception Distance (Binkowski et al. 2018, "Demystifying MMD GANs").

The unbiased estimate of MMD^2 between two feature sets under the polynomial kernel
k(x, y) = (x . y / d + 1)^3, averaged over random subsets of equal size (what the paper,
torch-fidelity and clean-fid report). Unlike FID it is unbiased in the number of images, so
small evaluation sets can be compared; the spread over subsets says how much a difference means.
"""

import numpy as np

from wae_jax.fid.errors import FIDError

DEFAULT_SUBSETS = 100
DEFAULT_SUBSET_SIZE = 1000


def polynomial_mmd2(x: np.ndarray, y: np.ndarray) -> float:
  """Unbiased MMD^2 of x [m, d] and y [m, d] with k(a, b) = (a . b / d + 1)^3, in float64."""
  x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
  m, d = x.shape
  k_xx = (x @ x.T / d + 1.0) ** 3
  k_yy = (y @ y.T / d + 1.0) ** 3
  k_xy = (x @ y.T / d + 1.0) ** 3
  within = (k_xx.sum() - np.trace(k_xx) + k_yy.sum() - np.trace(k_yy)) / (m * (m - 1))
  return float(within - 2.0 * k_xy.mean())


def kernel_inception_distance(features: np.ndarray, reference: np.ndarray,
                              subsets: int = DEFAULT_SUBSETS, subset_size: int = DEFAULT_SUBSET_SIZE,
                              seed: int = 0) -> tuple[float, float]:
  """(mean, standard deviation) of polynomial_mmd2 over `subsets` pairs of random subsets of
  min(subset_size, len(features), len(reference)) images each, drawn without replacement."""
  size = min(subset_size, len(features), len(reference))
  if size < 2:
    raise FIDError(f'KID needs at least 2 images in each set, got {len(features)} and {len(reference)}.')
  rng = np.random.default_rng(seed)
  estimates = [polynomial_mmd2(features[rng.choice(len(features), size, replace=False)],
                               reference[rng.choice(len(reference), size, replace=False)])
               for _ in range(subsets)]
  return float(np.mean(estimates)), float(np.std(estimates))
