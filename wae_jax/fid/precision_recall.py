"""Improved precision and recall (Kynkaanniemi et al. 2019) of two feature sets.

A set's manifold: balls around its points reaching to each one's k-th nearest neighbour.
Precision: generated points inside the real manifold; recall: real points inside the generated.
"""

import numpy as np

from wae_jax.fid.errors import FIDError

DEFAULT_K = 3
_BLOCK_ROWS = 1024


def _squared_distances(a: np.ndarray, b: np.ndarray) -> np.ndarray:
  distances = (a * a).sum(1)[:, None] + (b * b).sum(1)[None, :] - 2.0 * a @ b.T
  return np.maximum(distances, 0.0)


def _blocks(points: np.ndarray):
  for start in range(0, len(points), _BLOCK_ROWS):
    yield points[start:start + _BLOCK_ROWS]


def kth_neighbour_radii(points: np.ndarray, k: int) -> np.ndarray:
  """Squared distance of every point to its k-th nearest other point of the same set."""
  return np.concatenate([np.partition(_squared_distances(block, points), k, axis=1)[:, k]
                         for block in _blocks(points)])


def coverage(queries: np.ndarray, points: np.ndarray, radii: np.ndarray) -> float:
  """Share of `queries` within radius (squared, per point) of at least one of `points`."""
  inside = [(_squared_distances(block, points) <= radii[None, :]).any(axis=1)
            for block in _blocks(queries)]
  return float(np.concatenate(inside).mean())


def precision_recall(features: np.ndarray, reference: np.ndarray,
                     k: int = DEFAULT_K) -> tuple[float, float]:
  """(precision, recall) of generated `features` against `reference` (real) features."""
  if min(len(features), len(reference)) <= k:
    raise FIDError(f'precision / recall with k = {k} needs more than {k} images in each set, got '
                   f'{len(features)} and {len(reference)}.')
  features, reference = np.asarray(features, np.float64), np.asarray(reference, np.float64)
  precision = coverage(features, reference, kth_neighbour_radii(reference, k))
  recall = coverage(reference, features, kth_neighbour_radii(features, k))
  return precision, recall
