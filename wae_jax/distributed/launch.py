"""N local processes of one run: the training entry point (`python -m wae_jax`) in each.

    python -m wae_jax.distributed.launch --num_processes=2 -- --config=configs/demo.py --workdir=workdirs/demo2

Two processes on localhost, each with its own CPU devices, stand for two hosts; on a cluster
the same command runs on every host instead (`runtime.initialize`)."""

import argparse
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Sequence

from wae_jax import huge_pages, preemption
from wae_jax.distributed.runtime import COORDINATOR, HEARTBEAT_TIMEOUT, NUM_PROCESSES, PROCESS_ID

DEVICE_COUNT_FLAG = '--xla_force_host_platform_device_count'
ENTRY_POINT = ('-m', 'wae_jax')  # launch.py's flags, from the installed package


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
  """Starts `command` in `num_processes` local processes of one run; process k writes to
  `outputs[k]` (default: a text pipe); `popen` goes to subprocess.Popen (e.g. cwd=...)."""
  port = free_port()
  base = dict(os.environ if env is None else env)
  # Own sessions: a terminal's Ctrl-C reaches the launcher only, which passes it on once.
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


def main(argv: Sequence[str] | None = None, prog: str = 'python -m wae_jax.distributed.launch') -> int:
  parser = argparse.ArgumentParser(
      prog=prog, description=__doc__.split('\n\n')[0],
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
  # The huge-page tunable launch.py restarts itself with, given at the start instead.
  env = huge_pages.environment_with_huge_pages(dict(os.environ), huge_pages.glibc_version(),
                                               huge_pages.thp_mode())
  processes = start([sys.executable, *ENTRY_POINT, *arguments], args.num_processes,
                    args.devices_per_process, env=env, heartbeat_timeout=args.heartbeat_timeout)
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
