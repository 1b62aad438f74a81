"""The evaluator with fakes: a fake FID network (pooled pixels), fake models (linear decoders) and a
tiny folder of PNGs as the test split, so no Inception weights and no trained model are needed."""

import json
import os
import weakref

import ml_collections
import numpy as np
import pytest
from PIL import Image

from wae_jax import data, evaluation, figures, fid, metrics, samplers
from wae_jax.samplers import gmm
from wae_jax.evaluation import runner, scores
from wae_jax.config_defaults import base_config
from wae_jax.errors import InputError

SIZE = 8
TEST_IMAGES = 14


class FakeExtractor:
  """Features: 2x2 mean-pooled pixels per channel, projected to 6 dims. Equal image sets have
  equal statistics; it insists on uint8 input (the evaluator quantises) and counts its work."""

  def __init__(self, on_input=None):
    self.projection = np.random.default_rng(1).normal(size=(12, 6))
    self.images = 0
    self.largest_batch = 0
    self.on_input = on_input

  def __call__(self, images):
    assert images.dtype == np.uint8
    if self.on_input:
      self.on_input(images)
    self.images += len(images)
    self.largest_batch = max(self.largest_batch, len(images))
    n, h, w, c = images.shape
    pooled = (images / 255.0).reshape(n, 2, h // 2, 2, w // 2, c).mean(axis=(2, 4)).reshape(n, -1)
    return (pooled @ self.projection).astype(np.float32)


class LinearModel:
  """A fake trained model with a linear decoder: code = the image times `scale`, decode = the code
  divided by it (so reconstructions are exact); samples are prior noise, far from faces."""

  def __init__(self, config, name='wae_resnet', objective='wae_gan', step=7, scale=2.0,
               on_output=None):
    self.config = ml_collections.ConfigDict(config.to_dict())
    self.config.model.name, self.config.objective.name = name, objective
    self.step = step
    self.scale = scale
    self.shape = (config.model.image_size, config.model.image_size, 3)
    self.latent_dim = int(np.prod(self.shape))
    self.largest_batch = 0
    self.on_output = on_output
    self.samplers_used = set()

  def _out(self, array):
    self.largest_batch = max(self.largest_batch, len(array))
    if self.on_output:
      self.on_output(array)
    return array

  def encode(self, images):
    return self._out(np.asarray(images, np.float32).reshape(len(images), -1) * self.scale)

  def decode(self, z):
    return self._out((np.asarray(z, np.float32) / self.scale).reshape((len(z),) + self.shape))

  def sample_prior(self, n, seed):
    rng = np.random.default_rng(seed)
    return (self.config.objective.sigma_z * rng.normal(size=(n, self.latent_dim))).astype(np.float32)

  def sample(self, n, seed, sampler='prior', config=None):
    self.samplers_used.add(sampler)
    shift = 0.0 if sampler == 'prior' else 1.0  # the stand-in 'gmm' codes: the prior's, moved
    return self.decode(self.sample_prior(n, seed) + shift)

  def code_mixture(self, config=None):
    """The stand-in 'gmm' sampler's mixture: two unit Gaussians, at the origin and at 1."""
    d = self.latent_dim
    return gmm.GaussianMixture(np.array([0.5, 0.5]), np.stack([np.zeros(d), np.ones(d)]),
                                    np.stack([np.eye(d), np.eye(d)]))

  def reconstruct(self, images):
    return self.decode(self.encode(images))

  def interpolate(self, x_a, x_b, steps):
    z_a, z_b = self.encode(np.stack([x_a, x_b]))
    return self.decode(np.stack([(1 - t) * z_a + t * z_b for t in np.linspace(0, 1, steps)]))


@pytest.fixture(scope='module')
def image_folder(tmp_path_factory):
  """TEST_IMAGES smooth random 8x8 PNGs in the test split, as many others in train."""
  root = tmp_path_factory.mktemp('split')
  folder = root / 'images'
  folder.mkdir()
  rng = np.random.default_rng(0)
  lines = []
  for i in range(2 * TEST_IMAGES):
    base = rng.integers(0, 256, (4, 4, 3)).astype(np.uint8)
    Image.fromarray(base).resize((SIZE, SIZE), Image.BILINEAR).save(folder / f'{i:06d}.png')
    lines.append(f'{i:06d}.png {2 if i < TEST_IMAGES else 0}')
  (root / 'split.txt').write_text('\n'.join(lines) + '\n')
  return root


@pytest.fixture
def config(image_folder):
  config = base_config()
  config.model.image_size = SIZE
  config.data.source = 'folder'
  config.data.path = str(image_folder / 'images')
  config.data.split_file = str(image_folder / 'split.txt')
  config.data.crop = 0
  config.data.workers = 0
  config.eval.batch_size = 4
  config.eval.num_samples = 24
  config.eval.num_reconstructions = -1
  config.eval.num_interpolations = 5
  config.eval.interpolation_steps = 4
  return config


def real_test_images(config, split='test'):
  """A split as uint8, read through the data pipeline (what the evaluator sees)."""
  batches = data.eval_batches(config.data, split, SIZE, 100)
  return figures.to_uint8(np.concatenate(list(batches)))


def reference_of(images):
  """The reference of the fake features: mean and covariance by numpy directly, and the features."""
  features = FakeExtractor()(images).astype(np.float64)
  return scores.Reference(features.mean(axis=0), np.cov(features, rowvar=False), features)


def test_run_scores_every_part_and_writes_metrics_and_figures(config, tmp_path):
  reals = real_test_images(config)
  evaluator = evaluation.Evaluator(config, FakeExtractor(), reference_of(reals))
  model = LinearModel(config)
  results = dict(evaluator.run(model, str(tmp_path)))

  # Exact reconstructions equal the reference set; the real row is other (train) images.
  assert results['reconstructions/fid'] == pytest.approx(0.0, abs=1e-8)
  assert results['reconstructions/precision'] == results['reconstructions/recall'] == 1.0
  assert (results['reconstructions/mse'], results['reconstructions/psnr']) == (0.0, 100.0)
  assert 'samples/mse' not in results and 'real/psnr' not in results  # no originals there
  assert 0.0 < results['real/fid'] < results['samples/fid']  # prior noise is nothing like images
  train = real_test_images(config, 'train')
  for name, score in scores.PIXEL_SCORES.items():
    assert results[f'real/{name}'] == pytest.approx(float(score(train)), rel=1e-5)
    assert results[f'reconstructions/{name}'] == pytest.approx(float(score(reals)), rel=1e-5)
  expected_real = scores.result(scores.ImageSet(FakeExtractor()(train).astype(np.float64), {
      name: float(score(train)) for name, score in scores.PIXEL_SCORES.items()}), reference_of(reals))
  for name in ('fid', 'kid', 'kid_std', 'precision', 'recall'):
    assert results[f'real/{name}'] == pytest.approx(expected_real[name], rel=1e-5, abs=1e-9)
  assert (results['samples/count'], results['reconstructions/count'], results['real/count']) == (
      24, TEST_IMAGES, TEST_IMAGES)

  # Interpolations: pairs (0, 1) ... (8, 9), t = 1/3 and 2/3 scored (the ends are reconstructions).
  blends = [figures.to_uint8((1 - t) * (reals[2 * p] / 255.0) + t * (reals[2 * p + 1] / 255.0))
            for p in range(5) for t in (1 / 3, 2 / 3)]
  assert results['interpolations/count'] == 10
  assert results['interpolations/sharpness'] == pytest.approx(float(metrics.sharpness(np.stack(blends))),
                                                              rel=1e-4)

  record = json.loads((tmp_path / 'eval' / 'metrics.json').read_text())
  assert record['step'] == 7 and record['model'] == 'wae_resnet' and record['objective'] == 'wae_gan'
  assert record['protocol']['data'] == data.protocol(config.data, 'test', SIZE)
  assert record['parts']['interpolations']['settings'] == {
      'pairs': 5, 'steps': 4, 'save_images': False, 'feature_images': 10,
      'batch_stats': 'running averages of training'}
  assert record['parts']['real']['settings'] == {'num_images': TEST_IMAGES, 'split': 'train',
                                                 'save_images': False, 'feature_images': TEST_IMAGES}
  assert record['parts']['samples']['fid'] == results['samples/fid']

  samples = np.asarray(Image.open(tmp_path / 'eval' / 'samples.png'))
  assert samples.shape == (3 * (SIZE + figures.PAD) + figures.PAD, 8 * (SIZE + figures.PAD) + figures.PAD, 3)
  rows = np.asarray(Image.open(tmp_path / 'eval' / 'interpolations.png'))
  def tile(col):
    left = figures.PAD + col * (SIZE + figures.PAD)
    return rows[figures.PAD:figures.PAD + SIZE, left:left + SIZE]
  np.testing.assert_array_equal(tile(0), reals[0])  # original a, its reconstruction, ..., original b
  np.testing.assert_array_equal(tile(1), reals[0])
  np.testing.assert_array_equal(tile(5), reals[1])
  assert os.path.isfile(tmp_path / 'eval' / 'reconstructions.png')


def test_feature_images_caps_the_inception_images_while_pixel_and_paired_scores_use_all(config):
  reals = real_test_images(config)
  config.eval.feature_images = 6
  extractor = FakeExtractor()
  evaluator = evaluation.Evaluator(config, extractor, reference_of(reals))
  results = dict(evaluator.run(LinearModel(config), None, ('samples', 'reconstructions')))
  assert (results['samples/count'], results['samples/images']) == (6, 24)
  assert (results['reconstructions/count'], results['reconstructions/images']) == (6, TEST_IMAGES)
  assert results['reconstructions/sharpness'] == pytest.approx(float(metrics.sharpness(reals)), rel=1e-5)
  features = extractor(reals[:6]).astype(np.float64)  # the first 6 reconstructions (exact)
  reference = reference_of(reals)
  assert results['reconstructions/fid'] == pytest.approx(fid.frechet_distance(
      features.mean(0), np.cov(features, rowvar=False), reference.mean, reference.covariance), rel=1e-6)
  assert evaluator.settings()['samples']['feature_images'] == 6


def test_interpolation_codes_run_evenly_from_each_first_code_to_its_second():
  z = np.arange(12, dtype=np.float32).reshape(4, 3)
  codes = evaluation.interpolation_codes(z, steps=5)
  assert codes.shape == (2, 5, 3)
  np.testing.assert_allclose(codes[:, 0], z[0::2])
  np.testing.assert_allclose(codes[:, -1], z[1::2])
  np.testing.assert_allclose(codes[1, 2], (z[2] + z[3]) / 2)


def test_the_training_fid_of_samples_is_the_samples_part_of_run(config):
  """The loop's FID (runner.samples_fid) draws the codes of the samples part."""
  reference = reference_of(real_test_images(config))
  model = LinearModel(config)
  results = dict(evaluation.Evaluator(config, FakeExtractor(), reference).run(model))
  fid_of = lambda n: runner.samples_fid(model, config, n, FakeExtractor(), reference)
  assert fid_of(24) == pytest.approx(results['samples/fid'], rel=1e-9)
  assert fid_of(12) != pytest.approx(results['samples/fid'], rel=1e-3)


def test_the_samples_come_from_the_configured_sampler_and_the_settings_say_which(config, tmp_path):
  reals = real_test_images(config)
  prior_model, gmm_model = LinearModel(config), LinearModel(config)
  prior = dict(evaluation.Evaluator(config, FakeExtractor(), reference_of(reals)).run(prior_model))
  config.eval.sampler = 'gmm'
  evaluator = evaluation.Evaluator(config, FakeExtractor(), reference_of(reals))
  gmm = dict(evaluator.run(gmm_model, str(tmp_path)))
  assert prior_model.samplers_used == {'prior'} and gmm_model.samplers_used == {'gmm'}
  assert gmm['samples/fid'] != pytest.approx(prior['samples/fid'], rel=1e-3)
  assert gmm['reconstructions/fid'] == pytest.approx(prior['reconstructions/fid'], rel=1e-9)
  settings = evaluation.read_metrics(str(tmp_path))['parts']['samples']['settings']
  assert settings['sampler'].startswith('gmm: 10 full-covariance Gaussians')
  config.eval.sampler = 'vamp'
  with pytest.raises(InputError, match="sampler 'vamp'"):
    evaluation.Evaluator(config, FakeExtractor(), reference_of(reals)).run(LinearModel(config)).__next__()


def test_missing_reference_stats_say_the_command_that_makes_them(config):
  with pytest.raises(evaluation.EvaluationError) as error:
    evaluation.Evaluator(config, FakeExtractor())
  message = str(error.value)
  assert os.path.join(config.data.path, 'fid_stats_test_8.npz') in message
  assert 'python launch.py --config=' in message and '--mode=stats' in message
  assert '\n' not in message


def test_reference_stats_are_made_streaming_and_then_used(config):
  extractor = FakeExtractor()
  path = evaluation.compute_reference_stats(config, feature_extractor=extractor)
  try:
    assert path == os.path.join(config.data.path, 'fid_stats_test_8.npz')
    assert extractor.largest_batch <= config.eval.batch_size
    mean, covariance, count, protocol = fid.load_statistics(path)
    expected = reference_of(real_test_images(config))
    expected_mean, expected_covariance = expected.mean, expected.covariance
    assert count == TEST_IMAGES and protocol == data.protocol(config.data, 'test', SIZE)
    np.testing.assert_allclose(mean, expected_mean, rtol=1e-6)
    np.testing.assert_allclose(covariance, expected_covariance, rtol=1e-6, atol=1e-12)
    evaluator = evaluation.Evaluator(config, FakeExtractor())
    np.testing.assert_allclose(evaluator.reference.mean, expected_mean, rtol=1e-6)
    np.testing.assert_allclose(evaluator.reference.features, FakeExtractor()(real_test_images(config)))
  finally:
    os.remove(path)


def test_statistics_of_another_protocol_are_refused_naming_the_field(config, tmp_path):
  path = evaluation.compute_reference_stats(config, str(tmp_path / 'stats.npz'), FakeExtractor())
  config.eval.reference_stats = path
  config.model.image_size = 4
  with pytest.raises(evaluation.EvaluationError) as error:
    evaluation.Evaluator(config, FakeExtractor())
  assert 'resolution' in str(error.value) and '--mode=stats' in str(error.value)


def test_evaluation_resumes_the_parts_already_in_metrics_json(config, tmp_path):
  reference = reference_of(real_test_images(config))
  model = LinearModel(config)
  first = dict(evaluation.Evaluator(config, FakeExtractor(), reference).run(model, str(tmp_path)))

  extractor = FakeExtractor()
  again = dict(evaluation.Evaluator(config, extractor, reference).run(model, str(tmp_path)))
  assert extractor.images == 0 and again == first

  # A metrics.json of schema 1 (no 'schema' key, no 'sampler' setting): its samples were the prior's.
  path = tmp_path / 'eval' / 'metrics.json'
  written = json.loads(path.read_text())
  assert written['schema'] == evaluation.results.SCHEMA
  del written['schema'], written['parts']['samples']['settings']['sampler']
  path.write_text(json.dumps(written))
  extractor = FakeExtractor()
  assert dict(evaluation.Evaluator(config, extractor, reference).run(model, str(tmp_path))) == first
  assert extractor.images == 0

  config.eval.num_samples = 16  # only the samples part is stale
  extractor = FakeExtractor()
  changed = dict(evaluation.Evaluator(config, extractor, reference).run(model, str(tmp_path)))
  assert extractor.images == 16 and changed['samples/count'] == 16
  assert changed['reconstructions/fid'] == first['reconstructions/fid']

  extractor = FakeExtractor()  # another checkpoint: everything again
  dict(evaluation.Evaluator(config, extractor, reference).run(LinearModel(config, step=8), str(tmp_path)))
  assert extractor.images == 16 + 2 * TEST_IMAGES + 10


class LiveArrays:
  """Weak references to arrays the evaluator handles; records the most alive at any one time."""

  def __init__(self):
    self.refs = []
    self.most_alive = 0

  def __call__(self, array):
    self.refs = [ref for ref in self.refs if ref() is not None] + [weakref.ref(array)]
    self.most_alive = max(self.most_alive, len(self.refs))


def most_arrays_alive(config, monkeypatch, n):
  """Evaluates a fake split of n images (batches of 4) and n samples; returns the most data
  batches, model outputs and FID inputs alive at once, after checking every image was seen."""
  live = LiveArrays()
  batches_made = []

  def eval_batches(data_config, split, image_size, batch_size, max_images=-1, start=0):
    total = n if max_images < 0 else min(start + max_images, n)
    for start in range(start, total, batch_size):
      batch = np.random.default_rng(start).random((min(batch_size, total - start), SIZE, SIZE, 3),
                                                  dtype=np.float32)
      live(batch)
      batches_made.append(len(batch))
      yield batch

  monkeypatch.setattr(data, 'eval_batches', eval_batches)
  monkeypatch.setattr(data, 'num_images', lambda data_config, split: n)
  monkeypatch.setattr(data, 'protocol', lambda data_config, split, size: {'dataset': 'fake'})
  config.eval.num_samples = n
  config.eval.num_interpolations = n // 2
  extractor = FakeExtractor(on_input=live)
  model = LinearModel(config, on_output=live)
  reference = reference_of(figures.to_uint8(np.random.default_rng(2).random((50, SIZE, SIZE, 3))))
  results = dict(evaluation.Evaluator(config, extractor, reference).run(model))

  assert sum(batches_made) == 4 * n  # once each for reconstructions, real images, pairs and codes
  assert results['interpolations/count'] == n  # n / 2 pairs, 2 images between the ends
  assert extractor.largest_batch <= config.eval.batch_size
  assert model.largest_batch <= config.eval.batch_size
  return live.most_alive


def test_memory_stays_flat_in_the_number_of_images(config, monkeypatch):
  """Four times the images (40 batches instead of 10) keep no more arrays alive: the previous
  batch's images and the current batch with its model outputs, never a list of batches."""
  few = most_arrays_alive(config, monkeypatch, 40)
  many = most_arrays_alive(config, monkeypatch, 160)
  assert many == few <= 6


def make_run(config, workdir, model):
  reference = reference_of(real_test_images(config))
  return dict(evaluation.Evaluator(config, FakeExtractor(), reference).run(model, str(workdir)))


def test_compare_writes_tables_4_3_to_4_5_with_the_protocol(config, tmp_path, capsys):
  wae = make_run(config, tmp_path / 'wae_run', LinearModel(config))
  vae = make_run(config, tmp_path / 'vae_run', LinearModel(config, name='vae', objective='vae',
                                                            step=30000, scale=0.5))
  output = tmp_path / 'out' / 'tables.md'
  workdirs = [str(tmp_path / 'wae_run'), str(tmp_path / 'vae_run')]
  assert evaluation.compare(workdirs, str(output)) == [str(output)]  # no checkpoints: no figure
  assert f'no figure: no checkpoints in {workdirs[0]}' in capsys.readouterr().out
  text = output.read_text()
  sections = text.split('## ')[1:]
  assert [s.split(':')[0] for s in sections] == ['Table 4.3', 'Table 4.4', 'Table 4.5']
  for section, part in zip(sections, ['interpolations', 'samples', 'reconstructions']):
    rows = [line for line in section.splitlines() if line.startswith('| ') and '---' not in line]
    assert len(rows) == 4  # header, two runs, real images
    assert rows[1].startswith('| wae_resnet (wae_gan) | ') and 'wae_run @ step 7' in rows[1]
    assert rows[2].startswith('| vae (vae) | ') and 'vae_run @ step 30,000' in rows[2]
    assert rows[3].startswith('| real data | ')
    header = [cell.strip() for cell in rows[0].split('|')[1:-1]]
    paired = ['MSE ↓', 'PSNR (dB) ↑'] if part == 'reconstructions' else []
    assert header == ['Model', 'FID ↓', 'KID x 10^3 ↓', 'Precision ↑', 'Recall ↑', 'Sharpness ↑',
                      'Laplacian sharpness ↑'] + paired + ['N images', 'Run']
    cells = [cell.strip() for cell in rows[1].split('|')[1:-1]]
    if paired:  # exact reconstructions; the real row has no originals
      assert cells[7:9] == ['0.00000', '100.00']
      assert [cell.strip() for cell in rows[3].split('|')[1:-1]][7:9] == ['-', '-']
      cells = cells[:7] + cells[9:]
    assert float(cells[1]) == pytest.approx(wae[f'{part}/fid'], abs=5e-4)
    kid, kid_std = cells[2].split(' ± ')
    assert float(kid) == pytest.approx(1e3 * wae[f'{part}/kid'], abs=5e-4)
    assert float(kid_std) == pytest.approx(1e3 * wae[f'{part}/kid_std'], abs=5e-4)
    assert float(cells[5]) == pytest.approx(wae[f'{part}/sharpness'], abs=5e-4)
    assert int(cells[7].replace(',', '')) == wae[f'{part}/count']
    vae_cells = [cell.strip() for cell in rows[2].split('|')[1:-1]]
    assert float(vae_cells[5]) == pytest.approx(vae[f'{part}/sharpness'], abs=5e-4)
    assert 'Protocol: reference = folder:images test split (14 images), 8x8' in section
    assert 'Real data: the first 14 images of the train split' in section
    assert 'Inception-v3' in section and 'Sharpness: mean over pixels' in section
    assert 'Not comparable' not in section


def test_compare_draws_a_band_per_run_from_the_checkpoint_it_evaluated(config, tmp_path,
                                                                       monkeypatch):
  from wae_jax import api
  models = {str(tmp_path / 'a'): LinearModel(config, step=7, scale=2.0),
            str(tmp_path / 'b'): LinearModel(config, step=9, scale=0.5)}
  for workdir, model in models.items():
    make_run(config, workdir, model)
  loaded = []
  monkeypatch.setattr(api, 'load', lambda workdir, step: loaded.append((workdir, step)) or models[workdir])
  tables, figure_path = evaluation.compare(list(models), str(tmp_path / 'out' / 'cmp.md'))
  assert figure_path == str(tmp_path / 'out' / 'cmp.png')
  assert loaded == [(str(tmp_path / 'a'), 7), (str(tmp_path / 'b'), 9)]
  picture = np.asarray(Image.open(figure_path))
  size, pad = config.model.image_size, figures.PAD
  band = figures.LABEL_HEIGHT + 2 * (size + pad) + pad  # label, then two lines of tiles
  assert picture.shape[0] == figures.LABEL_HEIGHT + 2 * band
  top = figures.LABEL_HEIGHT + band + figures.LABEL_HEIGHT + pad  # band b's first line of tiles

  def tile(left):
    return picture[top:top + size, left:left + size]

  # Band b: model b's first sample, then (after six samples) the eval split's first image.
  np.testing.assert_array_equal(tile(pad), figures.to_uint8(models[str(tmp_path / 'b')].sample(12, config.seed)[0]))
  first = next(iter(data.eval_batches(config.data, config.eval.split, size, 1, max_images=1)))[0]
  np.testing.assert_array_equal(tile(6 * (size + pad) + pad + figures.GAP + pad), figures.to_uint8(first))


def test_compare_names_runs_under_another_protocol(config, tmp_path):
  make_run(config, tmp_path / 'a', LinearModel(config))
  config.eval.num_samples = 12
  make_run(config, tmp_path / 'b', LinearModel(config))
  evaluation.compare([str(tmp_path / 'a'), str(tmp_path / 'b')], str(tmp_path / 't.md'))
  sections = (tmp_path / 't.md').read_text().split('## ')[1:]
  assert 'Not comparable' in sections[1] and str(tmp_path / 'b') in sections[1]
  assert 'Not comparable' not in sections[0] + sections[2]


def test_compare_without_evaluation_says_to_evaluate_first(tmp_path):
  with pytest.raises(evaluation.EvaluationError, match='--mode=eval'):
    evaluation.compare([str(tmp_path)], str(tmp_path / 't.md'))


def test_evaluate_loads_the_checkpoint_and_returns_metrics_json(config, tmp_path, monkeypatch):
  from wae_jax import api
  model = LinearModel(config)
  monkeypatch.setattr(api, 'load', lambda workdir: model)
  monkeypatch.setattr(evaluation.reference, 'make_feature_extractor', lambda config: FakeExtractor())
  config.eval.reference_stats = evaluation.compute_reference_stats(config, str(tmp_path / 's.npz'),
                                                                   FakeExtractor())
  record = evaluation.evaluate(config, str(tmp_path / 'run'))
  assert record == json.loads((tmp_path / 'run' / 'eval' / 'metrics.json').read_text())
  assert set(record['parts']) == set(evaluation.PARTS)
  assert record['parts']['real']['count'] == TEST_IMAGES


def test_default_reference_stats_path_sits_beside_the_data(config, tmp_path, monkeypatch):
  config.data.source, config.data.path = 'celeba', str(tmp_path / 'img_align_celeba.zip')
  (tmp_path / 'img_align_celeba.zip').write_bytes(b'')
  assert evaluation.default_reference_stats_path(config) == str(tmp_path / 'fid_stats_test_8.npz')
  config.data.path = ''
  monkeypatch.setenv('CELEBA_DIR', str(tmp_path / 'celeba'))
  assert evaluation.default_reference_stats_path(config) == str(tmp_path / 'celeba' / 'fid_stats_test_8.npz')
  config.data.source = 'mnist_demo'  # data inside a package: the cache, not the repository
  monkeypatch.setenv('WAE_JAX_CACHE', str(tmp_path / 'cache'))
  assert evaluation.default_reference_stats_path(config) == str(
      tmp_path / 'cache' / 'fid_stats' / 'mnist_demo' / 'fid_stats_test_8.npz')
  config.eval.reference_stats = 'mine.npz'
  assert evaluation.reference_stats_path(config) == 'mine.npz'


SHARED_CELEBA = os.path.join(os.path.dirname(__file__), '..', '..', 'shared', 'data', 'celeba_sample')


@pytest.mark.slow
def test_real_model_and_fid_network_on_the_shared_celeba_sample(tmp_path):
  """End to end with the real parts: an untrained WAE-ResNet (wae_jax.api.Model), the Inception
  weights, the CelebA sample's test split at 32x32."""
  if not os.path.isdir(SHARED_CELEBA):
    pytest.skip(f'the shared CelebA sample is not at {SHARED_CELEBA}')
  import jax
  from wae_jax import api, models
  from wae_jax.train_state import create_train_states
  config = base_config()
  config.model.image_size, config.model.latent_dim, config.model.width = 32, 8, 0.25
  config.data.path = SHARED_CELEBA
  config.data.workers = 0
  config.eval.batch_size = 20
  config.eval.num_samples = config.eval.num_reconstructions = 40
  config.eval.num_interpolations, config.eval.interpolation_steps = 4, 5
  config.eval.reference_stats = str(tmp_path / 'stats.npz')
  try:
    extractor = evaluation.make_feature_extractor(config)
  except evaluation.EvaluationError as error:
    pytest.skip(f'no FID weights: {error}')
  statistics = fid.RunningStatistics()  # of the first 80 test images: quicker than the whole split
  features = [extractor(figures.to_uint8(batch))
              for batch in data.eval_batches(config.data, 'test', 32, 20, max_images=80)]
  statistics.update(np.concatenate(features))
  fid.save_statistics(config.eval.reference_stats, *statistics.mean_and_covariance(), statistics.count,
                      evaluation.data_protocol(config), features=np.concatenate(features))
  ae_state, _ = create_train_states(config, models.build_for(config), jax.random.key(0))
  model = api.Model(config, {'params': ae_state.params, 'batch_stats': ae_state.batch_stats}, step=0)

  results = dict(evaluation.Evaluator(config, extractor).run(model, str(tmp_path / 'run')))
  assert all(np.isfinite(value) for value in results.values())
  # 40 real faces sit far closer to the faces' statistics than an untrained decoder's output.
  assert results['real/fid'] < results['samples/fid'] / 2
  assert results['real/sharpness'] > 1.0 and results['interpolations/count'] == 4 * 3
  for name in ('samples.png', 'reconstructions.png', 'interpolations.png', 'metrics.json'):
    assert os.path.isfile(tmp_path / 'run' / 'eval' / name)


def test_too_few_images_for_fid_is_a_config_error(config):
  config.eval.num_samples = 1
  evaluator = evaluation.Evaluator(config, FakeExtractor(), reference_of(real_test_images(config)))
  with pytest.raises(evaluation.EvaluationError, match='num_samples = 1'):
    evaluator.settings()


def test_save_images_keeps_exactly_the_scored_images_as_uint8_arrays(config, tmp_path):
  reals = real_test_images(config)
  config.eval.save_images = True
  evaluator = evaluation.Evaluator(config, FakeExtractor(), reference_of(reals))
  results = dict(evaluator.run(LinearModel(config), str(tmp_path)))
  image_parts = evaluation.IMAGE_PARTS + ('real',)
  saved = {part: np.load(tmp_path / 'eval' / f'{part}.npy') for part in image_parts}
  assert {part: array.shape[0] for part, array in saved.items()} == {
      part: results[f'{part}/count'] for part in image_parts}
  assert not (tmp_path / 'eval' / 'latent.npy').exists()
  assert all(array.dtype == np.uint8 and array.shape[1:] == (SIZE, SIZE, 3) for array in saved.values())
  np.testing.assert_array_equal(saved['reconstructions'], reals)  # exact reconstructions
  np.testing.assert_array_equal(saved['real'], real_test_images(config, 'train'))
  rescored = scores.ImageScores(FakeExtractor())
  rescored.update(saved['samples'])
  assert rescored.result(reference_of(reals))['fid'] == pytest.approx(results['samples/fid'], rel=1e-9)
