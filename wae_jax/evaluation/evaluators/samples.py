"""Random samples: config.eval.num_samples images decoded from codes of config.eval.sampler
('prior' or 'gmm'), batch i with seed `batch_seed(config.seed, i)`; figure samples.png."""

import os
from collections.abc import Iterator

import ml_collections
import numpy as np

from wae_jax import figures, samplers
from wae_jax.distributed import runtime
from wae_jax.evaluation import streaming


def batch_seed(seed: int, index: int) -> int:
  """The prior-sampling seed of batch `index`: distinct per batch, reproducible from `seed`."""
  return int(np.random.SeedSequence([seed, index]).generate_state(1)[0])


def sampler_protocol(config: ml_collections.ConfigDict) -> str:
  return samplers.get(config.eval.sampler).describe(config)


def sample_batches(model, config: ml_collections.ConfigDict, n: int) -> tuple[int, Iterator[np.ndarray]]:
  """(index of this host's first sample, its uint8 batches of the n samples)."""
  size = config.eval.batch_size
  mine = runtime.share(-(-n // size))  # this host's batches

  def batches():
    for index in mine:
      start = index * size
      yield figures.to_uint8(model.sample(min(size, n - start), seed=batch_seed(config.seed, index),
                                          sampler=config.eval.sampler, config=config))
  return mine.start * size, batches()


class Samples:
  """Every score of config.eval.num_samples (block: num_images) random samples."""
  needs_model = needs_reference = True

  def __init__(self, name: str, config: ml_collections.ConfigDict, block: ml_collections.ConfigDict):
    self.name, self.config = name, config
    self.num_images = block.get('num_images', config.eval.num_samples)

  def settings(self) -> dict:
    return {'num_images': self.num_images, 'seed': self.config.seed,
            'batch_stats': streaming.batch_stats_protocol(self.config),
            'sampler': sampler_protocol(self.config),
            **streaming.common_settings(self.config, self.num_images,
                                        f'config.eval.num_samples = {self.num_images}')}

  def evaluate(self, model, context: streaming.Context) -> dict:
    first, batches = sample_batches(model, self.config, self.num_images)
    result, shown = streaming.score_stream(
        context, self.name, ((images, None, images) for images in batches), self.num_images, first,
        figure_items=figures.GRID_IMAGES if context.directory else 0)
    if context.directory:
      figures.save_grid(os.path.join(context.directory, f'{self.name}.png'), shown, figures.GRID_COLS)
    return result
