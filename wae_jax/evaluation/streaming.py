"""The one streaming loop every image part shares: uint8 batches -> scores, the first images kept
for the figure and, with config.eval.save_images, all saved as <part>.npy."""

import dataclasses
import os
from collections.abc import Callable, Iterable

import ml_collections
import numpy as np

from wae_jax import data
from wae_jax.evaluation.reference import EvaluationError, progress_bar
from wae_jax.evaluation.scores import ImageScores, Reference

MIN_IMAGES = 4  # fewer make no meaningful scores


@dataclasses.dataclass(frozen=True)
class Context:
  """What an evaluator scores with: the config, the FID network and reference (None for
  evaluators that need neither), and the directory for figures and images (None: write none)."""
  config: ml_collections.ConfigDict
  feature_extractor: Callable[[np.ndarray], np.ndarray] | None
  reference: Reference | None
  directory: str | None = None


class FirstImages:
  """Copies of the first `limit` items of a stream, for a figure; memory bounded by `limit`."""

  def __init__(self, limit: int):
    self.limit = limit
    self._parts = []
    self._count = 0

  def add(self, images: np.ndarray) -> None:
    taken = images[:self.limit - self._count]
    if len(taken):
      self._parts.append(taken.copy())
      self._count += len(taken)

  def get(self) -> np.ndarray | None:
    return np.concatenate(self._parts) if self._parts else None


class ImageFile:
  """The scored images of one part as a uint8 .npy [N, H, W, 3], written as they stream."""

  def __init__(self, path: str | None, count: int, image_size: int):
    self._array = None if path is None else np.lib.format.open_memmap(
        path, mode='w+', dtype=np.uint8, shape=(count, image_size, image_size, 3))
    self._position = 0

  def add(self, images: np.ndarray) -> None:
    if self._array is not None:
      self._array[self._position:self._position + len(images)] = images
      self._position += len(images)

  def close(self) -> None:
    if self._array is not None:
      self._array.flush()
      self._array = None


def score_stream(context: Context, part: str, batches: Iterable[tuple], total: int, first: int,
                 paired: bool = False, figure_items: int = 0) -> tuple[dict, np.ndarray | None]:
  """Scores this host's share of a part (images from `first` of `total`), `batches` of (uint8
  images, originals or None, figure items); returns every process's scores and the figure items."""
  config = context.config.eval
  limit = config.feature_images
  scores = ImageScores(context.feature_extractor, None if limit < 0 else max(0, limit - first), paired)
  save = context.directory and config.save_images
  saved = ImageFile(os.path.join(context.directory, f'{part}.npy') if save else None, total,
                    context.config.model.image_size)
  shown = FirstImages(figure_items)
  with progress_bar(total, f'eval {part}') as progress:
    for images, originals, figure in batches:
      if figure_items:
        shown.add(figure)
      scores.update(images, originals)
      saved.add(images)
      progress.update(len(images))
  saved.close()
  return scores.result(context.reference), shown.get()


def test_images(config: ml_collections.ConfigDict) -> int:
  """How many images of config.eval.split are reconstructed (and encoded for the latent part)."""
  split_size = data.num_images(config.data, config.eval.split)
  wanted = config.eval.num_reconstructions
  return split_size if wanted < 0 else min(wanted, split_size)


def common_settings(config: ml_collections.ConfigDict, num_images: int, what: str) -> dict:
  """The settings every image part shares; refuses fewer than MIN_IMAGES images (`what` names them)."""
  if num_images < MIN_IMAGES:
    raise EvaluationError(f'the scores need at least {MIN_IMAGES} images per part: {what}')
  limit = config.eval.feature_images
  return {'feature_images': num_images if limit < 0 else min(limit, num_images),
          'save_images': bool(config.eval.save_images)}


def batch_stats_protocol(config: ml_collections.ConfigDict) -> str:
  batches = config.eval.recompute_batch_stats
  if batches <= 0:
    return 'running averages of training'
  return (f'recomputed with the final weights over {batches} batches of {config.train.batch_size} '
          f'{config.eval.batch_stats_split} images')
