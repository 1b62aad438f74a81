"""Evaluations during training: each periodic evaluator scores the model of the live state at
every multiple of its `every` (not at the end unless one) and its scores go to TensorBoard."""

from typing import Protocol

from wae_jax.api import Model
from wae_jax.hooks.hook import Every, Hook, Outcome, ScalarWriter
from wae_jax.hooks.model import LiveModel


class PeriodicEvaluator(Protocol):
  name: str
  every: int  # > 0

  def evaluate(self, model: Model) -> dict[str, float]:
    """TensorBoard tag -> value."""


class PeriodicEvals(Hook):
  """Every process evaluates (an evaluation may gather over them); the chief writes."""

  def __init__(self, evaluators: list[PeriodicEvaluator], model: LiveModel, writer: ScalarWriter,
               total: int):
    self.model, self.writer = model, writer
    self.schedule = [(evaluator, Every(evaluator.every, total, at_end=False))
                     for evaluator in evaluators]

  def __call__(self, step: int, outcome: Outcome) -> None:
    for evaluator, every in self.schedule:
      if every.due(step):
        self.writer.write(step, evaluator.evaluate(self.model.at(outcome.ae_state)))
