"""The training loop end to end on tiny data: outputs, exact resume, crashes, NaN, errors."""

import functools
import json
import logging
import os
import signal
import subprocess
import sys
import time

import jax
import numpy as np
import pytest
from PIL import Image

import wae_jax
from wae_jax import evaluation, hooks, train
from wae_jax.checkpoint import Checkpointer, checkpoint_dir, config_changes, config_from_meta
from wae_jax.config_defaults import base_config
from wae_jax.data import DataError
from wae_jax.api import Model
from wae_jax.errors import ConfigError, InputError, WorkdirError
from wae_jax.hooks import read_scalars
from wae_jax.models import build_for
from wae_jax.train_state import create_train_states

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def tiny_config(image_folder, num_steps=4, model='wae', objective='wae_gan'):
  config = base_config()
  config.model.name = model
  config.objective.name = objective
  config.model.image_size = 16
  config.model.width = 1 / 16
  config.model.latent_dim = 4
  config.data.source = 'folder'
  config.data.path = image_folder
  config.data.crop = 0
  config.data.workers = 0
  config.train.batch_size = 4
  config.train.num_steps = num_steps
  config.train.log_every = 1
  config.train.image_every = 2
  config.train.checkpoint_every = 2
  config.eval.batch_size = 8
  return config


def run_in_subprocess(config, workdir, kill_when=None):
  """train_and_evaluate in a child process (optionally SIGKILLed when kill_when() is true)."""
  code = ('import sys, json, ml_collections\nfrom wae_jax import train\n'
          'train.train_and_evaluate(ml_collections.ConfigDict(json.loads(sys.argv[1])), sys.argv[2])')
  process = subprocess.Popen([sys.executable, '-c', code, config.to_json(), workdir], cwd=REPO,
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
  if kill_when is None:
    _, err = process.communicate(timeout=600)
    assert process.returncode == 0, err[-3000:]
    return
  deadline = time.time() + 600
  while not kill_when() and process.poll() is None and time.time() < deadline:
    time.sleep(0.005)
  process.send_signal(signal.SIGKILL)
  process.wait()


def restore_states(config, workdir):
  networks = build_for(config)
  abstract = jax.eval_shape(functools.partial(create_train_states, config, networks),
                            jax.random.key(0))
  checkpointer = Checkpointer(workdir, read_only=True)
  ae, disc, rng, meta = checkpointer.restore(*abstract)
  checkpointer.close()
  return jax.device_get((ae.params, ae.batch_stats, ae.opt_state, disc.params, disc.opt_state,
                         jax.random.key_data(rng))), meta


def test_training_writes_checkpoints_images_logs_and_loads(image_folder, tmp_path):
  config = tiny_config(image_folder, model='wae_resnet')
  config.model.image_size = 32
  workdir = str(tmp_path / 'run')
  train.train_and_evaluate(config, workdir)
  assert sorted(os.listdir(checkpoint_dir(workdir))) == ['2', '4']
  images = os.listdir(os.path.join(workdir, 'images'))
  for kind in ('samples', 'reconstructions', 'interpolations'):
    assert f'{kind}_00000004.png' in images
  assert any(name.startswith('events.out.tfevents') for name in os.listdir(workdir))

  model = wae_jax.load(workdir)
  assert model.step == 4
  x = np.random.default_rng(1).uniform(size=(3, 32, 32, 3)).astype(np.float32)
  z = model.encode(x)
  assert z.shape == (3, 4)
  assert model.decode(z).shape == (3, 32, 32, 3)
  samples = model.sample(5, seed=0)
  assert samples.shape == (5, 32, 32, 3) and samples.min() >= 0 and samples.max() <= 1
  np.testing.assert_array_equal(samples, model.sample(5, seed=0))
  np.testing.assert_allclose(model.reconstruct(x), model.decode(z), atol=1e-6)
  path = model.interpolate(x[0], x[1], steps=5)
  assert path.shape == (5, 32, 32, 3)
  np.testing.assert_allclose(path[[0, -1]], model.reconstruct(x[:2]), atol=1e-5)
  with pytest.raises(WorkdirError, match='no checkpoint of step 3; its checkpoints are of steps 2, 4'):
    wae_jax.load(workdir, step=3)


def test_loading_a_checkpoint_logs_no_warnings(image_folder, tmp_path, caplog):
  workdir = str(tmp_path / 'run')
  train.train_and_evaluate(tiny_config(image_folder, num_steps=1), workdir)
  with caplog.at_level(logging.WARNING):
    assert wae_jax.load(workdir).step == 1
  assert not caplog.records, [record.getMessage() for record in caplog.records]


@pytest.fixture(scope='module')
def untrained_model(image_folder):
  """A 16x16 model with latent 4 and its initial parameters: the API checks need no training."""
  config = tiny_config(image_folder)
  ae_state, _ = create_train_states(config, build_for(config), jax.random.key(0))
  return Model.from_state(config, ae_state)


def test_model_scales_uint8_images_and_refuses_other_ranges(untrained_model):
  model = untrained_model
  pixels = np.random.default_rng(0).integers(0, 256, (3, 16, 16, 3), dtype=np.uint8)
  np.testing.assert_array_equal(model.encode(pixels), model.encode(pixels / np.float32(255)))
  with pytest.raises(InputError, match=r'values in \[0, 255\]: they must be in \[0, 1\]'):
    model.encode(pixels.astype(np.float32))
  with pytest.raises(InputError, match='dtype int64'):
    model.encode(pixels.astype(np.int64))


@pytest.mark.parametrize('shape, message', [
    ((2, 28, 28, 3), r'shape \(2, 28, 28, 3\): this model takes \[N, 16, 16, 3\]'),
    ((2, 40, 40, 3), r'shape \(2, 40, 40, 3\)'),
    ((2, 16, 16, 1), r'shape \(2, 16, 16, 1\)'),
    ((16, 16, 3), r'one image \(16, 16, 3\); pass a batch .*image\[None\]'),
])
def test_model_refuses_images_of_another_shape(untrained_model, shape, message):
  with pytest.raises(InputError, match=message):
    untrained_model.encode(np.zeros(shape, np.float32))


def test_model_refuses_non_integer_counts_and_non_finite_inputs(untrained_model):
  model = untrained_model
  for call, message in [(lambda: model.sample(2.5), r'n=2\.5: the number of samples'),
                        (lambda: model.sample(2, seed=None), r'seed=None'),
                        (lambda: model.sample(-1), r'n=-1'),
                        (lambda: model.interpolate(np.zeros((16, 16, 3)), np.zeros((16, 16, 3)), steps=-3),
                         r'steps=-3: the number of interpolation steps must be a whole number >= 2'),
                        (lambda: model.decode(np.full((2, 4), np.nan, np.float32)), r'codes hold 8 NaN or infinite values'),
                        (lambda: model.encode(np.full((1, 16, 16, 3), np.nan, np.float32)),
                         r'768 NaN or infinite values')]:
    with pytest.raises(InputError, match=message):
      call()
  assert model.sample(np.int64(2), seed=np.int32(1)).shape == (2, 16, 16, 3)


def test_model_refuses_codes_of_another_size_and_keeps_empty_shapes(untrained_model):
  model = untrained_model
  with pytest.raises(InputError, match=r'shape \(2, 5\).*\[N, 4\]'):
    model.decode(np.zeros((2, 5), np.float32))
  with pytest.raises(InputError, match=r'z\[None\]'):
    model.decode(np.zeros(4, np.float32))
  with pytest.raises(InputError, match='two single images'):
    model.interpolate(np.zeros((1, 16, 16, 3)), np.zeros((1, 16, 16, 3)), steps=3)
  assert model.encode(np.zeros((0, 16, 16, 3), np.uint8)).shape == (0, 4)
  assert model.decode(np.zeros((0, 4), np.float32)).shape == (0, 16, 16, 3)
  assert model.reconstruct(np.zeros((0, 16, 16, 3), np.float32)).shape == (0, 16, 16, 3)
  assert model.sample(0).shape == (0, 16, 16, 3)


def test_recomputed_batch_stats_make_inference_mode_equal_training_mode_on_that_batch(untrained_model):
  # With the statistics of one batch, inference-mode BatchNorm normalises that batch exactly as
  # training mode does: the train-mode forward pass is the independent computation.
  model = untrained_model
  rng = np.random.default_rng(1)
  batch, other = (rng.uniform(size=(8, 16, 16, 3)).astype(np.float32) for _ in range(2))
  recomputed = model.with_recomputed_batch_stats([batch])
  autoencoder = recomputed._autoencoder
  noise = np.zeros((8, 4), np.float32)  # a point code (WAE): the noise is unused
  (_, trained), _ = autoencoder.apply(model.variables, batch, noise, train=True, mutable=['batch_stats'])
  np.testing.assert_allclose(recomputed.reconstruct(batch), np.asarray(trained), atol=2e-5)
  assert not np.allclose(model.reconstruct(batch), np.asarray(trained), atol=1e-3)  # initial stats differ
  # Over two batches: each layer's statistics are the mean of the two batches' own.
  both = model.with_recomputed_batch_stats([batch, other]).variables['batch_stats']
  alone = [model.with_recomputed_batch_stats([x]).variables['batch_stats'] for x in (batch, other)]
  jax.tree.map(lambda b, x, y: np.testing.assert_allclose(b, (x + y) / 2, rtol=1e-5, atol=1e-7),
               both, *alone)
  assert recomputed.variables['params'] is model.variables['params']
  with pytest.raises(InputError, match='at least one batch'):
    model.with_recomputed_batch_stats([])


def test_resumed_run_is_bit_identical_to_a_straight_run(image_folder, tmp_path):
  straight, split = str(tmp_path / 'straight'), str(tmp_path / 'split')
  config = tiny_config(image_folder, num_steps=4)
  run_in_subprocess(config, straight)
  run_in_subprocess(tiny_config(image_folder, num_steps=2), split)  # stops at 2 ...
  run_in_subprocess(config, split)  # ... and a new process resumes to 4
  (a, meta_a), (b, meta_b) = restore_states(config, straight), restore_states(config, split)
  assert meta_a['step'] == meta_b['step'] == 4
  assert meta_a['data'] == meta_b['data']
  jax.tree.map(np.testing.assert_array_equal, a, b)


def test_sigkill_during_a_save_leaves_a_resumable_workdir(image_folder, tmp_path):
  workdir = str(tmp_path / 'killed')
  config = tiny_config(image_folder, num_steps=1000)
  config.train.checkpoint_every = 1
  directory = checkpoint_dir(workdir)

  def saving_after_first_checkpoint():
    if not os.path.isdir(directory):
      return False
    names = os.listdir(directory)
    return any(n.isdigit() for n in names) and any('tmp' in n for n in names)

  run_in_subprocess(config, workdir, kill_when=saving_after_first_checkpoint)
  checkpointer = Checkpointer(workdir, read_only=True)
  resumed_from = checkpointer.latest_step()
  checkpointer.close()
  assert resumed_from is not None and resumed_from < 1000
  config.train.num_steps = resumed_from + 2
  run_in_subprocess(config, workdir)
  assert wae_jax.load(workdir).step == resumed_from + 2
  assert not [n for n in os.listdir(directory) if 'tmp' in n]


def test_non_finite_loss_stops_and_keeps_the_last_good_checkpoint(image_folder, tmp_path):
  workdir = str(tmp_path / 'nan')
  train.train_and_evaluate(tiny_config(image_folder, num_steps=2), workdir)
  config = tiny_config(image_folder, num_steps=4)
  config.objective.cost_scale = float('nan')
  with pytest.raises(hooks.NonFiniteLossError, match='at step 3'):
    train.train_and_evaluate(config, workdir)
  assert wae_jax.load(workdir).step == 2
  assert sorted(os.listdir(checkpoint_dir(workdir))) == ['2']


def test_bad_settings_fail_with_one_line_errors(image_folder, tmp_path):
  config = tiny_config(image_folder)
  config.train.batch_size = 3
  with pytest.raises(ConfigError, match='divisible'):
    train.train_and_evaluate(config, str(tmp_path / 'a'))
  for size in (0, -4):
    config.train.batch_size = size
    with pytest.raises(ConfigError, match=f'batch_size={size}: the batch size must be positive'):
      train.train_and_evaluate(config, str(tmp_path / 'a'))
  config = tiny_config(image_folder)
  for steps in (0, -5):  # -5 once trained 100 epochs silently; only -1 means "unset"
    config.train.num_steps = steps
    with pytest.raises(ConfigError, match=f'num_steps={steps}: give a positive number of steps, or -1'):
      train.train_and_evaluate(config, str(tmp_path / 'a'))
  config = tiny_config(image_folder)
  config.train.keep_checkpoints = 0  # once trained, exited 0 and kept no checkpoint
  with pytest.raises(ConfigError, match='keep_checkpoints=0 would delete every checkpoint'):
    train.train_and_evaluate(config, str(tmp_path / 'a'))
  config = tiny_config(image_folder)
  config.data.source = 'imagenet'
  with pytest.raises(DataError, match='imagenet'):
    train.train_and_evaluate(config, str(tmp_path / 'b'))
  config = tiny_config(image_folder)
  config.objective.name = 'wae_sinkhorn'
  with pytest.raises(ConfigError, match='wae_sinkhorn'):
    train.train_and_evaluate(config, str(tmp_path / 'c'))
  blocker = tmp_path / 'a_file'
  blocker.write_text('not a directory')
  with pytest.raises(WorkdirError, match='a_file'):
    train.train_and_evaluate(tiny_config(image_folder), str(blocker / 'run'))
  with pytest.raises(WorkdirError, match='a_file is a file, not a directory'):  # was "File exists"
    train.train_and_evaluate(tiny_config(image_folder), str(blocker))


RESTART_NOTE = 'launch.py: restarting once'  # huge_pages, where the machine supports it


def launch(*args):
  """launch.py as a program; its stderr without the one line saying that it restarted itself."""
  result = subprocess.run([sys.executable, 'launch.py', *args], cwd=REPO, capture_output=True,
                          text=True, timeout=300)
  lines = result.stderr.splitlines()
  assert sum(line.startswith(RESTART_NOTE) for line in lines) <= 1, result.stderr
  result.stderr = '\n'.join(line for line in lines if not line.startswith(RESTART_NOTE))
  return result


def test_resuming_with_a_changed_model_is_one_line_naming_the_fields(image_folder, tmp_path, capsys):
  workdir = str(tmp_path / 'run')
  train.train_and_evaluate(tiny_config(image_folder, num_steps=1), workdir)
  config_file = tmp_path / 'tiny.py'
  config_file.write_text(f'import sys\nsys.path.insert(0, {os.path.dirname(__file__)!r})\n'
                         'from test_train import tiny_config\n\n\n'
                         f'def get_config():\n  return tiny_config({image_folder!r})\n')
  result = launch(f'--config={config_file}', f'--workdir={workdir}', '--config.model.latent_dim=8',
                  '--config.dtype=bfloat16', '--config.train.num_steps=2')
  assert result.returncode == 1
  assert result.stderr.strip().splitlines() == [
      f'error: {workdir} holds a checkpoint (step 1) of another model or data: dtype: '
      "'float32' in the checkpoint, 'bfloat16' now; model.latent_dim: 4 in the checkpoint, 8 now. "
      'Resume with the config it was trained with, or start a new run with another --workdir']

  capsys.readouterr()
  config = tiny_config(image_folder, num_steps=2)
  config.train.log_every = 2
  train.train_and_evaluate(config, workdir)  # steps, logging, ... may change
  assert (f'Resuming from the checkpoint of step 1 in {workdir}; changed since: '
          'train.log_every 1 -> 2, train.num_steps 1 -> 2.') in capsys.readouterr().out
  assert wae_jax.load(workdir).step == 2


def test_periodic_hooks_run_every_n_steps_and_after_the_last():
  every_3 = hooks.Every(3, last=10)
  assert [step for step in range(1, 11) if every_3.due(step)] == [3, 6, 9, 10]
  not_at_end = hooks.Every(3, last=10, at_end=False)
  assert [step for step in range(1, 11) if not_at_end.due(step)] == [3, 6, 9]
  assert not any(hooks.Every(0, last=10, at_end=False).due(step) for step in range(1, 11))


def test_a_field_added_after_a_checkpoint_counts_as_its_default_there():
  saved = json.loads(base_config().to_json())
  del saved['model']['encoder_widths']  # a checkpoint from before the field existed
  assert config_changes(saved, base_config()) == {}
  changed = base_config()
  changed.model.encoder_widths = (8, 16, 32, 64)
  assert config_changes(saved, changed) == {'model.encoder_widths': (None, [8, 16, 32, 64])}
  # Loading such a checkpoint's config (api.load, the evaluator, figures) fills in the default.
  del saved['eval']['recompute_batch_stats']
  saved['eval']['num_samples'] = 7
  loaded = config_from_meta({'config': saved})
  assert loaded.eval.recompute_batch_stats == 0 and loaded.eval.num_samples == 7


def test_launcher_flag_mistakes_are_one_line_and_help_succeeds():
  result = launch('--config=configs/demo.py', '--config.model.latnt_dim=16')
  assert result.returncode == 1
  assert result.stderr.strip() == (
      'error: --config.model.latnt_dim: no such config field; did you mean '
      '--config.model.latent_dim? All fields, with their defaults and meaning: '
      'wae_jax/config_defaults.py')
  result = launch('--config=configs/demo.py', '--config.foo=1')
  assert result.returncode == 1 and result.stderr.strip().splitlines() == [
      'error: --config.foo: no such config field. All fields, with their defaults and meaning: '
      'wae_jax/config_defaults.py']
  result = launch('--config=configs/swae.py', '--config.objective.swae.num_projection=5')
  assert result.returncode == 1 and result.stderr.strip() == (
      'error: --config.objective.swae.num_projection: no such config field; did you mean '
      '--config.objective.swae.num_projections? All fields, with their defaults and meaning: '
      'wae_jax/objectives/swae.py')
  result = launch('--config=configs/nope.py')  # once two library tracebacks, 32 lines
  assert result.returncode == 1 and result.stderr.strip().splitlines() == [
      'error: --config=configs/nope.py: no such config file; the experiment and study configs are in configs/']
  result = launch('--mode=study', '--config=configs/study_thesis.py:nope', '--workdir=unused')
  assert result.returncode == 1 and result.stderr.strip().splitlines() == [
      "error: --config=configs/study_thesis.py:nope: unknown preset 'nope': use tiny, sweep, cpu, "
      'gpu, gpu128, full, beyond, budget32 or budget64 (configs that take one: configs/study_thesis.py)']
  result = launch('--help')
  assert result.returncode == 0, result.stderr[-2000:]
  assert '--workdir' in result.stdout and '--mode' in result.stdout


def test_launcher_without_celeba_says_where_to_put_it(tmp_path):
  env = dict(os.environ, CELEBA_DIR=str(tmp_path / 'no_celeba'))
  result = subprocess.run(
      [sys.executable, 'launch.py', '--config=configs/wae_resnet.py', f'--workdir={tmp_path / "w"}'],
      cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
  assert result.returncode == 1
  assert 'Traceback' not in result.stderr
  message = result.stderr.strip().splitlines()[-1]
  assert message.startswith('error: CelebA not found')
  assert 'configs/demo.py' in message


def test_summary_mode_prints_parameter_counts():
  result = subprocess.run(
      [sys.executable, 'launch.py', '--config=configs/wae_resnet.py', '--mode=summary'],
      cwd=REPO, capture_output=True, text=True, timeout=300)
  assert result.returncode == 0, result.stderr[-2000:]
  lines = result.stdout.splitlines()
  counts = {line.split(' params:')[0]: int(line.split('params: ')[1].split()[0])
            for line in lines if ' params: ' in line}
  assert set(counts) == {'encoder', 'decoder', 'discriminator'}
  assert all(count > 0 for count in counts.values())


def test_fid_during_training_is_logged_to_tensorboard(image_folder, tmp_path):
  config = tiny_config(image_folder, num_steps=4)
  config.train.fid_every = 2
  config.eval.num_during_training = 6

  def mean_colour(images):  # a stand-in FID network: 3 features per image
    assert images.dtype == np.uint8
    return images.reshape(len(images), -1, 3).mean(axis=1).astype(np.float32)

  rng = np.random.default_rng(0)
  reference = rng.normal(size=(50, 3)) * 20 + 128
  evaluator = evaluation.Evaluator(config, feature_extractor=mean_colour,
                                   reference=evaluation.Reference.of_features(reference))
  workdir = str(tmp_path / 'fid')
  train.train_and_evaluate(config, workdir, evaluator=evaluator)
  scalars = read_scalars(workdir)
  assert [step for step, _ in scalars['eval/fid_samples']] == [2, 4]
  assert all(np.isfinite(value) and value > 0 for _, value in scalars['eval/fid_samples'])
  assert [step for step, _ in scalars['train/loss']] == [1, 2, 3, 4]


@pytest.fixture
def folder_with_corrupt_images(tmp_path):
  """24 PNGs of which 8 are empty (zero bytes), 2 garbage and 2 truncated."""
  root = tmp_path / 'images'
  root.mkdir()
  rng = np.random.default_rng(0)
  for i in range(24):
    Image.fromarray(rng.integers(0, 256, (20, 20, 3), dtype=np.uint8)).save(root / f'{i:03d}.png')
  empty = [root / f'{i:03d}.png' for i in range(0, 16, 2)]
  for path in empty:
    path.write_bytes(b'')
  for i in (17, 19):
    (root / f'{i:03d}.png').write_bytes(rng.bytes(500))
  for i in (21, 23):
    path = root / f'{i:03d}.png'
    path.write_bytes(path.read_bytes()[:200])
  return str(root), {str(path) for path in empty}


def test_corrupt_images_are_reported_listed_and_kept_across_a_resume(folder_with_corrupt_images,
                                                                      tmp_path, capsys):
  folder, empty = folder_with_corrupt_images
  workdir = str(tmp_path / 'run')
  list_file = os.path.join(workdir, hooks.CORRUPT_LIST)

  def listed():
    with open(list_file) as file:
      return dict(line.rstrip('\n').split('\t') for line in file)

  train.train_and_evaluate(tiny_config(folder, num_steps=2), workdir)  # shorter than an epoch
  printed = capsys.readouterr().out
  first = listed()
  assert first and any(location in empty for location in first)
  assert all(reason == 'empty file' for location, reason in first.items() if location in empty)
  assert 'corrupt image(s) skipped so far' in printed and list_file in printed
  _, meta = restore_states(tiny_config(folder), workdir)
  assert meta['data']['corrupt'] == first

  train.train_and_evaluate(tiny_config(folder, num_steps=6), workdir)  # resumed, past an epoch
  assert set(first) <= set(listed())
  counts = [value for _, value in sorted(read_scalars(workdir)['data/corrupt'])]
  assert len(counts) == 6 and counts == sorted(counts) and counts[-1] == len(listed())
