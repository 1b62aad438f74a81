"""Real images scored like a model's: as many of config.eval.real_split (default train, not the
reference's) as are reconstructed, in file order; the floor a model is judged against."""

import ml_collections

from wae_jax import data, figures
from wae_jax.evaluation import reference, streaming


class Real:
  """Every score of real images that are not in the reference set; needs no model."""
  needs_model, needs_reference = False, True

  def __init__(self, name: str, config: ml_collections.ConfigDict, block: ml_collections.ConfigDict):
    self.name, self.config = name, config
    self.split = block.get('split', config.eval.real_split)
    self.num_images = min(streaming.test_images(config), data.num_images(config.data, self.split))

  def settings(self) -> dict:
    return {'num_images': self.num_images, 'split': self.split,
            **streaming.common_settings(self.config, self.num_images,
                                        f'{self.num_images} {self.split} images')}

  def evaluate(self, model, context: streaming.Context) -> dict:
    del model  # real images need none
    mine, batches = reference.host_split_batches(self.config, self.split, self.config.eval.batch_size,
                                                 self.num_images)
    images = ((figures.to_uint8(batch), None, None) for batch in batches)
    return streaming.score_stream(context, self.name, images, self.num_images, mine.start)[0]
