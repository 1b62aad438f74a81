"""Reconstructions of the first config.eval.num_reconstructions images of config.eval.split, also
scored against their originals (MSE, PSNR); figure reconstructions.png (originals above them)."""

import os

import ml_collections
import numpy as np

from wae_jax import figures
from wae_jax.evaluation import reference, streaming

FIGURE_PAIRS = 32


class Reconstructions:
  """Every score, paired ones included, of the reconstructed test images."""
  needs_model = needs_reference = True

  def __init__(self, name: str, config: ml_collections.ConfigDict, block: ml_collections.ConfigDict):
    del block  # the split and count are config.eval's: the reference is made of those images
    self.name, self.config = name, config
    self.num_images = streaming.test_images(config)

  def settings(self) -> dict:
    return {'num_images': self.num_images, 'batch_stats': streaming.batch_stats_protocol(self.config),
            **streaming.common_settings(self.config, self.num_images,
                                        f'{self.num_images} test images')}

  def evaluate(self, model, context: streaming.Context) -> dict:
    config = self.config
    mine, batches = reference.host_split_batches(config, config.eval.split, config.eval.batch_size,
                                                 self.num_images)

    def scored():
      for batch in batches:
        originals, reconstructions = figures.to_uint8(batch), figures.to_uint8(model.reconstruct(batch))
        yield reconstructions, originals, np.stack([originals, reconstructions], axis=1)
    result, shown = streaming.score_stream(context, self.name, scored(), self.num_images, mine.start,
                                           paired=True, figure_items=FIGURE_PAIRS if context.directory else 0)
    if context.directory:
      figures.save_pairs(os.path.join(context.directory, f'{self.name}.png'), shown[:, 0], shown[:, 1],
                         figures.GRID_COLS)
    return result
