"""Hooks that use the model of the live train state: image grids and periodic evaluations."""

import os
from typing import Any, Protocol

import ml_collections
import numpy as np

from wae_jax import figures
from wae_jax.api import Model
from wae_jax.distributed.runtime import host_local
from wae_jax.hooks.hook import Every, Hook, Outcome, ScalarWriter

GRID_SOURCE_IMAGES = 32  # of the run's first batch, shown in every grid


class LiveModel:
  """`at(ae_state)`: the model of a step's state on this host; its networks compile once."""

  def __init__(self, config: ml_collections.ConfigDict, ae_state: Any, autoencoder: Any):
    # Evaluation mode ignores the step's device axis: the step's networks serve the model too.
    self._model = Model.from_state(config, host_local(ae_state), autoencoder)

  def at(self, ae_state: Any) -> Model:
    return self._model.with_state(host_local(ae_state))


class ImageGrids(Hook):
  """Samples, reconstructions and interpolations in <workdir>/images/ (chief process only)."""

  def __init__(self, every: Every, model: LiveModel, workdir: str, interpolation_steps: int,
               is_chief: bool):
    self.every, self.model, self.is_chief = every, model, is_chief
    self.directory, self.interpolation_steps = os.path.join(workdir, 'images'), interpolation_steps
    self.images: np.ndarray | None = None

  def __call__(self, step: int, outcome: Outcome) -> None:
    if self.images is None:
      self.images = outcome.images[:GRID_SOURCE_IMAGES]
    if not (self.is_chief and self.every.due(step)):
      return
    model, images, path = self.model.at(outcome.ae_state), self.images, self.directory
    os.makedirs(path, exist_ok=True)
    figures.save_grid(os.path.join(path, f'samples_{step:08d}.png'),
                      model.sample(figures.GRID_IMAGES, seed=0), figures.GRID_COLS)
    figures.save_pairs(os.path.join(path, f'reconstructions_{step:08d}.png'),
                       images, model.reconstruct(images))
    # Interpolation rows: original a, decodes from a's code to b's, original b (thesis Fig. 4.1).
    a, b = images[0:16:2], images[1:16:2]
    n = min(len(a), len(b))
    if n:
      rows = np.stack([model.interpolate(x, y, self.interpolation_steps) for x, y in zip(a[:n], b[:n])])
      figures.save_interpolations(os.path.join(path, f'interpolations_{step:08d}.png'),
                                  np.concatenate([a[:n, None], rows, b[:n, None]], axis=1))


class PeriodicEvaluator(Protocol):
  """What `PeriodicEvals` reads (e.g. evaluation.PeriodicEvaluator): no evaluation code here."""
  every: int  # > 0

  def evaluate(self, model: Model) -> dict[str, float]:
    """TensorBoard tag -> value."""


class PeriodicEvals(Hook):
  """Each evaluator scores the model at every multiple of its `every` (not at the end unless one
  is due). Every process evaluates (an evaluation may gather over them); the chief writes."""

  def __init__(self, evaluators: list[PeriodicEvaluator], model: LiveModel, writer: ScalarWriter,
               total: int):
    self.model, self.writer = model, writer
    self.schedule = [(evaluator, Every(evaluator.every, total, at_end=False))
                     for evaluator in evaluators]

  def __call__(self, step: int, outcome: Outcome) -> None:
    for evaluator, every in self.schedule:
      if every.due(step):
        self.writer.write(step, evaluator.evaluate(self.model.at(outcome.ae_state)))
