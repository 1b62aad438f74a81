"""The library from a plain script without a __main__ guard and from IPython: sampling with the
prior and the gmm sampler (whose fit reads training images) prints its one line and exits."""

import os
import subprocess
import sys

import pytest

from test_train import REPO, run_in_subprocess, tiny_config

# What a user types into a file or a notebook cell: no `if __name__ == '__main__':`.
SAMPLE = ('import sys, wae_jax; model = wae_jax.load(sys.argv[1]); '
          'print(model.sample(8, seed=0, sampler=sys.argv[2]).shape)')
TIME_LIMIT_S = 180


@pytest.fixture(scope='module')
def trained_workdir(image_folder, tmp_path_factory):
  """A workdir trained for 2 steps with 2 decoding workers, as the demo config has."""
  config = tiny_config(image_folder, num_steps=2)
  config.data.workers = 2
  config.eval.gmm_components = 2
  config.train.image_every = 0
  workdir = str(tmp_path_factory.mktemp('trained') / 'workdir')
  run_in_subprocess(config, workdir)
  return workdir


def assert_one_line(command):
  done = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=TIME_LIMIT_S,
                        env={**os.environ, 'PYTHONPATH': REPO})
  assert done.returncode == 0, done.stderr[-3000:]
  assert done.stdout.splitlines()[-1:] == ['(8, 16, 16, 3)'], done.stdout[-2000:]
  assert 'Traceback' not in done.stderr and 'leaked semaphore' not in done.stderr, done.stderr[-3000:]


@pytest.mark.parametrize('sampler', ['prior', 'gmm'])
def test_an_unguarded_script_samples_and_exits(trained_workdir, tmp_path, sampler):
  script = tmp_path / 'sample.py'
  script.write_text(SAMPLE + '\n')
  assert_one_line([sys.executable, str(script), trained_workdir, sampler])


def test_ipython_samples_from_the_gmm_and_exits(trained_workdir):
  pytest.importorskip('IPython', reason='IPython is not installed')
  code = f'import sys; sys.argv[1:] = [{trained_workdir!r}, "gmm"]\n' + SAMPLE
  assert_one_line([sys.executable, '-m', 'IPython', '--quick', '--no-banner', '-c', code])


def test_a_preset_on_a_config_without_presets_is_one_line_naming_those_with_presets():
  done = subprocess.run([sys.executable, 'launch.py', '--config=configs/demo.py:tiny', '--workdir=unused'],
                        cwd=REPO, capture_output=True, text=True, timeout=120,
                        env={**os.environ, 'PYTHONPATH': REPO, 'GLIBC_TUNABLES': 'glibc.malloc.hugetlb=0'})
  assert done.returncode == 1
  assert done.stderr.strip().splitlines()[-1] == (
      'error: --config=configs/demo.py:tiny: configs/demo.py takes no preset; drop ":tiny" (configs '
      'that take one: configs/study_thesis.py)')
