"""JAX's multi-controller runtime as a run uses it: join, share, gather, finish, name the lost
process (`failures_named`: one line instead of a hang in a collective)."""

import contextlib
import os
import sys
import threading
from collections.abc import Iterator

import jax
import numpy as np
from jax.experimental import multihost_utils

from wae_jax.errors import UserError

COORDINATOR = 'JAX_COORDINATOR_ADDRESS'
NUM_PROCESSES = 'JAX_NUM_PROCESSES'
PROCESS_ID = 'JAX_PROCESS_ID'
HEARTBEAT_TIMEOUT = 'JAX_HEARTBEAT_TIMEOUT'  # seconds without heartbeats before a process is lost
DEFAULT_HEARTBEAT_TIMEOUT = 100  # JAX's default


class LostProcessError(UserError):
  """Another process of the run died; this one stops instead of waiting in a collective."""


def requested() -> bool:
  """Whether the environment asks for a multi-process run (set by the launcher or by hand)."""
  return int(os.environ.get(NUM_PROCESSES, '1')) > 1


def initialize_if_asked(distributed: bool) -> None:
  """Joins the runtime where the environment (`requested`) or config.train.distributed asks."""
  if distributed or requested():
    initialize()


def heartbeat_timeout() -> int:
  return int(os.environ.get(HEARTBEAT_TIMEOUT, DEFAULT_HEARTBEAT_TIMEOUT))


def initialize() -> None:
  """Joins the runtime once: the cluster from JAX_COORDINATOR_ADDRESS, JAX_NUM_PROCESSES and
  JAX_PROCESS_ID where set, else JAX's detection (SLURM, MPI, ...); CPU collectives via gloo."""
  if jax.distributed.is_initialized():
    return
  jax.config.update('jax_cpu_collectives_implementation', 'gloo')  # read by the CPU client only
  # Survivors then name a lost process (`lost_processes`); the runtime does not abort them.
  jax.config.update('jax_enable_recoverability', True)
  arguments = {}
  if requested():
    arguments = {'coordinator_address': os.environ[COORDINATOR],
                 'num_processes': int(os.environ[NUM_PROCESSES]),
                 'process_id': int(os.environ[PROCESS_ID])}
  heartbeat = heartbeat_timeout()
  jax.distributed.initialize(**arguments, heartbeat_timeout_seconds=heartbeat,
                             shutdown_timeout_seconds=max(heartbeat, 30))


def barrier(name: str) -> None:
  """All processes reach this point before any goes on (nothing where there is one)."""
  if jax.process_count() > 1:
    multihost_utils.sync_global_devices(name)


def finish() -> None:
  """Leaves the runtime once every process got here; process 0 (the coordinator) last."""
  if not jax.distributed.is_initialized():
    return
  barrier('finished')
  if jax.process_index() == 0 and jax.process_count() > 1:
    with multihost_utils.live_devices(jax.devices()):  # returns once the others have disconnected
      pass
  jax.distributed.shutdown()


def host_local(tree):
  """Replicated arrays of a multi-process mesh -> copies on this process's first device."""
  if jax.process_count() == 1:
    return tree
  return jax.tree.map(lambda x: x.addressable_data(0), tree)


def share(total: int, index: int | None = None, count: int | None = None, unit: int = 1) -> range:
  """This process's contiguous share of `total` items, split in whole `unit`s (e.g. pairs):
  the shares of processes 0 .. count - 1, one after the other, are range(total)."""
  index = jax.process_index() if index is None else index
  count = jax.process_count() if count is None else count
  units = total // unit
  start, stop = units * index // count, units * (index + 1) // count
  stop_item = total if index == count - 1 else stop * unit
  return range(start * unit, stop_item)


def gather_rows(array: np.ndarray) -> np.ndarray:
  """Every process's rows of `array` ([n_k, ...]) in process order, the same on every process."""
  array = np.asarray(array)
  if jax.process_count() == 1:
    return array
  # 64-bit values travel as pairs of uint32 (JAX without x64 would round them to 32 bits).
  rows = np.ascontiguousarray(array).reshape(len(array), -1).view(np.uint32)
  counts = np.asarray(multihost_utils.process_allgather(np.int32(len(rows)))).reshape(-1)
  padded = np.zeros((int(counts.max()), rows.shape[1]), np.uint32)
  padded[:len(rows)] = rows
  every = np.asarray(multihost_utils.process_allgather(padded))  # [processes, max, ...]
  gathered = np.concatenate([every[k, :n] for k, n in enumerate(counts)])
  return gathered.view(array.dtype).reshape((-1,) + array.shape[1:])


def lost_processes(timeout: float) -> list[int] | None:
  """The processes the coordination service no longer hears from (after their heartbeat
  timeout), by `multihost_utils.live_devices`; None where it cannot tell within `timeout` s."""
  everyone = set(range(jax.process_count()))
  found: list = []

  def ask():
    try:
      with multihost_utils.live_devices(jax.devices()) as alive:
        found.append(sorted(everyone - {device.process_index for device in alive}))
    except multihost_utils.ProcessFailureError as failure:
      found.append(sorted({device.process_index for device in failure.failed_devices}))
    except jax.errors.JaxRuntimeError:  # the coordination service (process 0) is gone
      found.append([0])

  thread = threading.Thread(target=ask, daemon=True)
  thread.start()
  thread.join(timeout)
  if not found:
    print(f'distributed: the coordination service did not name the lost process within {timeout:g} s',
          file=sys.stderr)
  return found[0] if found else None


@contextlib.contextmanager
def failures_named() -> Iterator[None]:
  """In a multi-process run, turns a runtime error (jax.errors.JaxRuntimeError) of a collective
  with a lost process into LostProcessError naming it; other errors pass unchanged."""
  try:
    yield
  except jax.errors.JaxRuntimeError as error:
    if jax.process_count() == 1:
      raise
    lost = lost_processes(timeout=heartbeat_timeout() + 30)
    if lost == []:  # everyone is alive: not a lost process
      raise
    me = f'process {jax.process_index()} of {jax.process_count()}'
    first_line = str(error).strip().splitlines()[0][:300]
    restart = 'restart all processes with the same command: the run resumes from its last checkpoint'
    if lost:
      names = ', '.join(f'process {k}' + (' (the coordinator)' if k == 0 else '') for k in lost)
      raise LostProcessError(f'{me} stopped: lost {names}; a collective with it failed '
                             f'({first_line}). Look at its log, then {restart}') from None
    raise LostProcessError(f'{me} stopped: a collective with another process failed '
                           f'({first_line}). {restart[0].upper()}{restart[1:]}') from None
