"""A checkpoint that cannot be written stops the run at that save, in one line, naming the
intact checkpoint before it; the workdir then resumes from it."""

import asyncio
import os
import re
import shlex
import shutil
import subprocess
import sys
import textwrap
import threading

import orbax.checkpoint as ocp
import pytest

import wae_jax
from wae_jax import hooks, train, writer_errors
from wae_jax.checkpoint import CheckpointWriteError

from test_preemption import config_file
from test_train import REPO, tiny_config

FIELDS = {'train.num_steps': 12, 'train.checkpoint_every': 2, 'train.image_every': 0}
# A tmpfs holds two of the tiny model's checkpoints (12 MB each), not three.
TMPFS_MB = 30


def tmpfs_command(mount_point, command):
  """`command` (a shell line) run with a TMPFS_MB tmpfs at `mount_point`, in a mount namespace
  of its own (as root, or in a user namespace), or None where this machine allows neither."""
  mount = f'mount -t tmpfs -o size={TMPFS_MB}m tmpfs {mount_point}'
  for unshare in (['unshare', '-m'], ['unshare', '-rm']):
    probe = subprocess.run([*unshare, 'sh', '-c', mount], capture_output=True)
    if probe.returncode == 0:
      return [*unshare, 'sh', '-c', f'{mount} && {command}']
  return None


def test_a_full_disk_stops_at_that_save_in_one_line_and_the_run_resumes(image_folder, tmp_path):
  mount_point, saved = tmp_path / 'small_disk', tmp_path / 'saved'
  mount_point.mkdir()
  config = config_file(tmp_path, image_folder, **FIELDS)
  workdir = mount_point / 'run'
  command = tmpfs_command(mount_point, f'{sys.executable} launch.py --config={config} '
                                       f'--workdir={workdir}; status=$?; cp -r {workdir} {saved}; exit $status')
  if command is None or not shutil.which('unshare'):
    pytest.skip('needs a tmpfs mount (root or user namespaces)')
  result = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=300)
  assert result.returncode == 1, result.stderr[-3000:]
  errors = [line for line in result.stderr.splitlines() if 'error' in line.lower()]
  assert len(errors) == 1 and 'Traceback' not in result.stderr, result.stderr[-3000:]
  assert re.fullmatch(rf'error: checkpoint of step 6 not written: no space left on device in '
                      rf'{workdir}/checkpoints \(needs ~[\d.]+ MB, [\d.]+ MB free\); the checkpoint '
                      r'of step 4 is intact', errors[0]), errors[0]
  steps = sorted(int(name) for name in os.listdir(saved / 'checkpoints') if name.isdigit())
  assert steps == [2, 4]
  assert wae_jax.load(str(saved)).step == 4  # intact: it loads (resuming is tested in test_train.py)


# launch.py's command line with the free-space check passing: the disk fills during the write.
FILLS_MID_WRITE = textwrap.dedent('''
    import shutil, sys
    measured = shutil.disk_usage
    shutil.disk_usage = lambda path: measured(path)._replace(free=2**40)
    from wae_jax import cli
    sys.argv[0] = 'launch.py'
    cli.run()
    ''')


def test_a_disk_filling_during_the_write_stops_the_run_in_one_line(image_folder, tmp_path):
  """Orbax's writer threads fail (and their loops with them): none of their tracebacks is printed."""
  mount_point, saved = tmp_path / 'small_disk', tmp_path / 'saved'
  mount_point.mkdir()
  config = config_file(tmp_path, image_folder, **FIELDS)
  workdir = mount_point / 'run'
  launch = shlex.join([sys.executable, '-c', FILLS_MID_WRITE, f'--config={config}', f'--workdir={workdir}'])
  command = tmpfs_command(mount_point, f'{launch}; status=$?; cp -r {workdir} {saved}; exit $status')
  if command is None or not shutil.which('unshare'):
    pytest.skip('needs a tmpfs mount (root or user namespaces)')
  result = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=300)
  printed = result.stdout + result.stderr
  assert result.returncode == 1, printed[-3000:]
  # Besides the progress bar's redraws (text mode reads its carriage returns as new lines): one line.
  lines = [line for line in printed.splitlines() if line.strip() and not line.startswith('train:')]
  assert len(lines) == 1 and 'Traceback' not in printed, printed[-3000:]
  assert re.fullmatch(rf'error: checkpoint of step 6 not written: no space left on device in '
                      rf'{workdir}/checkpoints; the checkpoint of step 4 is intact', lines[0]), lines[0]
  assert wae_jax.load(str(saved)).step == 4


def closed_loop_error():
  """The error a TensorStore callback meets once Orbax has closed the write's event loop."""
  loop = asyncio.new_event_loop()
  loop.close()
  loop.call_soon_threadsafe(print)


class UnraisableError:
  def __del__(self):
    closed_loop_error()


@pytest.mark.parametrize('reported', [True, False])
def test_writer_errors_are_held_during_a_save_and_the_hooks_restored(monkeypatch, reported):
  """Held: thread and unraisable errors from asyncio or Orbax; the first is replayed if the
  failure was not reported. Other threads' errors pass at once."""
  seen = []
  monkeypatch.setattr(threading, 'excepthook', lambda args: seen.append(('thread', args.exc_value)))
  monkeypatch.setattr(sys, 'unraisablehook', lambda args: seen.append(('unraisable', args.exc_value)))
  hooks_before = threading.excepthook, sys.unraisablehook
  held = writer_errors.WriterErrorsHeld()
  held.start()
  for target in (closed_loop_error, UnraisableError, closed_loop_error):
    thread = threading.Thread(target=target)
    thread.start()
    thread.join()
  other = threading.Thread(target=lambda: 1 / 0)
  other.start()
  other.join()
  assert [kind for kind, _ in seen] == ['thread'] and isinstance(seen[0][1], ZeroDivisionError)
  held.reported = reported
  held.stop()
  assert (threading.excepthook, sys.unraisablehook) == hooks_before
  assert len(seen) == (1 if reported else 2)
  if not reported:
    assert seen[1][0] == 'thread' and 'Event loop is closed' in str(seen[1][1])


def test_a_save_failing_in_the_background_stops_the_run_at_that_step(image_folder, tmp_path,
                                                                      monkeypatch):
  """The write fails after the space check (another program filled the disk): Orbax's error,
  raised in its background thread, stops the run at the step of that save."""
  save, failed = ocp.CheckpointManager.save, {}

  def save_then_fail(manager, step, *args, **kwargs):
    saved = save(manager, step, *args, **kwargs)
    if step == 4:
      failed[manager] = ValueError('RESOURCE_EXHAUSTED: Error writing "params" in OCDBT database: '
                                   'No space left on device [OS error 28]\n(and 1,000 more lines)')
    return saved

  def check_for_errors(manager):
    if manager in failed:
      raise failed.pop(manager)

  monkeypatch.setattr(ocp.CheckpointManager, 'save', save_then_fail)
  monkeypatch.setattr(ocp.CheckpointManager, 'check_for_errors', check_for_errors)
  config = tiny_config(image_folder, num_steps=8)
  config.train.image_every = 0
  workdir = str(tmp_path / 'run')
  steps = []
  monkeypatch.setattr(hooks.MetricLog, '__call__', lambda self, step, *_: steps.append(step))
  with pytest.raises(CheckpointWriteError) as error:
    train.train_and_evaluate(config, workdir)
  assert re.fullmatch(r'checkpoint of step 4 not written: no space left on device in \S+; the '
                      r'checkpoint of step 2 is intact', str(error.value)), str(error.value)
  assert steps == [1, 2, 3, 4]  # no step after the failed save
