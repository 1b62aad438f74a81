"""The stop on SIGTERM or Ctrl-C (`wae_jax.preemption`): after the step it arrived in, save that
step, wait until it is on disk and raise `preemption.Stopped`."""

from wae_jax import preemption
from wae_jax.hooks.checkpoints import Checkpoints
from wae_jax.hooks.hook import Hook, Outcome


class PreemptionStop(Hook):
  """Asks `signals` after every step, in every process (they agree on the step)."""

  def __init__(self, signals: preemption.StopSignals, checkpoints: Checkpoints, total: int):
    self.signals, self.checkpoints, self.total = signals, checkpoints, total

  def __call__(self, step: int, outcome: Outcome) -> None:
    signal_name = self.signals.stop_signal(step)
    if signal_name and step < self.total:
      self.checkpoints.save(step, outcome)
      self.checkpoints.checkpointer.wait()
      raise preemption.Stopped(step, signal_name)
