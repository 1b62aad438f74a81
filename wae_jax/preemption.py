"""Stopping a training run cleanly on SIGTERM (a preemption notice) or SIGINT (Ctrl-C): the loop
saves the step `stop_signal(step)` names (in several processes, the same step for all, by JAX's
preemption service) and raises `Stopped`; a second signal acts at once (docs/training.md)."""

import os
import signal
import sys
import threading

import jax
from jax.experimental import multihost_utils

from wae_jax.errors import UserError


STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)


def exit_status(signal_name: str) -> int:
  """The status of a run that stopped on `signal_name`: as if killed by it (143, 130)."""
  return 128 + signal.Signals[signal_name].value


class Stopped(UserError):
  """The run stopped on a signal after saving a checkpoint; the same command resumes it."""

  def __init__(self, step: int, signal_name: str):
    super().__init__(f'stopped at step {step} on {signal_name}; checkpoint saved; rerun the same '
                     'command to resume')
    self.step, self.signal_name = step, signal_name
    self.exit_status = exit_status(signal_name)


def _in_ipython() -> bool:
  ipython = sys.modules.get('IPython')
  return ipython is not None and ipython.get_ipython() is not None


def _exit_now(number: int, _frame) -> None:
  """A second SIGINT: ends the process at once; an unfinished checkpoint write is discarded."""
  name = signal.Signals(number).name
  os.write(2, f'\n{name} again: stopped at once; rerun the same command to resume from the last '
              'checkpoint written\n'.encode())
  os._exit(exit_status(name))


class StopSignals:
  """A context manager: SIGTERM and SIGINT ask the loop to stop instead of killing the process
  (outside the main thread, where Python receives no signals, it changes nothing)."""

  def __init__(self):
    self.received: str | None = None
    self._previous: dict[int, object] = {}
    self._distributed = False

  def __enter__(self) -> 'StopSignals':
    self._distributed = jax.distributed.is_initialized()
    if threading.current_thread() is not threading.main_thread():
      return self
    # In several processes JAX's preemption service owns SIGTERM: a Python handler would hide it.
    handled = (signal.SIGINT,) if self._distributed else STOP_SIGNALS
    for number in handled:
      self._previous[number] = signal.signal(number, self._handle)
    return self

  def __exit__(self, *_) -> None:
    for number, handler in self._previous.items():
      signal.signal(number, handler)
    self._previous.clear()

  def _handle(self, number: int, _frame) -> None:
    self.received = signal.Signals(number).name
    previous = self._previous[number]
    signal.signal(number, _exit_now if previous is signal.default_int_handler and not _in_ipython()
                  else previous)  # the next one acts at once
    if self._distributed:
      os.kill(os.getpid(), signal.SIGTERM)  # to JAX's preemption service, which tells the others

  def stop_signal(self, step: int) -> str | None:
    """The signal to stop on after `step` (the same step in every process), or None to go on.
    In several processes it must be called after every step, by every process."""
    if self._distributed:
      if multihost_utils.reached_preemption_sync_point(step):
        return self.received or signal.SIGTERM.name  # another process may have received it
      return None
    return self.received
