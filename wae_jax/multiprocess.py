"""Several processes, one run: JAX's multi-controller runtime, and a launcher for local runs.

    python -m wae_jax.multiprocess --num_processes=2 -- --config=configs/demo.py --workdir=workdirs/demo2

starts `launch.py` with the arguments after `--` in N processes on this machine, each with its own
CPU devices (`--devices_per_process`), a coordinator on 127.0.0.1 at a free port and CPU
collectives through gloo: two processes on localhost stand for two hosts. Their output is
prefixed with `[k]`; the launcher exits with the first non-zero status of a process (and stops
the others if they do not stop by themselves within `--grace_seconds`), else 0. SIGTERM and
Ctrl-C are passed on to every process, which then save a checkpoint of one step and stop.

On a cluster nothing of this launcher is needed: the same command runs on every host and
`initialize()` (called by launch.py whenever the environment names a coordinator, or with
`--config.train.distributed=True`) reads the cluster from the environment: JAX_COORDINATOR_ADDRESS,
JAX_NUM_PROCESSES and JAX_PROCESS_ID where set (this launcher sets them), otherwise JAX's own
detection (SLURM, Cloud TPU, MPI).

A lost process: collectives with it fail at once (gloo) or when its heartbeats stop
(JAX_HEARTBEAT_TIMEOUT seconds, default 100); `failures_named()` turns that into one line naming
the lost process(es) and exit status 1, instead of a hang in a collective.
"""

import argparse
import contextlib
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Sequence

import jax
import numpy as np

from wae_jax import preemption
from wae_jax.errors import UserError

COORDINATOR = 'JAX_COORDINATOR_ADDRESS'
NUM_PROCESSES = 'JAX_NUM_PROCESSES'
PROCESS_ID = 'JAX_PROCESS_ID'
HEARTBEAT_TIMEOUT = 'JAX_HEARTBEAT_TIMEOUT'  # seconds without heartbeats before a process is lost
DEFAULT_HEARTBEAT_TIMEOUT = 100  # JAX's default
DEVICE_COUNT_FLAG = '--xla_force_host_platform_device_count'
LAUNCH_PY = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), 'launch.py')


class LostProcessError(UserError):
  """Another process of the run died; this one stops instead of waiting in a collective."""


def requested() -> bool:
  """Whether the environment asks for a multi-process run (set by this launcher or by hand)."""
  return int(os.environ.get(NUM_PROCESSES, '1')) > 1


def initialize_if_asked(distributed: bool) -> None:
  """Joins the runtime where the environment asks for several processes (`requested`) or the
  config does (`config.train.distributed`: a cluster JAX detects itself)."""
  if distributed or requested():
    initialize()


def initialize() -> None:
  """Joins the multi-controller runtime once (later calls do nothing).

  From JAX_COORDINATOR_ADDRESS / JAX_NUM_PROCESSES / JAX_PROCESS_ID where set, otherwise by
  JAX's cluster detection (SLURM, Cloud TPU, MPI). On CPU, collectives go through gloo.
  """
  if jax.distributed.is_initialized():
    return
  # Only the CPU client reads this (GPUs and TPUs have their own collectives).
  jax.config.update('jax_cpu_collectives_implementation', 'gloo')
  # A lost process is then named by the survivors (`lost_processes`) instead of the runtime
  # aborting them from a background thread.
  jax.config.update('jax_enable_recoverability', True)
  arguments = {}
  if requested():
    arguments = {'coordinator_address': os.environ[COORDINATOR],
                 'num_processes': int(os.environ[NUM_PROCESSES]),
                 'process_id': int(os.environ[PROCESS_ID])}
  heartbeat = int(os.environ.get(HEARTBEAT_TIMEOUT, DEFAULT_HEARTBEAT_TIMEOUT))
  jax.distributed.initialize(**arguments, heartbeat_timeout_seconds=heartbeat,
                             shutdown_timeout_seconds=max(heartbeat, 30))


def barrier(name: str) -> None:
  """All processes reach this point before any goes on (nothing where there is one)."""
  if jax.process_count() > 1:
    from jax.experimental import multihost_utils
    multihost_utils.sync_global_devices(name)


def finish() -> None:
  """Leaves the runtime in order, after every process got here: the others disconnect first,
  process 0 (which hosts the coordination service) last, so no process loses the service while
  it still talks to it."""
  if not jax.distributed.is_initialized():
    return
  barrier('finished')
  if jax.process_index() == 0 and jax.process_count() > 1:
    from jax.experimental import multihost_utils
    with multihost_utils.live_devices(jax.devices()):  # returns once the others have disconnected
      pass
  jax.distributed.shutdown()


def host_local(tree):
  """Fully replicated arrays of a multi-process mesh -> copies on this process's first device,
  so host-side code (jit calls, numpy) needs no other process."""
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
  """The rows of every process's `array` ([n_k, ...], n_k may differ), concatenated in process
  order; the same on every process."""
  array = np.asarray(array)
  if jax.process_count() == 1:
    return array
  from jax.experimental import multihost_utils
  # 64-bit values travel as pairs of uint32 (JAX without x64 would round them to 32 bits).
  rows = np.ascontiguousarray(array).reshape(len(array), -1).view(np.uint32)
  counts = np.asarray(multihost_utils.process_allgather(np.int32(len(rows)))).reshape(-1)
  padded = np.zeros((int(counts.max()), rows.shape[1]), np.uint32)
  padded[:len(rows)] = rows
  every = np.asarray(multihost_utils.process_allgather(padded))  # [processes, max, ...]
  gathered = np.concatenate([every[k, :n] for k, n in enumerate(counts)])
  return gathered.view(array.dtype).reshape((-1,) + array.shape[1:])


def lost_processes(timeout: float) -> list[int] | None:
  """The processes the coordination service no longer hears from (it waits for their heartbeat
  timeout), or None where it cannot tell within `timeout` seconds, is itself gone, or this JAX
  no longer offers the (private) call that asks it."""
  # Only after a failure: no public API names the lost processes without a barrier with them.
  try:
    from jax._src import distributed
    client = distributed.global_state.client
  except (ImportError, AttributeError):
    client = distributed = None
  if distributed is None or (client is not None and not hasattr(client, 'get_live_nodes')):
    print(f'multiprocess: JAX {jax.__version__} cannot name the lost process (its private '
          'jax._src.distributed changed); the error says only that a collective failed',
          file=sys.stderr)
    return None
  if client is None:
    return None
  everyone = list(range(jax.process_count()))
  found: list = []

  def ask():
    try:
      found.append(sorted(set(everyone) - set(client.get_live_nodes(everyone))))
    except Exception:  # the coordinator (process 0) is gone  # noqa: BLE001
      found.append([0])

  thread = threading.Thread(target=ask, daemon=True)
  thread.start()
  thread.join(timeout)
  return found[0] if found else None


def _is_runtime_failure(error: BaseException) -> bool:
  text = str(error)
  return any(mark in text for mark in ('Gloo', 'gloo', 'coordination service', 'heartbeat',
                                       'UNAVAILABLE', 'DEADLINE_EXCEEDED', 'Connection reset'))


@contextlib.contextmanager
def failures_named() -> Iterator[None]:
  """In a multi-process run, turns a failed collective into LostProcessError naming the lost
  process(es), after the coordination service has declared them lost (heartbeat timeout)."""
  try:
    yield
  except Exception as error:  # noqa: BLE001
    if jax.process_count() == 1 or not _is_runtime_failure(error):
      raise
    heartbeat = int(os.environ.get(HEARTBEAT_TIMEOUT, DEFAULT_HEARTBEAT_TIMEOUT))
    lost = lost_processes(timeout=heartbeat + 30)
    me = f'process {jax.process_index()} of {jax.process_count()}'
    first_line = str(error).strip().splitlines()[0][:300]
    if lost:
      names = ', '.join(f'process {k}' + (' (the coordinator)' if k == 0 else '') for k in lost)
      raise LostProcessError(f'{me} stopped: lost {names}; a collective with it failed '
                             f'({first_line}). Look at its log, then restart all processes '
                             'with the same command: the run resumes from its last checkpoint') from None
    raise LostProcessError(f'{me} stopped: a collective with another process failed '
                           f'({first_line}). Restart all processes with the same command: the '
                           'run resumes from its last checkpoint') from None


# The launcher.

def free_port() -> int:
  with socket.socket() as probe:
    probe.bind(('127.0.0.1', 0))
    return probe.getsockname()[1]


def child_environment(base: dict, process_id: int, num_processes: int, port: int,
                      devices_per_process: int, heartbeat_timeout: int | None = None) -> dict:
  """The environment of process `process_id`: the coordinator, its rank, its CPU devices."""
  flags = [flag for flag in base.get('XLA_FLAGS', '').split() if not flag.startswith(DEVICE_COUNT_FLAG)]
  env = dict(base, **{COORDINATOR: f'127.0.0.1:{port}', NUM_PROCESSES: str(num_processes),
                      PROCESS_ID: str(process_id),
                      'XLA_FLAGS': ' '.join(flags + [f'{DEVICE_COUNT_FLAG}={devices_per_process}']),
                      'PYTHONUNBUFFERED': '1'})
  env.setdefault('JAX_PLATFORMS', 'cpu')
  if heartbeat_timeout is not None:
    env[HEARTBEAT_TIMEOUT] = str(heartbeat_timeout)
  return env


def start(command: Sequence[str], num_processes: int, devices_per_process: int = 1,
          env: dict | None = None, heartbeat_timeout: int | None = None,
          outputs: Sequence | None = None, **popen) -> list[subprocess.Popen]:
  """Starts `command` in `num_processes` local processes of one run (see `child_environment`).
  `outputs[k]`: where process k writes stdout and stderr (default: a pipe, text); `popen` goes to
  subprocess.Popen (e.g. cwd=...)."""
  port = free_port()
  base = dict(os.environ if env is None else env)
  # Each in a session of its own: a terminal's Ctrl-C reaches the launcher only, which passes
  # it on once (twice would stop them at once instead of after a checkpoint).
  return [subprocess.Popen(list(command), env=child_environment(base, k, num_processes, port,
                                                                devices_per_process, heartbeat_timeout),
                           stdout=subprocess.PIPE if outputs is None else outputs[k],
                           stderr=subprocess.STDOUT, text=True, start_new_session=True, **popen)
          for k in range(num_processes)]


def _forward(stream, prefix: str, out) -> None:
  for line in iter(stream.readline, ''):
    out.write(prefix + line)
    out.flush()


# The exit statuses of a process that stopped on a signal after saving (preemption.Stopped).
STOPPED_ON = {preemption.exit_status(number.name): number.name for number in preemption.STOP_SIGNALS}


def supervise(processes: list[subprocess.Popen], grace_seconds: float,
              say=lambda line: print(line, file=sys.stderr, flush=True)) -> int:
  """Waits for every process; once one fails, gives the others `grace_seconds` to stop by
  themselves, then kills them. Returns the first non-zero status (a signal as 128 + its number)."""
  status, deadline = 0, None
  remaining = dict(enumerate(processes))
  while remaining:
    for k, process in list(remaining.items()):
      code = process.poll()
      if code is None:
        continue
      del remaining[k]
      if code != 0 and status == 0:
        if code in STOPPED_ON:  # preemption.Stopped: it saved a checkpoint
          what = f'stopped on {STOPPED_ON[code]} (exit status {code})'
        else:
          what = f'failed ({f"killed by {signal.Signals(-code).name}" if code < 0 else f"exit status {code}"})'
        say(f'multiprocess: process {k} {what}'
            + (f'; the others get {grace_seconds:g} s to stop' if remaining else ''))
        status = 128 - code if code < 0 else code
        deadline = time.monotonic() + grace_seconds
    if deadline is not None and time.monotonic() > deadline:
      for k, process in remaining.items():
        say(f'multiprocess: killing process {k} (still running {grace_seconds:g} s after the failure)')
        process.kill()
      deadline = None
    time.sleep(0.1)
  return status


def main(argv: Sequence[str] | None = None) -> int:
  parser = argparse.ArgumentParser(
      prog='python -m wae_jax.multiprocess', description=__doc__.split('\n\n')[0],
      usage='%(prog)s [--num_processes=N] [--devices_per_process=D] -- <launch.py arguments>')
  parser.add_argument('--num_processes', type=int, default=2)
  parser.add_argument('--devices_per_process', type=int, default=1,
                      help='CPU devices of each process (XLA host platform devices)')
  parser.add_argument('--heartbeat_timeout', type=int, default=30,
                      help='seconds without heartbeats after which a process counts as lost')
  parser.add_argument('--grace_seconds', type=float, default=120,
                      help='how long the others may take to stop by themselves once one failed')
  parser.add_argument('arguments', nargs=argparse.REMAINDER, help='launch.py arguments, after --')
  args = parser.parse_args(argv)
  arguments = args.arguments[1:] if args.arguments[:1] == ['--'] else args.arguments
  if args.num_processes < 1 or args.devices_per_process < 1:
    parser.error('--num_processes and --devices_per_process must be positive')
  processes = start([sys.executable, LAUNCH_PY, *arguments], args.num_processes,
                    args.devices_per_process, heartbeat_timeout=args.heartbeat_timeout)
  forwarders = [threading.Thread(target=_forward, args=(p.stdout, f'[{k}] ', sys.stdout), daemon=True)
                for k, p in enumerate(processes)]
  for thread in forwarders:
    thread.start()

  def pass_on(number, _frame):  # SIGTERM, Ctrl-C: every process saves and stops
    for process in processes:
      if process.poll() is None:
        process.send_signal(number)

  for number in (signal.SIGTERM, signal.SIGINT):
    signal.signal(number, pass_on)
  status = supervise(processes, args.grace_seconds)
  for thread in forwarders:
    thread.join(timeout=5)
  return status


if __name__ == '__main__':
  sys.exit(main())
