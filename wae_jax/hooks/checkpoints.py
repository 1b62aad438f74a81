"""Saves of the loop: every `train.checkpoint_every` steps and after the last, never of a state
whose metrics went NaN; a save that failed in the background stops the run; SIGTERM or Ctrl-C
(`wae_jax.preemption`) saves the step it arrived in and stops."""

import time
from typing import Any, Callable

import jax
import ml_collections

from wae_jax import preemption
from wae_jax.checkpoint import Checkpointer
from wae_jax.hooks.hook import Every, Hook, Outcome, ScalarWriter


class Checkpoints(Hook):
  """Every process takes part in a save; `check_finite` runs before each."""

  def __init__(self, every: Every, checkpointer: Checkpointer, writer: ScalarWriter,
               check_finite: Callable[[], None], batches: Any, step_rng: jax.Array,
               config: ml_collections.ConfigDict, start: int):
    self.every, self.checkpointer, self.writer, self.check_finite = every, checkpointer, writer, check_finite
    self.batches, self.step_rng, self.config = batches, step_rng, config
    self.saved_step = start

  def __call__(self, step: int, outcome: Outcome) -> None:
    if self.every.due(step):
      self.save(step, outcome)
    self.checkpointer.check_for_errors()

  def save(self, step: int, outcome: Outcome) -> None:
    """Saves the state after `step` unless it is saved already."""
    if step == self.saved_step:
      return
    self.check_finite()
    started = time.perf_counter()
    self.checkpointer.save(step, outcome.ae_state, outcome.disc_state, self.step_rng,
                           self.batches.get_state(), self.config)
    # How long the loop waited; the write goes on in the background.
    self.writer.write(step, {'checkpoint/save_blocking_seconds': time.perf_counter() - started})
    self.saved_step = step


class PreemptionStop(Hook):
  """Asks `signals` after every step, in every process (they agree on the step); on a signal
  before the last step: saves that step, waits until it is on disk, raises preemption.Stopped."""

  def __init__(self, signals: preemption.StopSignals, checkpoints: Checkpoints, total: int):
    self.signals, self.checkpoints, self.total = signals, checkpoints, total

  def __call__(self, step: int, outcome: Outcome) -> None:
    signal_name = self.signals.stop_signal(step)
    if signal_name and step < self.total:
      self.checkpoints.save(step, outcome)
      self.checkpoints.checkpointer.wait()
      raise preemption.Stopped(step, signal_name)
