"""The step metrics: kept on the devices until a log step, then checked for NaN or Inf, averaged,
shown on the progress bar and written to TensorBoard."""

from typing import Any, Callable

import jax
import numpy as np

from wae_jax.checkpoint import Checkpointer
from wae_jax.errors import UserError
from wae_jax.hooks.hook import Every, Hook, Outcome, ScalarWriter


class NonFiniteLossError(UserError):
  """A loss became NaN or Inf; the run stopped without saving the broken state."""


def first_non_finite(history: list[tuple[int, dict]]) -> tuple[int, str] | None:
  """(step, metric name) of the first NaN/Inf metric in [(step, host metrics)], or None."""
  for step, metrics in history:
    for name, value in metrics.items():
      if not np.isfinite(value):
        return step, name
  return None


class MetricLog(Hook):
  """Logs the mean of each metric over the steps since the last log, every `every` step.

  `check_finite` raises NonFiniteLossError for a NaN or Inf among the metrics not logged yet;
  the checkpoint hook calls it before each save.
  """

  def __init__(self, every: Every, writer: ScalarWriter, show: Callable[[dict[str, str]], None],
               checkpointer: Checkpointer, workdir: str):
    self.every, self.writer, self.show = every, writer, show
    self.checkpointer, self.workdir = checkpointer, workdir
    self._pending: list[tuple[int, Any]] = []  # (step, metrics) not logged yet

  def __call__(self, step: int, outcome: Outcome) -> None:
    self._pending.append((step, outcome.metrics))
    if not self.every.due(step):
      return
    self.check_finite()
    host, self._pending = self._pending, []
    means = {name: float(np.mean([metrics[name] for _, metrics in host])) for name in host[-1][1]}
    self.show({name: f'{value:.4g}' for name, value in means.items()})
    self.writer.write(step, {f'train/{name}': value for name, value in means.items()})

  def check_finite(self) -> None:
    self._pending = [(step, {name: float(value) for name, value in jax.device_get(metrics).items()})
                     for step, metrics in self._pending]
    bad = first_non_finite(self._pending)
    if bad is not None:
      raise NonFiniteLossError(
          f'{bad[1]} became non-finite at step {bad[0]}; stopped without saving. The last good '
          f'checkpoint (step {self.checkpointer.latest_step()}) in {self.workdir} is intact: '
          'lower the learning rate or penalty weight and resume')
