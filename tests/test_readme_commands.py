"""Every command README.md and docs/*.md show, run as a subprocess exactly as typed, with only
overrides appended that make it tiny. A command the pages show that no test runs, or a test of a
command the pages no longer show, fails `test_every_documented_command_is_run_or_says_why_not`.

Each test runs in a fresh directory that looks like a checkout (launch.py, configs/ and
benchmarks/ linked in; data/celeba/ holding the shared CelebA sample's zip and a split file), so
the relative paths of the commands (workdirs/..., data/celeba/...) land in the test's tmp_path.
That split file is the official one with all but TEST_IMAGES of the sample's test images moved
to val, so the reference statistics of the test split take seconds.
"""

import json
import os
import re
import shlex
import subprocess
import sys
import zipfile

import numpy as np
import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# docs/results.md records the runs behind published numbers (hours each); the command forms it
# uses (train, stats, eval, study with more seeds or steps) are the ones run here.
DOCS = ['README.md'] + sorted(os.path.join('docs', name) for name in os.listdir(os.path.join(REPO, 'docs'))
                              if name.endswith('.md') and name != 'results.md')
CELEBA_SAMPLE = os.path.normpath(os.path.join(REPO, '..', 'shared', 'data', 'celeba_sample'))
needs_celeba = pytest.mark.skipif(not os.path.isfile(os.path.join(CELEBA_SAMPLE, 'img_align_celeba.zip')),
                                  reason=f'the shared CelebA sample is not at {CELEBA_SAMPLE}')
TEST_IMAGES = 16
# Steps of a chain such as `python3 -m venv .venv && . .venv/bin/activate && pip install ...`
# that set up the environment: CI (.ci/run) runs them from scratch on every landing.
SETUP = ('python3 -m venv ', '. .venv/bin/activate', 'pip install ')
NOT_RUN_HERE = {
    'python -m pytest -n 2': 'the test command itself: .ci/run runs it',
    'srun --nodes=2 --ntasks-per-node=1 python launch.py --config=configs/wae_resnet.py '
    '--workdir=/shared/workdirs/wae_resnet --config.train.distributed=True': 'needs a SLURM cluster',
    'gcloud compute tpus tpu-vm ssh my-pod --zone=us-central2-b --worker=all --command="cd wae-jax && '
    'python launch.py --config=configs/wae_resnet.py --workdir=gs://my-bucket/wae_resnet '
    '--config.train.distributed=True"': 'needs a Cloud TPU pod',
    'bash benchmarks/gpu_table.sh docs/results/gpu/new': 'needs a GPU (scripts run on the lent GPU)',
}
# The tiny overrides: a 1/16-width model trained for 2 steps of 8, 8 images per evaluated part.
TINY_MODEL = ['--config.model.width=0.0625', '--config.train.batch_size=8', '--config.data.workers=0']
TINY_TRAIN = TINY_MODEL + ['--config.train.num_steps=2', '--config.train.log_every=1',
                           '--config.train.image_every=2', '--config.train.checkpoint_every=2']
TINY_EVAL = ['--config.eval.batch_size=8', '--config.eval.num_samples=8',
             '--config.eval.num_reconstructions=8', '--config.eval.num_interpolations=1']


def documented_commands() -> list[str]:
  """The commands of every ```bash block of the pages: continuation lines joined, trailing
  comments dropped, chains split at &&, environment setup (SETUP) left out."""
  commands = []
  for page in DOCS:
    text = open(os.path.join(REPO, page)).read()
    for block in re.findall(r'```bash\n(.*?)```', text, flags=re.S):
      block = re.sub(r'\\\n\s*', '', block)
      for line in block.splitlines():
        line = re.sub(r'\s+#.*$', '', line.strip())
        chain = [line] if '"' in line else line.split(' && ')  # && inside quotes is one command
        for part in (part.strip() for part in chain) if line else ():
          if not part.startswith(SETUP):
            commands.append(part)
  return commands


def test_every_documented_command_is_run_or_says_why_not():
  documented = set(documented_commands())
  assert documented == set(RUNS) | set(NOT_RUN_HERE), (
      f'shown but not run: {sorted(documented - set(RUNS) - set(NOT_RUN_HERE))}; run but no longer '
      f'shown: {sorted((set(RUNS) | set(NOT_RUN_HERE)) - documented)}')


@pytest.fixture
def checkout(tmp_path):
  """A directory laid out like the repository root, for the commands' relative paths."""
  for name in ('launch.py', 'configs', 'benchmarks'):
    os.symlink(os.path.join(REPO, name), tmp_path / name)
  if os.path.isdir(CELEBA_SAMPLE):
    folder = tmp_path / 'data' / 'celeba'
    folder.mkdir(parents=True)
    os.symlink(os.path.join(CELEBA_SAMPLE, 'img_align_celeba.zip'), folder / 'img_align_celeba.zip')
    with zipfile.ZipFile(os.path.join(CELEBA_SAMPLE, 'img_align_celeba.zip')) as archive:
      sample = {os.path.basename(name) for name in archive.namelist()}
    lines, kept = [], 0
    for line in open(os.path.join(CELEBA_SAMPLE, 'list_eval_partition.txt')).read().splitlines():
      name, split = line.split()
      if split == '2' and name in sample:
        kept += 1
        split = '2' if kept <= TEST_IMAGES else '1'
      lines.append(f'{name} {split}')
    (folder / 'list_eval_partition.txt').write_text('\n'.join(lines) + '\n')
  return tmp_path


def run(command: str, cwd, *overrides: str, timeout: int = 600) -> str:
  """Runs a documented command as typed (`python` is this interpreter) with `overrides`
  appended; returns its output and fails with its tail where it exits non-zero."""
  assert command in RUNS and command in documented_commands(), f'not a documented command: {command}'
  argv = shlex.split(command)
  if argv[0] == 'python':
    argv[0] = sys.executable
  result = subprocess.run(argv + list(overrides), cwd=cwd, capture_output=True, text=True,
                          timeout=timeout, env=dict(os.environ, WAE_JAX_CACHE=str(cwd / 'cache')))
  output = result.stdout + result.stderr
  assert result.returncode == 0, f'{command} exited {result.returncode}:\n{output[-4000:]}'
  return output


DEMO = 'python launch.py --config=configs/demo.py --workdir=workdirs/demo'
TRAIN = 'python launch.py --config=configs/wae_resnet.py --workdir=workdirs/wae_resnet'
TRAIN_Z32 = ('python launch.py --config=configs/wae_resnet.py --workdir=workdirs/wae_resnet_z32 '
             '--config.model.latent_dim=32')
SUMMARY = 'python launch.py --config=configs/wae_resnet.py --mode=summary'
STATS = 'python launch.py --config=configs/wae_resnet.py --mode=stats'
EVAL_SAVED = ('python launch.py --config=configs/wae_resnet.py --workdir=workdirs/wae_resnet --mode=eval '
              '--config.eval.save_images=True')
EVAL = 'python launch.py --config=configs/wae_resnet.py --workdir=workdirs/wae_resnet --mode=eval'
COMPARE_README = ('python launch.py --mode=compare --compare=workdirs/wae_resnet,workdirs/wae_resnet_z32 '
                  '--output=tables.md')
COMPARE_DOCS = 'python launch.py --mode=compare --compare=workdirs/vae,workdirs/wae_resnet --output=tables.md'
FID = 'python -m wae_jax.fid workdirs/wae_resnet/eval/samples.npy data/celeba/fid_stats_test_128.npz'
STUDY = 'python launch.py --mode=study --config=configs/study_thesis.py:cpu --workdir=studies/cpu'
MORE_SEEDS = ('python launch.py --mode=study --config=configs/study_thesis.py:cpu --workdir=studies/cpu_more_seeds '
              '--config.seeds=1,2')
MERGE = 'python -m wae_jax.study.merge studies/cpu_merged studies/cpu/results.json studies/cpu_more_seeds/results.json'
TWO_PROCESSES = ('python -m wae_jax.multiprocess --num_processes=2 -- --config=configs/demo.py '
                 '--workdir=workdirs/demo2')
TRAIN_STEP = 'python benchmarks/train_step.py --model=wae_resnet --size=128 --batch=16'
INPUT_PIPELINE = 'python benchmarks/input_pipeline.py'
FID_FEATURES = 'python benchmarks/fid_features.py'
TORCH_STEP = 'python benchmarks/torch_reference_step.py --size=128 --channels-last'
CHECKPOINT_SAVE = 'python benchmarks/checkpoint_save.py'
# Each command the pages show, and the test that runs it.
RUNS = {
    DEMO: 'test_demo_trains_then_the_same_command_resumes',
    TRAIN: 'test_celeba_train_summary_stats_eval_compare_and_fid', TRAIN_Z32: '... same',
    SUMMARY: '... same', STATS: '... same', EVAL_SAVED: '... same', EVAL: '... same',
    COMPARE_README: '... same', COMPARE_DOCS: '... same', FID: '... same',
    STUDY: 'test_study_command_runs_the_cpu_preset_tiny', MORE_SEEDS: '... same', MERGE: '... same',
    TWO_PROCESSES: 'test_two_process_launcher',
    TRAIN_STEP: 'test_benchmark_commands', INPUT_PIPELINE: '... same', FID_FEATURES: '... same',
    TORCH_STEP: '... same', CHECKPOINT_SAVE: '... same',
}


def test_demo_trains_then_the_same_command_resumes(checkout):
  demo = ['--config.model.width=0.0625', '--config.train.num_steps=2', '--config.train.checkpoint_every=2',
          '--config.train.image_every=2', '--config.data.workers=0']
  run(DEMO, checkout, *demo)
  assert os.path.isdir(checkout / 'workdirs' / 'demo' / 'checkpoints' / '2')
  assert os.path.isfile(checkout / 'workdirs' / 'demo' / 'images' / 'samples_00000002.png')
  output = run(DEMO, checkout, *demo, '--config.train.num_steps=4')
  assert 'Resuming from the checkpoint of step 2' in output
  assert os.path.isdir(checkout / 'workdirs' / 'demo' / 'checkpoints' / '4')


@needs_celeba
def test_celeba_train_summary_stats_eval_compare_and_fid(checkout):
  workdirs = checkout / 'workdirs'
  output = run(SUMMARY, checkout)
  assert 'encoder params: 27860032' in output  # the thesis's WAE-ResNet at 128x128
  run(TRAIN, checkout, *TINY_TRAIN)
  run(TRAIN_Z32, checkout, *TINY_TRAIN)
  run(STATS, checkout)
  assert os.path.isfile(checkout / 'data' / 'celeba' / 'fid_stats_test_128.npz')
  run(EVAL_SAVED, checkout, *TINY_MODEL, *TINY_EVAL)
  run(EVAL, checkout, *TINY_MODEL, *TINY_EVAL)
  metrics = json.loads((workdirs / 'wae_resnet' / 'eval' / 'metrics.json').read_text())
  assert metrics['step'] == 2 and metrics['parts']['samples']['count'] == 8
  run(EVAL, checkout, '--workdir=workdirs/wae_resnet_z32', *TINY_MODEL, *TINY_EVAL)
  output = run(COMPARE_README, checkout)
  assert 'wrote tables.md' in output and 'wrote tables.png' in output
  assert 'wae_resnet_z32 @ step 2' in (checkout / 'tables.md').read_text()
  os.symlink(workdirs / 'wae_resnet_z32', workdirs / 'vae')  # the docs' example names a vae run
  run(COMPARE_DOCS, checkout)
  output = run(FID, checkout, '--json')
  scores = json.loads(output.strip().splitlines()[-1])
  assert scores['images_a'] == 8 and scores['images_b'] == TEST_IMAGES
  assert scores['fid'] == pytest.approx(metrics['parts']['samples']['fid'], rel=1e-6)
  assert np.load(workdirs / 'wae_resnet' / 'eval' / 'samples.npy').shape == (8, 128, 128, 3)


@needs_celeba
def test_study_command_runs_the_cpu_preset_tiny(checkout):
  # Only fields the preset's overrides hold can be set (the study config is locked).
  tiny = ['--config.experiments=wae', '--config.overrides.model.image_size=32',
          '--config.overrides.model.width=0.0625', '--config.overrides.train.batch_size=8',
          '--config.overrides.data.workers=0', '--config.overrides.eval.batch_size=8',
          '--config.overrides.train.num_steps=2', '--config.overrides.train.checkpoint_every=1',
          '--config.overrides.eval.split=test', '--config.overrides.eval.recompute_batch_stats=1',
          '--config.overrides.data.split_file=data/celeba/list_eval_partition.txt',
          '--config.overrides.eval.num_samples=8', '--config.overrides.eval.num_reconstructions=8',
          '--config.overrides.eval.num_interpolations=1']
  output = run(STUDY, checkout, *tiny)
  assert 'wrote ' in output
  tables = (checkout / 'studies' / 'cpu' / 'tables.md').read_text()
  assert '## Scores at step 1 (50% of the training)' in tables
  assert '## Over the budget' in tables and (checkout / 'studies' / 'cpu' / 'curve.png').is_file()
  assert 'Command: `python launch.py --mode=study --config=configs/study_thesis.py:cpu' in tables
  assert 'BatchNorm statistics: recomputed with the final weights over 1 batches of 8 train images' in tables
  run(MORE_SEEDS, checkout, *tiny)
  output = run(MERGE, checkout)
  merged = (checkout / 'studies' / 'cpu_merged' / 'tables.md').read_text()
  assert f'Command: `{MERGE}`' in merged and 'wrote studies/cpu_merged/tables.md' in output
  assert all(f'| wae (wae_gan, seed {seed}) |' in merged for seed in (0, 1, 2))
  assert re.search(r'^\| wae \| [0-9.]+ ± [0-9.]+ \|.* \| 3 \|$', merged, flags=re.M)  # mean ± SD of 3 seeds


def test_two_process_launcher(checkout):
  os.remove(checkout / 'launch.py')  # the launcher runs the package's entry point, `python -m wae_jax`
  output = run(TWO_PROCESSES, checkout, '--config.model.width=0.0625', '--config.train.num_steps=2',
               '--config.train.checkpoint_every=2', '--config.train.image_every=2', '--config.data.workers=0')
  assert '[0] ' in output and '[1] ' in output
  assert os.path.isdir(checkout / 'workdirs' / 'demo2' / 'checkpoints' / '2')


def last_json_line(output: str) -> str:
  return next(line for line in reversed(output.splitlines()) if line.startswith('{'))


@pytest.mark.slow
def test_benchmark_commands(checkout):
  output = run(TRAIN_STEP, checkout, '--rounds=1', '--steps=1', '--json')
  assert json.loads(last_json_line(output))  # stderr (the huge-pages restart note) comes after
  if os.path.isdir(CELEBA_SAMPLE):
    run(INPUT_PIPELINE, checkout, '--sizes=64', '--rounds=1', '--steps=2', '--warmup=1')
  run(FID_FEATURES, checkout, '--rounds=1', '--image-size=32')
  output = run(CHECKPOINT_SAVE, checkout, '--width=0.0625', '--size=32', '--saves=2', '--rounds=1', '--json')
  assert json.loads(last_json_line(output))['async_blocking_s'] > 0
  try:
    import torch  # noqa: F401
  except ImportError:
    return  # torch_reference_step.py needs torch, which the project does not install
  run(TORCH_STEP, checkout, '--rounds=1', '--steps=1')
