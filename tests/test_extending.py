"""docs/extending.md as written: its `# file:` blocks written, its `# add to` lines put where they
say, in a copy of the repository (launch.py, the wae_jax package, configs/), and each `$` command
run there as a subprocess with only tiny overrides appended. So a new objective, encoder and
sampler are each one file plus their registry line in the package, a new evaluator one file plus
a config.evals block, and a periodic action one file plus config.train.hooks, run by launch.py.
"""

import csv
import json
import math
import os
import re
import shlex
import shutil
import subprocess
import sys

import numpy as np
import pytest

from test_readme_commands import TINY_EVAL, TINY_TRAIN
from test_train import REPO, read_scalars

PAGE = os.path.join(REPO, 'docs', 'extending.md')
BLOCK = re.compile(r'```(python|console)\n(.*?)```', flags=re.S)
FILE, ADD_TO, ADD_IMPORT = '# file: ', '# add to ', '# add to the imports of '

OBJECTIVE = ('python launch.py --config=configs/demo.py --workdir=workdirs/demo_moments '
             '--config.objective.name=moments --config.objective.moments.covariance_weight=0.5')
ENCODER_SUMMARY = 'python launch.py --config=configs/demo.py --config.model.encoder=mlp --mode=summary'
ENCODER = 'python launch.py --config=configs/demo.py --workdir=workdirs/demo_mlp --config.model.encoder=mlp'
EVALUATOR = 'python launch.py --config=configs/demo_mean_pixel.py --workdir=workdirs/demo --mode=eval'
SAMPLER = EVALUATOR + ' --config.eval.sampler=tempered'
HOOK = ('python launch.py --config=configs/demo.py --workdir=workdirs/demo '
        '--config.train.hooks="(\'loss_csv:LossCSV\',)"')
# Training runs also swap the demo's ResNet encoder for the WAE's convolutions: a far faster compile.
TINY = [*TINY_TRAIN, '--config.model.encoder=wae_conv']
TINY_MEAN_PIXEL = ['--config.evals.mean_pixel.num_images=8', *TINY_EVAL]


def blocks() -> list[tuple[str, str]]:
  return BLOCK.findall(open(PAGE).read())


def commands() -> list[str]:
  return [line[2:] for kind, text in blocks() if kind == 'console'
          for line in text.splitlines() if line.startswith('$ ')]


def apply_block(root: str, text: str) -> None:
  """Writes a `# file:` block, or puts the lines of an `# add to` block where its first line says."""
  first, _, body = text.partition('\n')
  if first.startswith(FILE):
    path = os.path.join(root, first[len(FILE):])
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, 'w') as file:
      file.write(body)
    return
  if first.startswith(ADD_IMPORT):
    path = os.path.join(root, first[len(ADD_IMPORT):])
    lines = open(path).read().splitlines(keepends=True)
    at = max(i for i, line in enumerate(lines) if line.startswith(('import ', 'from '))) + 1
    with open(path, 'w') as file:
      file.writelines(lines[:at] + [body] + lines[at:])
    return
  assert first.startswith(ADD_TO), f'an untagged python block in {PAGE}: {first}'
  name, _, path = first[len(ADD_TO):].partition(' in ')
  path = os.path.join(root, path)
  text = open(path).read()
  opening = re.search(rf'(?m)^{name}\b.*= \{{', text)
  closing = text.index('}\n', opening.end())  # the dict's last line ends with its brace
  before = text[:closing].rstrip()
  comma = '' if before.endswith((',', '{')) else ','
  with open(path, 'w') as file:
    file.write(f'{before}{comma}\n{body.rstrip()}\n{text[closing:]}')


@pytest.fixture(scope='module')
def checkout(tmp_path_factory):
  """A copy of the repository with every block of the page applied; launch.py copied, so Python
  imports the copied wae_jax first."""
  root = tmp_path_factory.mktemp('extending')
  shutil.copy(os.path.join(REPO, 'launch.py'), root)
  shutil.copytree(os.path.join(REPO, 'wae_jax'), root / 'wae_jax',
                  ignore=shutil.ignore_patterns('__pycache__'))
  os.mkdir(root / 'configs')
  for name in os.listdir(os.path.join(REPO, 'configs')):
    os.symlink(os.path.join(REPO, 'configs', name), root / 'configs' / name)
  for kind, text in blocks():
    if kind == 'python':
      apply_block(str(root), text)
  return root


def run(command: str, cwd, *overrides: str) -> str:
  """A command of the page, as typed (`python` is this interpreter), with `overrides` appended."""
  assert command in commands(), f'not a command of docs/extending.md: {command}'
  argv = shlex.split(command)
  argv[0] = sys.executable
  result = subprocess.run(argv + list(overrides), cwd=cwd, capture_output=True, text=True,
                          timeout=600, env=dict(os.environ, WAE_JAX_CACHE=str(cwd / 'cache')))
  output = result.stdout + result.stderr
  assert result.returncode == 0, f'{command} exited {result.returncode}:\n{output[-4000:]}'
  return output


@pytest.fixture(scope='module')
def demo(checkout):
  """workdirs/demo, trained by the hook's command (2 steps): the run the evaluator scores."""
  return run(HOOK, checkout, *TINY)


def test_every_command_of_the_page_is_run_here():
  assert sorted(commands()) == sorted([OBJECTIVE, ENCODER_SUMMARY, ENCODER, EVALUATOR, SAMPLER, HOOK])
  assert all(text.startswith(('# file: ', '# add to ')) for kind, text in blocks() if kind == 'python')


def scalar(workdir, tag: str) -> float:
  return dict(read_scalars(str(workdir))[tag])[2]


def test_a_new_objective_trains_from_its_module_and_its_modules_line(checkout):
  output = run(OBJECTIVE, checkout, *TINY)
  workdir = checkout / 'workdirs' / 'demo_moments'
  assert os.path.isdir(workdir / 'checkpoints' / '2'), output[-2000:]
  reconstruction, mean_gap, covariance_gap = (scalar(workdir, f'train/{name}')
                                              for name in ('reconstruction', 'mean_gap', 'covariance_gap'))
  assert mean_gap > 0 and covariance_gap > 0
  # The demo's lambda is 1 and the page sets the covariance weight to 0.5.
  assert scalar(workdir, 'train/loss') == pytest.approx(reconstruction + mean_gap + 0.5 * covariance_gap,
                                                         rel=1e-5)
  assert 'disc_loss' not in ' '.join(read_scalars(str(workdir)))  # no critic declared, none trained


def test_a_new_encoder_is_its_module_and_its_encoders_line(checkout):
  latent = 8  # the demo's
  widths = [int(round(w * 0.0625)) for w in (1024, 512)]  # the tiny width, as config.model.width
  expected = sum(n_in * n_out + n_out for n_in, n_out in zip([32 * 32 * 3, *widths], [*widths, latent]))
  output = run(ENCODER_SUMMARY, checkout, '--config.model.width=0.0625')
  assert 'encoder mlp' in output and f'encoder params: {expected} ' in output
  run(ENCODER, checkout, *TINY_TRAIN)
  assert os.path.isdir(checkout / 'workdirs' / 'demo_mlp' / 'checkpoints' / '2')


def test_a_hook_named_in_the_config_writes_every_log_every_steps(checkout, demo):
  rows = list(csv.DictReader(open(checkout / 'workdirs' / 'demo' / 'losses.csv')))
  assert [row['step'] for row in rows] == ['1', '2']  # log_every 1 in the tiny overrides
  workdir = checkout / 'workdirs' / 'demo'
  for name in ('loss', 'reconstruction', 'disc_loss'):
    assert float(rows[1][name]) == pytest.approx(scalar(workdir, f'train/{name}'), rel=1e-5)


def mean_pixel(directory) -> dict:
  return json.loads((directory / 'metrics.json').read_text())['parts']['mean_pixel']


def test_a_new_evaluator_and_a_new_sampler_run_from_mode_eval(checkout, demo):
  workdir = checkout / 'workdirs' / 'demo'
  output = run(EVALUATOR, checkout, *TINY_MEAN_PIXEL)
  prior = mean_pixel(workdir / 'eval')
  assert 'mean_pixel/mean_pixel = ' in output
  assert prior['settings'] == {'num_images': 8, 'seed': 0, 'sampler': 'prior'}
  assert 0 < prior['mean_pixel'] < 1 and math.isfinite(prior['mean_pixel'])  # sigmoid outputs
  run(SAMPLER, checkout, *TINY_MEAN_PIXEL)
  tempered = mean_pixel(workdir / 'eval_tempered')
  assert tempered['settings']['sampler'] == 'tempered'
  assert 0 < tempered['mean_pixel'] < 1 and tempered['mean_pixel'] != prior['mean_pixel']
  assert mean_pixel(workdir / 'eval') == prior  # the prior's scores stay


def test_the_tempered_sampler_scales_the_priors_codes(checkout):
  """The sampler module as the page writes it, on a stand-in model."""
  namespace = {}
  exec(compile((checkout / 'wae_jax' / 'samplers' / 'tempered.py').read_text(), 'tempered.py', 'exec'),
       namespace)

  class Model:
    def sample_prior(self, n, seed):
      return np.random.default_rng(seed).normal(size=(n, 3)).astype(np.float32)

  codes = namespace['codes'](Model(), 5, 1, None)
  assert codes.dtype == np.float32
  np.testing.assert_array_equal(codes, 0.5 * Model().sample_prior(5, 1))


def test_a_hook_name_that_imports_nothing_is_a_one_line_config_error():
  from wae_jax import hooks
  from wae_jax.config_defaults import base_config
  from wae_jax.errors import ConfigError
  config = base_config()
  assert hooks.configured_hooks(config, 'unused', 10) == []  # none by default
  config.train.hooks = ('loss_csv:LossCSV',)  # not importable here: the page's file is in the copy
  with pytest.raises(ConfigError, match=r"^config.train.hooks names 'loss_csv:LossCSV': give "
                                        r"'package.module:Class', an importable Hook class$"):
    hooks.configured_hooks(config, 'unused', 10)
