"""Two processes on localhost stand for two hosts (JAX's multi-controller runtime, gloo on CPU).

Every test starts its processes with `run_processes` (the launcher's `launch.start`), each
process with one CPU device, and compares with this pytest process, which has two devices.
"""

import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time

import jax
import numpy as np
import pytest

import wae_jax
from wae_jax import evaluation, train
from wae_jax.checkpoint import checkpoint_dir
from wae_jax.distributed import launch

from test_preemption import SIGNALLED_LAUNCH, config_file
from test_step import assert_trees_close
from test_train import read_scalars, restore_states, tiny_config

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TESTS = os.path.join(REPO, 'tests')
LAUNCH = os.path.join(REPO, 'launch.py')
# Runs launch.py (argv[1:]) after an audit hook that lists, per process, every file it opens
# for writing, in $AUDIT_DIR/writes_<process>.txt.
AUDITED_LAUNCH = textwrap.dedent('''
    import os, runpy, sys
    log = os.path.join(os.environ['AUDIT_DIR'], 'writes_%s.txt' % os.environ['JAX_PROCESS_ID'])
    def hook(event, args):
      if event == 'open' and isinstance(args[0], str) and args[0] != log and set(str(args[1])) & set('wax+'):
        with open(log, 'a') as file:
          file.write(os.path.abspath(args[0]) + '\\n')
    sys.addaudithook(hook)
    sys.argv = sys.argv[1:]
    runpy.run_path(sys.argv[0], run_name='__main__')
''')


def run_processes(command, tmp_path, num_processes=2, timeout=300, env=None, until=None):
  """Runs `command` in `num_processes` processes of one run (cwd: the repository, which is on
  their PYTHONPATH) and returns [(status, output)] in process order. With `until(outputs)`,
  SIGKILLs process 1 once it is true and returns the seconds the others took to stop after it."""
  env = dict(os.environ, PYTHONPATH=os.pathsep.join([REPO, TESTS]), **(env or {}))
  logs = [tmp_path / f'process_{k}.log' for k in range(num_processes)]
  files = [open(log, 'w') for log in logs]
  processes = launch.start(command, num_processes, env=env, heartbeat_timeout=10,
                           outputs=files, cwd=REPO)
  read = lambda: [log.read_text() for log in logs]  # noqa: E731
  deadline, stopped_after = time.monotonic() + timeout, None
  try:
    if until is not None:
      while not until(read()) and time.monotonic() < deadline and processes[1].poll() is None:
        time.sleep(0.1)
      processes[1].send_signal(signal.SIGKILL)
      killed = time.monotonic()
    for process in processes:
      process.wait(timeout=max(1, deadline - time.monotonic()))
    if until is not None:
      stopped_after = time.monotonic() - killed
  finally:
    for process in processes:
      if process.poll() is None:
        process.kill()
    for file in files:
      file.close()
  results = [(process.returncode, output) for process, output in zip(processes, read())]
  return results if until is None else (results, stopped_after)


def train_in_two_processes(tmp_path, image_folder, workdir, audit_dir=None, **fields):
  config = config_file(tmp_path, image_folder, **fields)
  arguments = [f'--config={config}', f'--workdir={workdir}']
  if audit_dir is None:
    command = [sys.executable, LAUNCH, *arguments]
  else:
    command = [sys.executable, '-c', AUDITED_LAUNCH, LAUNCH, *arguments]
  results = run_processes(command, tmp_path, env={'AUDIT_DIR': str(audit_dir or tmp_path)})
  for status, output in results:
    assert status == 0, output[-3000:]
  return results


@pytest.fixture(scope='module')
def two_process_run(image_folder, tmp_path_factory):
  """4 steps of the tiny WAE-GAN in 2 processes x 1 device (checkpoints at 2 and 4), audited."""
  tmp_path = tmp_path_factory.mktemp('two_processes')
  workdir, audit = tmp_path / 'run', tmp_path / 'audit'
  audit.mkdir()
  train_in_two_processes(tmp_path, image_folder, str(workdir), audit_dir=audit)
  return str(workdir), audit


def test_two_processes_train_like_one_process_with_two_devices(two_process_run, image_folder, tmp_path):
  workdir, _ = two_process_run
  config = tiny_config(image_folder)
  assert jax.device_count() == 2 and jax.process_count() == 1
  train.train_and_evaluate(config, str(tmp_path / 'one'))
  (two, meta_two), (one, meta_one) = restore_states(config, workdir), restore_states(config, str(tmp_path / 'one'))
  assert meta_two['step'] == meta_one['step'] == 4 and meta_two['data'] == meta_one['data']
  params_two, stats_two, *_ = two
  params_one, stats_one, *_ = one
  # The tolerances of test_step's one-vs-two-device test (Adam moves noise-level entries by 2 lr).
  lr = config.optim.learning_rate
  jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, atol=2 * lr), params_one, params_two)
  assert_trees_close(stats_one, stats_two, rtol=1e-4)


def test_only_process_0_writes_events_grids_and_lists(two_process_run):
  workdir, audit = two_process_run
  outside_checkpoints = lambda paths: [p for p in paths if not p.startswith(checkpoint_dir(workdir))]  # noqa: E731
  written = {k: (audit / f'writes_{k}.txt').read_text().split() if (audit / f'writes_{k}.txt').exists()
             else [] for k in (0, 1)}
  probe = os.path.join(workdir, '.write_test_1')  # each process checks that it can write there
  assert not [p for p in outside_checkpoints(written[1]) if p.startswith(workdir) and p != probe], written[1]
  chief = set(outside_checkpoints(written[0]))
  images = {f'{kind}_{step:08d}.png' for kind in ('samples', 'reconstructions', 'interpolations')
            for step in (2, 4)}
  assert {os.path.join(workdir, 'images', name) for name in images} <= chief
  assert sorted(os.listdir(os.path.join(workdir, 'images'))) == sorted(images)
  events = [name for name in os.listdir(workdir) if name.startswith('events.out.tfevents')]
  assert len(events) == 1
  scalars = read_scalars(workdir)
  assert [step for step, _ in scalars['train/loss']] == [1, 2, 3, 4]  # each step logged once
  leftovers = [os.path.join(root, name) for root, _, names in os.walk(workdir) for name in names
               if 'tmp' in name or name.startswith('.write_test')]
  assert not leftovers


def resumable_copy(workdir, destination):
  """A copy of `workdir` whose latest checkpoint is that of step 2."""
  shutil.copytree(workdir, destination)
  shutil.rmtree(os.path.join(checkpoint_dir(destination), '4'))
  return destination


def test_a_two_process_checkpoint_resumes_in_one_process_bit_identically(two_process_run,
                                                                         image_folder, tmp_path):
  workdir, _ = two_process_run
  config = tiny_config(image_folder)
  resumed = resumable_copy(workdir, str(tmp_path / 'resumed'))
  train.train_and_evaluate(config, resumed)  # 1 process x 2 devices, steps 3 and 4
  (straight, meta_straight), (again, meta_again) = restore_states(config, workdir), restore_states(config, resumed)
  assert meta_again['step'] == 4 and meta_again['data'] == meta_straight['data']
  jax.tree.map(np.testing.assert_array_equal, straight, again)


@pytest.mark.slow
def test_a_two_process_checkpoint_resumes_in_two_processes_bit_identically(two_process_run,
                                                                           image_folder, tmp_path):
  workdir, _ = two_process_run
  config = tiny_config(image_folder)
  resumed = resumable_copy(workdir, str(tmp_path / 'resumed'))
  train_in_two_processes(tmp_path, image_folder, resumed)
  (straight, _), (again, meta) = restore_states(config, workdir), restore_states(config, resumed)
  assert meta['step'] == 4
  jax.tree.map(np.testing.assert_array_equal, straight, again)


@pytest.mark.slow  # 30 s; the SIGTERM test below stops two processes in the default run
def test_a_killed_process_stops_the_other_with_an_error_naming_it(image_folder, tmp_path):
  config = config_file(tmp_path, image_folder, **{'train.num_steps': 10_000,
                                                  'train.checkpoint_every': 10_000,
                                                  'train.image_every': 10_000})
  command = [sys.executable, LAUNCH, f'--config={config}', f'--workdir={tmp_path / "run"}']
  training = lambda outputs: '3/10000' in outputs[0]  # noqa: E731  (process 0's progress bar)
  results, stopped_after = run_processes(command, tmp_path, until=training)
  (status, output), (killed, _) = results
  assert killed == -signal.SIGKILL
  assert status == 1, output[-3000:]
  assert 'error: process 0 of 2 stopped: lost process 1' in output, output[-3000:]
  assert stopped_after < 60  # the heartbeat timeout is 10 s here


def test_sigterm_to_one_process_stops_both_after_the_same_step_with_its_checkpoint(image_folder, tmp_path):
  fields = {'train.num_steps': 1000, 'train.checkpoint_every': 5, 'train.image_every': 0}
  config = config_file(tmp_path, image_folder, **fields)
  workdir = str(tmp_path / 'run')
  command = [sys.executable, '-c', SIGNALLED_LAUNCH, LAUNCH, f'--config={config}', f'--workdir={workdir}']
  results = run_processes(command, tmp_path, env={'SIGNAL': 'SIGTERM', 'SIGNAL_AT': '7',
                                                  'SIGNAL_PROCESS': '1'})
  stops = []
  for status, output in results:
    assert status == 128 + signal.SIGTERM, output[-3000:]
    line = output.strip().splitlines()[-1]
    assert line.startswith('stopped at step ') and line.endswith(
        ' on SIGTERM; checkpoint saved; rerun the same command to resume'), output[-3000:]
    stops.append(int(line.split()[3]))
  step = stops[0]
  assert stops == [step, step] and 7 <= step < 1000  # both saved the same step, after the signal
  steps = sorted(int(n) for n in os.listdir(checkpoint_dir(workdir)) if n.isdigit())
  assert steps[-1] == step

  # That checkpoint is the state an uninterrupted run has at that step: resume the copy from
  # the periodic checkpoint before it (one process, two devices: bit-identical, as above).
  config = tiny_config(image_folder, num_steps=step)
  config.train.checkpoint_every, config.train.image_every = 5, 0
  again = shutil.copytree(workdir, str(tmp_path / 'again'))
  shutil.rmtree(os.path.join(checkpoint_dir(again), str(step)))
  train.train_and_evaluate(config, again)
  (preempted, meta), (continued, meta_again) = restore_states(config, workdir), restore_states(config, again)
  assert meta['step'] == meta_again['step'] == step and meta['data'] == meta_again['data']
  jax.tree.map(np.testing.assert_array_equal, preempted, continued)


HOST_BATCHES = textwrap.dedent('''
    import sys, numpy as np, jax
    from wae_jax import data
    from wae_jax.distributed import runtime
    from test_train import tiny_config
    runtime.initialize()
    config = tiny_config(sys.argv[1])
    with data.train_batches(config.data, 16, 4, config.seed, jax.process_index(), jax.process_count()) as batches:
      np.save(sys.argv[2] % jax.process_index(), np.stack([next(batches) for _ in range(8)]))
    runtime.finish()
''')


def test_the_hosts_decode_disjoint_halves_of_every_global_batch(image_folder, tmp_path):
  pattern = str(tmp_path / 'batches_%d.npy')
  for status, output in run_processes([sys.executable, '-c', HOST_BATCHES, image_folder, pattern], tmp_path):
    assert status == 0, output[-3000:]
  halves = [np.load(pattern % k) for k in (0, 1)]  # [8 steps, 2 images, 16, 16, 3] each
  config = tiny_config(image_folder)
  from wae_jax import data
  with data.train_batches(config.data, 16, 4, config.seed) as batches:
    whole = np.stack([next(batches) for _ in range(8)])  # one process: [8, 4, ...]
  assert halves[0].shape == halves[1].shape == (8, 2, 16, 16, 3)
  np.testing.assert_array_equal(np.concatenate(halves, axis=1), whole)
  for step in range(8):  # disjoint: no image of one host's half is in the other's
    for image in halves[0][step]:
      assert not any(np.array_equal(image, other) for other in halves[1][step])


# launch.py with a stand-in FID network (the mean colour of each image: 3 features), as
# test_evaluation's FakeExtractor: the real Inception network on CPU takes minutes.
STAND_IN_FID_LAUNCH = textwrap.dedent('''
    import runpy, sys
    import numpy as np
    from wae_jax.evaluation import reference
    reference.make_feature_extractor = lambda config: (
        lambda images: images.reshape(len(images), -1, 3).mean(axis=1).astype(np.float32))
    sys.argv = sys.argv[1:]
    runpy.run_path(sys.argv[0], run_name='__main__')
''')
EVAL_FIELDS = {'eval.split': 'train', 'eval.real_split': 'train', 'eval.num_samples': 10,
               'eval.num_reconstructions': 9, 'eval.num_interpolations': 5,
               'eval.interpolation_steps': 4, 'eval.batch_size': 4}


@pytest.mark.slow  # 18 s; the README's two-process command runs the launcher in the default run
def test_stats_and_eval_in_two_processes_equal_one_process(two_process_run, image_folder, tmp_path):
  workdir, _ = two_process_run
  config_path = config_file(tmp_path, image_folder, **EVAL_FIELDS)
  stats, evaluated = str(tmp_path / 'stats.npz'), shutil.copytree(workdir, str(tmp_path / 'run'))
  for arguments in (['--mode=stats', f'--output={stats}'],
                    ['--mode=eval', f'--config.eval.reference_stats={stats}', f'--workdir={evaluated}']):
    command = [sys.executable, '-c', STAND_IN_FID_LAUNCH, LAUNCH, f'--config={config_path}', *arguments]
    for status, output in run_processes(command, tmp_path):
      assert status == 0, output[-3000:]
  two = evaluation.read_metrics(evaluated)

  config = tiny_config(image_folder)
  for name, value in EVAL_FIELDS.items():
    setattr(config.eval, name.split('.')[1], value)
  mean_colour = lambda images: images.reshape(len(images), -1, 3).mean(axis=1).astype(np.float32)  # noqa: E731
  one_stats = evaluation.compute_reference_stats(config, str(tmp_path / 'one.npz'), mean_colour)
  np.testing.assert_allclose(np.load(one_stats)['features'], np.load(stats)['features'], rtol=1e-6)
  config.eval.reference_stats = one_stats
  evaluator = evaluation.Evaluator(config, feature_extractor=mean_colour)
  one = dict(evaluator.run(wae_jax.load(workdir)))
  for part in evaluation.PARTS:
    assert two['parts'][part]['count'] == one[f'{part}/count']
    scores = (('total_variance', 'mean_norm', 'log_density_prior') if part == 'latent'
              else ('fid', 'kid', 'precision', 'recall', 'sharpness'))
    for score in scores:
      assert two['parts'][part][score] == pytest.approx(one[f'{part}/{score}'], rel=1e-4, abs=1e-9), (part, score)
  assert sorted(os.listdir(os.path.join(evaluated, 'eval'))) == [
      'interpolations.png', 'metrics.json', 'reconstructions.png', 'samples.png']


def test_only_a_jax_runtime_error_with_a_lost_process_becomes_one_line_naming_it(monkeypatch):
  """The typed signal (jax.errors.JaxRuntimeError), not the error's text, marks a failed
  collective; where the coordination service names nobody lost, the error passes unchanged."""
  from wae_jax.distributed import runtime
  monkeypatch.setattr(jax, 'process_count', lambda: 2)
  monkeypatch.setattr(runtime, 'lost_processes', lambda timeout: [1])
  with pytest.raises(ValueError, match='Gloo'), runtime.failures_named():
    raise ValueError('Gloo connection reset')  # its text alone names no lost process
  with pytest.raises(runtime.LostProcessError, match='lost process 1; a collective'), runtime.failures_named():
    raise jax.errors.JaxRuntimeError('UNAVAILABLE: connection reset by peer')
  monkeypatch.setattr(runtime, 'lost_processes', lambda timeout: [])
  with pytest.raises(jax.errors.JaxRuntimeError, match='RESOURCE_EXHAUSTED'), runtime.failures_named():
    raise jax.errors.JaxRuntimeError('RESOURCE_EXHAUSTED: out of memory')


def test_the_lost_processes_are_those_live_devices_reports_failed(monkeypatch):
  import contextlib
  from jax.experimental import multihost_utils
  from wae_jax.distributed import runtime
  device = type('Device', (), {'process_index': 2})()

  @contextlib.contextmanager
  def failing(devices):
    raise multihost_utils.ProcessFailureError({device})
    yield

  monkeypatch.setattr(jax, 'process_count', lambda: 3)
  monkeypatch.setattr(multihost_utils, 'live_devices', failing)
  assert runtime.lost_processes(timeout=5) == [2]
