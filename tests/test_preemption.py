"""SIGTERM and Ctrl-C: the run saves the step it is on, says so in one line and resumes exactly."""

import os
import signal
import subprocess
import sys
import textwrap
import time

import jax
import numpy as np
import pytest

from wae_jax import preemption
from wae_jax.checkpoint import checkpoint_dir

from test_train import REPO, restore_states, run_in_subprocess, tiny_config

# Runs launch.py (argv[1:]) with its training batches wrapped so that process $SIGNAL_PROCESS
# sends itself $SIGNAL (a name) while fetching batch $SIGNAL_AT: mid-run, at a known step. With
# $SIGNAL_PRESSES, it sends that many, a second apart, to its process group, as a terminal does.
SIGNALLED_LAUNCH = textwrap.dedent('''
    import os, runpy, signal, sys, time
    from wae_jax import data
    # As started from a terminal: a background job's children inherit SIGINT ignored.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    opened, at = data.train_batches, int(os.environ['SIGNAL_AT'])
    me = os.environ.get('JAX_PROCESS_ID', '0') == os.environ.get('SIGNAL_PROCESS', '0')

    class Signalling:
      def __init__(self, batches):
        self.batches, self.fetched = batches, 0
      def __enter__(self):
        self.batches.__enter__()
        return self
      def __exit__(self, *exc):
        return self.batches.__exit__(*exc)
      def __next__(self):
        self.fetched += 1
        if me and self.fetched == at and 'SIGNAL_PRESSES' in os.environ:
          number = signal.Signals[os.environ['SIGNAL']]
          for press in range(int(os.environ['SIGNAL_PRESSES'])):
            handler, waited = signal.getsignal(number), time.monotonic()
            os.killpg(os.getpgid(0), number)
            # The next press once this one was handled (its handler swapped), as a person sees
            # it; two presses before the process runs Python again are one signal.
            while signal.getsignal(number) is handler and time.monotonic() - waited < 30:
              time.sleep(0.05)
        elif me and self.fetched == at:
          os.kill(os.getpid(), signal.Signals[os.environ['SIGNAL']])
        return next(self.batches)
      def __getattr__(self, name):
        return getattr(self.batches, name)

    data.train_batches = lambda *args, **kwargs: Signalling(opened(*args, **kwargs))
    sys.argv = sys.argv[1:]
    runpy.run_path(sys.argv[0], run_name='__main__')
''')
LAUNCH = os.path.join(REPO, 'launch.py')
FIELDS = {'train.num_steps': 6, 'train.checkpoint_every': 4, 'train.image_every': 0}


def config_file(tmp_path, image_folder, **fields):
  """A config file for launch.py: test_train's tiny config with `fields` (dotted names) set."""
  path = tmp_path / 'tiny_config.py'
  settings = ''.join(f'  config.{name} = {value!r}\n' for name, value in fields.items())
  path.write_text(f'import sys\nsys.path.insert(0, {os.path.dirname(__file__)!r})\n'
                  'from test_train import tiny_config\n\n\ndef get_config():\n'
                  f'  config = tiny_config({image_folder!r})\n{settings}  return config\n')
  return str(path)


def launch_signalled(config, workdir, signal_name=None, at=None, presses=None):
  """launch.py in a process group of its own (its data workers' too), signalled as above."""
  env = dict(os.environ)
  if signal_name:
    env.update(SIGNAL=signal_name, SIGNAL_AT=str(at))
  else:
    env.update(SIGNAL_AT='0')
  if presses:
    env.update(SIGNAL_PRESSES=str(presses))
  return subprocess.run([sys.executable, '-c', SIGNALLED_LAUNCH, LAUNCH, f'--config={config}',
                         f'--workdir={workdir}'], cwd=REPO, env=env, capture_output=True, text=True,
                        timeout=300, start_new_session=True)


def written_steps(workdir):
  return sorted(int(name) for name in os.listdir(checkpoint_dir(workdir)) if name.isdigit())


def test_sigterm_mid_run_saves_that_step_and_the_same_command_resumes_bit_identically(
    image_folder, tmp_path):
  config = config_file(tmp_path, image_folder, **FIELDS)
  workdir = str(tmp_path / 'preempted')
  stopped = launch_signalled(config, workdir, 'SIGTERM', at=3)  # arrives while step 3 is fetched
  assert stopped.returncode == 128 + signal.SIGTERM, stopped.stderr[-3000:]
  assert stopped.stderr.strip().splitlines()[-1] == (
      'stopped at step 3 on SIGTERM; checkpoint saved; rerun the same command to resume')
  assert 'Traceback' not in stopped.stderr
  assert written_steps(workdir) == [3]  # the periodic save would have come at step 4

  resumed = launch_signalled(config, workdir)
  assert resumed.returncode == 0, resumed.stderr[-3000:]
  straight = tiny_config(image_folder, num_steps=6)
  straight.train.checkpoint_every, straight.train.image_every = 4, 0
  run_in_subprocess(straight, str(tmp_path / 'straight'))
  (a, meta_a), (b, meta_b) = restore_states(straight, str(tmp_path / 'straight')), restore_states(straight, workdir)
  assert meta_a['step'] == meta_b['step'] == 6 and meta_a['data'] == meta_b['data']
  jax.tree.map(np.testing.assert_array_equal, a, b)


def test_ctrl_c_saves_and_stops_with_one_line_instead_of_a_traceback(image_folder, tmp_path):
  config = config_file(tmp_path, image_folder, **FIELDS)
  workdir = str(tmp_path / 'interrupted')
  stopped = launch_signalled(config, workdir, 'SIGINT', at=2)
  assert stopped.returncode == 128 + signal.SIGINT, stopped.stderr[-3000:]
  assert stopped.stderr.strip().splitlines()[-1] == (
      'stopped at step 2 on SIGINT; checkpoint saved; rerun the same command to resume')
  assert 'Traceback' not in stopped.stderr and 'KeyboardInterrupt' not in stopped.stderr
  assert written_steps(workdir) == [2]


def test_ctrl_c_to_the_process_group_saves_with_one_line_and_nothing_from_the_data_workers(
    image_folder, tmp_path):
  config = config_file(tmp_path, image_folder, **FIELDS, **{'data.workers': 2})
  workdir = str(tmp_path / 'interrupted')
  stopped = launch_signalled(config, workdir, 'SIGINT', at=3, presses=1)  # both workers have run
  assert stopped.returncode == 128 + signal.SIGINT, stopped.stderr[-3000:]
  assert stopped.stderr.strip().splitlines()[-1] == (
      'stopped at step 3 on SIGINT; checkpoint saved; rerun the same command to resume')
  assert 'Traceback' not in stopped.stderr and 'KeyboardInterrupt' not in stopped.stderr, stopped.stderr
  assert written_steps(workdir) == [3]


def test_a_second_ctrl_c_to_the_process_group_stops_at_once_with_one_line(image_folder, tmp_path):
  config = config_file(tmp_path, image_folder, **FIELDS, **{'data.workers': 2})
  started = time.monotonic()
  stopped = launch_signalled(config, str(tmp_path / 'interrupted'), 'SIGINT', at=3, presses=2)
  assert stopped.returncode == 128 + signal.SIGINT, stopped.stderr[-3000:]
  assert ('SIGINT again: stopped at once; rerun the same command to resume from the last checkpoint '
          'written') in stopped.stderr.splitlines()
  assert 'Traceback' not in stopped.stderr and 'KeyboardInterrupt' not in stopped.stderr, stopped.stderr
  assert time.monotonic() - started < 120  # start-up and 3 steps; no minutes of unwinding


def test_a_second_signal_acts_at_once_and_the_handlers_are_restored():
  """In a process whose SIGINT handler is not Python's KeyboardInterrupt (pytest's is, so the
  default's hard exit is checked in a subprocess above), the second signal goes to that handler."""
  class Again(Exception):
    pass

  def again(*_):
    raise Again()

  previous = signal.signal(signal.SIGINT, again)
  sigterm = signal.getsignal(signal.SIGTERM)
  try:
    with preemption.StopSignals() as signals:
      assert signals.stop_signal(1) is None
      os.kill(os.getpid(), signal.SIGINT)
      assert signals.stop_signal(2) == 'SIGINT'
      with pytest.raises(Again):
        os.kill(os.getpid(), signal.SIGINT)
    assert signal.getsignal(signal.SIGINT) is again
    assert signal.getsignal(signal.SIGTERM) == sigterm
  finally:
    signal.signal(signal.SIGINT, previous)


def test_stopped_exits_as_if_killed_by_its_signal():
  assert preemption.Stopped(7, 'SIGTERM').exit_status == 143
  assert preemption.Stopped(7, 'SIGINT').exit_status == 130
