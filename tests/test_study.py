"""The study runner: the `tiny` preset of configs/study_thesis.py end to end (four models trained
on the demo digits, evaluated with a stand-in FID network), then again: everything is skipped."""

import json
import os

import numpy as np
import pytest
from PIL import Image

from wae_jax import evaluation, study, train
from wae_jax.errors import ConfigError
from wae_jax.train import check_config

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
STUDY_CONFIG = os.path.join(REPO, 'configs', 'study_thesis.py')


def study_config(preset):
  import importlib.util
  spec = importlib.util.spec_from_file_location('study_thesis', STUDY_CONFIG)
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module.get_config(preset)


class PooledFeatures:
  """A stand-in for the Inception network: 4x4 mean-pooled gray pixels; counts its images."""

  def __init__(self):
    self.images = 0

  def __call__(self, images):
    assert images.dtype == np.uint8
    self.images += len(images)
    n, h, w, _ = images.shape
    gray = images.mean(axis=-1) / 255.0
    return gray.reshape(n, 4, h // 4, 4, w // 4).mean(axis=(2, 4)).reshape(n, 16).astype(np.float32)


@pytest.mark.parametrize('preset', ['tiny', 'cpu', 'gpu', 'gpu128', 'full'])
def test_every_preset_gives_four_valid_experiments_with_one_image_budget(preset):
  runs = study.runs_of(study_config(preset))
  assert [run.experiment for run in runs] == ['vae', 'vae_resnet', 'wae', 'wae_resnet']
  for run in runs:
    check_config(run.config, num_devices=1)
  budgets = {(run.config.train.batch_size, run.config.train.num_steps, run.config.train.num_epochs)
             for run in runs}
  assert len(budgets) == 1
  assert {run.config.objective.name for run in runs} == {'vae', 'wae_gan'}


def test_an_unknown_override_names_the_field():
  config = study_config('tiny')
  config.overrides.model.widht = 2.0
  with pytest.raises(ConfigError, match=r'config\.model\.widht: no such field'):
    study.runs_of(config)


def table_rows(section):
  return [line for line in section.splitlines() if line.startswith('| ') and '---' not in line][1:]


def test_tiny_preset_end_to_end_then_everything_is_skipped(tmp_path, monkeypatch):
  directory = str(tmp_path / 'study')
  features = PooledFeatures()
  results = study.run_study(study_config('tiny'), directory, features)

  tables = open(os.path.join(directory, 'tables.md')).read()
  sections = tables.split('\n## ')[1:]
  assert [section.split(':')[0] for section in sections] == ['Table 4.3', 'Table 4.4', 'Table 4.5']
  for section in sections:
    rows = table_rows(section)
    assert [row.split('|')[1].strip() for row in rows] == [
        'vae (vae, seed 0)', 'vae_resnet (vae, seed 0)', 'wae (wae_gan, seed 0)',
        'wae_resnet (wae_gan, seed 0)', 'real data']
    assert all(row.split('|')[-3].strip() == '64' for row in rows)  # equal N, printed
    assert 'Real data: the first 64 images of the train split' in section

  figure = np.asarray(Image.open(os.path.join(directory, 'figure.png')))
  assert figure.shape[0] > 4 * 2 * 32 and figure.shape[1] > (6 + 6 + 12) * 32
  assert len(results['runs']) == 4 and results['real']['metrics']['parts']['real']['count'] == 64
  for run in results['runs']:
    assert run['train_seconds'] > 0 and run['eval_seconds'] > 0
    assert run['config']['train']['num_steps'] == 40
    for part in evaluation.MODEL_PARTS:
      assert np.isfinite(run['metrics']['parts'][part]['fid'])
  assert json.load(open(os.path.join(directory, 'results.json'))) == json.loads(json.dumps(results))

  # Again: no training, no scoring; the same numbers.
  def no_training(*args, **kwargs):
    raise AssertionError('a finished run was trained again')
  monkeypatch.setattr(train, 'train_and_evaluate', no_training)
  again_features = PooledFeatures()
  again = study.run_study(study_config('tiny'), directory, again_features)
  assert again_features.images == 0
  assert [run['metrics'] for run in again['runs']] == [run['metrics'] for run in results['runs']]
