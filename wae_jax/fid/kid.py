"""Kernel Inception Distance (Binkowski et al. 2018, "Demystifying MMD GANs").

Unbiased MMD^2 under the kernel (x . y / d + 1)^3, averaged over random equal-size subsets (as
torch-fidelity and clean-fid report it): unlike FID, small sets compare; the spread says how much.
"""

import numpy as np

from wae_jax.fid.errors import FIDError

DEFAULT_SUBSETS = 100
DEFAULT_SUBSET_SIZE = 1000
# Subsets hold at most this share of the smaller set. Subsets of nearly all images are nearly
# the same images, so their spread says nothing (at N <= 1000 every subset of 1000 is the whole
# set and the spread is 0); at a quarter two random subsets share a quarter of their images.
DEFAULT_MAX_SHARE = 0.25


def polynomial_mmd2(x: np.ndarray, y: np.ndarray) -> float:
  """Unbiased MMD^2 of x [m, d] and y [m, d] with k(a, b) = (a . b / d + 1)^3, in float64."""
  x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
  m, d = x.shape
  k_xx = (x @ x.T / d + 1.0) ** 3
  k_yy = (y @ y.T / d + 1.0) ** 3
  k_xy = (x @ y.T / d + 1.0) ** 3
  within = (k_xx.sum() - np.trace(k_xx) + k_yy.sum() - np.trace(k_yy)) / (m * (m - 1))
  return float(within - 2.0 * k_xy.mean())


def kid_subset_size(n: int, n_reference: int, subset_size: int = DEFAULT_SUBSET_SIZE,
                    max_share: float = DEFAULT_MAX_SHARE) -> int:
  """min(subset_size, max_share x the smaller set), at least 2 images (where the sets have them)."""
  return min(max(2, int(max_share * min(n, n_reference))), subset_size, n, n_reference)


def kernel_inception_distance(features: np.ndarray, reference: np.ndarray,
                              subsets: int = DEFAULT_SUBSETS, subset_size: int = DEFAULT_SUBSET_SIZE,
                              seed: int = 0, max_share: float = DEFAULT_MAX_SHARE) -> tuple[float, float]:
  """(mean, standard deviation) of polynomial_mmd2 over `subsets` pairs of random subsets of
  kid_subset_size(...) images each, drawn without replacement. The deviation is the spread of a
  KID estimate from that many images."""
  size = kid_subset_size(len(features), len(reference), subset_size, max_share)
  if size < 2:
    raise FIDError(f'KID needs at least 2 images in each set, got {len(features)} and {len(reference)}.')
  rng = np.random.default_rng(seed)
  estimates = [polynomial_mmd2(features[rng.choice(len(features), size, replace=False)],
                               reference[rng.choice(len(reference), size, replace=False)])
               for _ in range(subsets)]
  return float(np.mean(estimates)), float(np.std(estimates))
