"""The evaluator kinds as parts: the latent diagnostics against scipy, the registry of types (a
new evaluator is one module and one config.evals block), metrics.json's migration, and the
evaluators of the training loop."""

import json

import numpy as np
import pytest
from scipy import stats
from scipy.special import logsumexp

from wae_jax import api, evaluation, run_modes, samplers
from wae_jax.samplers import gmm
from wae_jax.errors import ConfigError
from wae_jax.evaluation.evaluators import latent
from test_evaluation import (  # noqa: F401  (config, image_folder: fixtures)
    TEST_IMAGES, FakeExtractor, LinearModel, config, image_folder, real_test_images, reference_of)


def random_mixture(d: int, k: int = 3) -> gmm.GaussianMixture:
  rng = np.random.default_rng(4)
  factors = rng.normal(size=(k, d, d)) * 0.3
  return gmm.GaussianMixture(rng.random(k) + 0.5, rng.normal(size=(k, d)),
                                  factors @ factors.transpose(0, 2, 1) + np.eye(d))


def test_latent_diagnostics_match_scipy_over_batches():
  codes = np.random.default_rng(3).normal(1.0, 2.0, size=(50, 5)).astype(np.float32)
  mixture, sigma_z = random_mixture(5), 1.5
  sums = latent.batch_sums(codes[:20], sigma_z, mixture) + latent.batch_sums(codes[20:], sigma_z, mixture)
  values = latent.diagnostics(sums, with_mixture=True)
  exact = codes.astype(np.float64)
  assert values['count'] == 50
  assert values['total_variance'] == pytest.approx(np.trace(np.cov(exact, rowvar=False)), rel=1e-9)
  assert values['mean_norm'] == pytest.approx(np.linalg.norm(exact.mean(0)), rel=1e-9)
  prior = stats.multivariate_normal(np.zeros(5), sigma_z ** 2 * np.eye(5)).logpdf(exact)
  assert values['log_density_prior'] == pytest.approx(prior.mean(), rel=1e-9)
  weights = mixture.weights / mixture.weights.sum()
  components = [np.log(w) + stats.multivariate_normal(m, c).logpdf(exact)
                for w, m, c in zip(weights, mixture.means, mixture.covariances)]
  assert values['log_density_gmm'] == pytest.approx(logsumexp(components, axis=0).mean(), rel=1e-9)
  assert 'log_density_gmm' not in latent.diagnostics(latent.batch_sums(codes, sigma_z), False)


def test_the_latent_part_scores_the_test_codes_and_leaves_the_other_parts_unchanged(config, tmp_path):
  reals = real_test_images(config)
  reference = reference_of(reals)
  config.eval.sampler = 'gmm'
  model = LinearModel(config)
  results = dict(evaluation.Evaluator(config, FakeExtractor(), reference).run(model, str(tmp_path)))
  codes = model.encode(reals / 255.0).astype(np.float64)  # the pipeline's float images
  mixture = model.code_mixture()
  assert results['latent/count'] == TEST_IMAGES
  assert results['latent/total_variance'] == pytest.approx(np.trace(np.cov(codes, rowvar=False)), rel=1e-6)
  assert results['latent/log_density_gmm'] == pytest.approx(np.mean(logsumexp(
      [np.log(0.5) + stats.multivariate_normal(m, c).logpdf(codes)
       for m, c in zip(mixture.means, mixture.covariances)], axis=0)), rel=1e-6)
  record = evaluation.read_metrics(str(tmp_path))
  assert record['parts']['latent']['settings']['sampler'].startswith('gmm: ')
  without = dict(evaluation.Evaluator(config, FakeExtractor(), reference).run(
      LinearModel(config), None, ('samples', 'reconstructions', 'interpolations', 'real')))
  assert without == {name: value for name, value in results.items() if not name.startswith('latent/')}


def test_migrate_upgrades_a_record_without_a_schema_and_read_metrics_returns_it(tmp_path):
  old = {'step': 3, 'parts': {'samples': {'fid': 1.0, 'settings': {'num_images': 5}},
                              'real': {'fid': 2.0, 'settings': {'split': 'train'}}}}
  new = evaluation.migrate(old)
  assert new['schema'] == evaluation.results.SCHEMA and 'schema' not in old
  assert new['parts']['samples']['settings'] == {'num_images': 5, 'sampler': 'prior'}
  assert new['parts']['real'] == old['parts']['real']
  assert evaluation.migrate(new) == new
  (tmp_path / 'eval').mkdir()
  (tmp_path / 'eval' / 'metrics.json').write_text(json.dumps(old))
  assert evaluation.read_metrics(str(tmp_path), ('samples',)) == new


def test_eval_dir_names_the_step_and_the_sampler():
  assert evaluation.eval_dir() == evaluation.eval_dir(10, 10) == 'eval'
  assert evaluation.eval_dir(5, 10) == 'eval_step5'
  assert evaluation.eval_dir(sampler='gmm') == 'eval_gmm'
  assert evaluation.eval_dir(5, 10, 'gmm') == 'eval_step5_gmm'


def test_periodic_evaluators_give_the_training_fid_and_blocks_with_every(config):
  reference = reference_of(real_test_images(config))
  model = LinearModel(config)
  full = dict(evaluation.Evaluator(config, FakeExtractor(), reference).run(model, None, ('samples',)))
  assert evaluation.periodic_evaluators(config, FakeExtractor(), reference) == []
  config.train.fid_every, config.eval.num_during_training = 5, config.eval.num_samples
  config.evals.latent.every = 3
  periodic = evaluation.periodic_evaluators(config, FakeExtractor(), reference)
  assert [(each.name, each.every) for each in periodic] == [('fid_samples', 5), ('latent', 3)]
  assert periodic[0].evaluate(model) == {'eval/fid_samples': pytest.approx(full['samples/fid'], rel=1e-12)}
  assert set(periodic[1].evaluate(model)) == {'eval/latent/count', 'eval/latent/total_variance',
                                              'eval/latent/mean_norm', 'eval/latent/log_density_prior'}


BRIGHTNESS = '''
"""A new evaluator kind, outside wae_jax: the mean pixel of a model's first reconstructions."""

from wae_jax import data


class Brightness:
  needs_model, needs_reference = True, False

  def __init__(self, name, config, block):
    self.config, self.num_images = config, block.num_images

  def settings(self):
    return {'num_images': self.num_images}

  def evaluate(self, model, context):
    images = next(iter(data.eval_batches(self.config.data, 'test', self.config.model.image_size,
                                         self.num_images, max_images=self.num_images)))
    return {'mean_pixel': float(model.reconstruct(images).mean())}
'''


def test_a_new_evaluator_is_one_module_and_one_block_run_by_mode_eval(config, tmp_path, monkeypatch):
  (tmp_path / 'brightness_eval.py').write_text(BRIGHTNESS)
  monkeypatch.syspath_prepend(str(tmp_path))
  model = LinearModel(config)
  monkeypatch.setattr(api, 'load', lambda workdir: model)
  monkeypatch.setattr(evaluation.reference, 'make_feature_extractor', lambda config: FakeExtractor())
  config.eval.reference_stats = evaluation.compute_reference_stats(config, str(tmp_path / 's.npz'),
                                                                   FakeExtractor())
  config.evals.brightness = {'type': 'brightness_eval:Brightness', 'every': 0, 'num_images': 4}
  run_modes.MODES['eval'](config=config, workdir=str(tmp_path / 'run'))
  record = evaluation.read_metrics(str(tmp_path / 'run'), evaluation.PARTS + ('brightness',))
  expected = float(real_test_images(config)[:4].mean() / 255.0)
  assert record['parts']['brightness'] == {'mean_pixel': pytest.approx(expected, rel=1e-5),
                                           'settings': {'num_images': 4}}
  config.evals.brightness.type = 'brightness_eval:Missing'
  with pytest.raises(ConfigError, match="'brightness_eval:Missing'"):
    evaluation.Evaluator(config, FakeExtractor(), reference_of(real_test_images(config))).settings()
