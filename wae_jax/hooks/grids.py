"""Image grids in <workdir>/images/: samples, reconstructions and interpolations of the first
training images, every `train.image_every` steps (chief process only)."""

import os

import numpy as np

from wae_jax import figures
from wae_jax.api import Model
from wae_jax.hooks.hook import Every, Hook, Outcome
from wae_jax.hooks.model import LiveModel

GRID_SOURCE_IMAGES = 32  # of the first batch, shown in every grid


class ImageGrids(Hook):

  def __init__(self, every: Every, model: LiveModel, workdir: str, interpolation_steps: int,
               is_chief: bool):
    self.every, self.model, self.is_chief = every, model, is_chief
    self.directory = os.path.join(workdir, 'images')
    self.interpolation_steps = interpolation_steps
    self.images: np.ndarray | None = None  # the first training images of this run

  def __call__(self, step: int, outcome: Outcome) -> None:
    if self.images is None:
      self.images = outcome.images[:min(len(outcome.images), GRID_SOURCE_IMAGES)]
    if self.is_chief and self.every.due(step):
      write_grids(self.model.at(outcome.ae_state), self.images, self.directory, step,
                  self.interpolation_steps)


def write_grids(model: Model, images: np.ndarray, directory: str, step: int,
                interpolation_steps: int) -> None:
  os.makedirs(directory, exist_ok=True)
  figures.save_grid(os.path.join(directory, f'samples_{step:08d}.png'),
                    model.sample(figures.GRID_IMAGES, seed=0), figures.GRID_COLS)
  figures.save_pairs(os.path.join(directory, f'reconstructions_{step:08d}.png'),
                     images, model.reconstruct(images))
  # Interpolation rows: original a, decodes from a's code to b's, original b (thesis Fig. 4.1).
  a, b = images[0:16:2], images[1:16:2]
  n = min(len(a), len(b))
  if n:
    rows = np.stack([model.interpolate(x, y, interpolation_steps) for x, y in zip(a[:n], b[:n])])
    figures.save_interpolations(os.path.join(directory, f'interpolations_{step:08d}.png'),
                                np.concatenate([a[:n, None], rows, b[:n, None]], axis=1))
