"""Interpolations between the codes of consecutive test images; the ends are reconstructions, so
only the steps - 2 images between them are scored (the thesis's Table 4.3)."""

import os

import ml_collections
import numpy as np

from wae_jax import data, figures
from wae_jax.evaluation import reference, streaming
from wae_jax.evaluation.reference import EvaluationError

FIGURE_ROWS = 8


def interpolation_codes(z: np.ndarray, steps: int) -> np.ndarray:
  """Codes [2P, d] of pairs (0, 1), (2, 3), ... -> [P, steps, d] evenly spaced from each first
  code to its second (t = 0 ... 1), like `Model.interpolate` for every pair at once."""
  t = np.linspace(0.0, 1.0, steps, dtype=np.float32)[None, :, None]
  return (1.0 - t) * z[0::2, None] + t * z[1::2, None]


class Interpolations:
  """Every unpaired score of the images between the ends of config.eval.num_interpolations pairs."""
  needs_model = needs_reference = True

  def __init__(self, name: str, config: ml_collections.ConfigDict, block: ml_collections.ConfigDict):
    self.name, self.config = name, config
    self.steps = block.get('steps', config.eval.interpolation_steps)
    wanted = block.get('pairs', config.eval.num_interpolations)
    self.pairs = min(wanted, data.num_images(config.data, config.eval.split) // 2)

  def settings(self) -> dict:
    if self.steps < 3:
      raise EvaluationError(f'config.eval.interpolation_steps = {self.steps}: need >= 3 (the two '
                            'ends are reconstructions; the images between them are scored)')
    return {'pairs': self.pairs, 'steps': self.steps,
            'batch_stats': streaming.batch_stats_protocol(self.config),
            **streaming.common_settings(self.config, self.pairs * (self.steps - 2),
                                        f'{self.pairs} interpolation pairs')}

  def evaluate(self, model, context: streaming.Context) -> dict:
    """A data batch holds as many pairs as make about one evaluation batch of decoded images."""
    steps, between_ends = self.steps, self.steps - 2
    pairs_per_batch = max(1, self.config.eval.batch_size // steps)
    mine, batches = reference.host_split_batches(self.config, self.config.eval.split,
                                                 2 * pairs_per_batch, 2 * self.pairs, unit=2)

    def scored():
      for batch in batches:
        originals = figures.to_uint8(batch[:len(batch) - len(batch) % 2])
        codes = interpolation_codes(model.encode(batch[:len(originals)]), steps)
        decoded = model.decode(codes.reshape(-1, codes.shape[-1]))
        rows = figures.to_uint8(decoded).reshape(codes.shape[:2] + originals.shape[1:])
        between = rows[:, 1:-1].reshape((-1,) + originals.shape[1:])
        yield between, None, np.concatenate([originals[0::2, None], rows, originals[1::2, None]], axis=1)
    result, shown = streaming.score_stream(
        context, self.name, scored(), self.pairs * between_ends, mine.start // 2 * between_ends,
        figure_items=FIGURE_ROWS if context.directory else 0)
    if context.directory:
      figures.save_interpolations(os.path.join(context.directory, f'{self.name}.png'), shown)
    return result
