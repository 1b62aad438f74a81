"""Latent samplers: the registry (a new sampler is one module and one line), the 'gmm' sampler's
Gaussian mixture (fitted once to convergence, saved with its settings beside the checkpoint,
refitted when they change, reproducible by seed; recovers a known mixture)."""

import os
import re

import numpy as np
import pytest

import wae_jax
from wae_jax import samplers, train
from wae_jax.errors import ConfigError, InputError
from wae_jax.samplers import gmm

from test_train import tiny_config

TRUE_MEANS = np.array([[-4.0, 0.0], [0.0, 5.0], [4.0, -1.0]])
TRUE_WEIGHTS = np.array([0.5, 0.3, 0.2])
TRUE_COVARIANCES = np.array([[[1.0, 0.5], [0.5, 1.0]], [[0.3, 0.0], [0.0, 2.0]], [[0.5, -0.2], [-0.2, 0.4]]])


def test_a_fitted_mixture_recovers_a_known_one_and_samples_reproducibly():
  truth = gmm.GaussianMixture(TRUE_WEIGHTS, TRUE_MEANS, TRUE_COVARIANCES)
  codes = truth.sample(20_000, seed=0)
  fitted = gmm.fit_gaussian_mixture(codes, components=3, seed=0)
  order = np.argsort(fitted.means[:, 0])  # the components in the truth's order (by first coordinate)
  np.testing.assert_allclose(fitted.means[order], TRUE_MEANS, atol=0.05)
  np.testing.assert_allclose(fitted.weights[order], TRUE_WEIGHTS, atol=0.01)
  np.testing.assert_allclose(fitted.covariances[order], TRUE_COVARIANCES, atol=0.06)
  assert fitted.converged and 0 < fitted.n_iter < 2000
  assert (fitted.settings['max_iter'], fitted.settings['reg_covar'], fitted.settings['components']) == (
      2000, 1e-6, 3)
  # Draws of the truth itself have the mixture's moments (the sampler, checked independently).
  mean = TRUE_WEIGHTS @ TRUE_MEANS
  np.testing.assert_allclose(codes.mean(axis=0), mean, atol=0.05)
  np.testing.assert_array_equal(fitted.sample(5, seed=1), fitted.sample(5, seed=1))
  assert not np.array_equal(fitted.sample(5, seed=1), fitted.sample(5, seed=2))
  with pytest.raises(InputError, match='at least 3 codes'):
    gmm.fit_gaussian_mixture(codes[:2], components=3, seed=0)
  with pytest.raises(ConfigError, match=r'did not converge in 1 EM iterations: raise config\.eval\.gmm_iterations'):
    gmm.fit_gaussian_mixture(codes, components=3, seed=0, max_iter=1)


def test_the_registry_names_the_samplers_and_rejects_an_unknown_one():
  assert tuple(samplers.REGISTRY)[:2] == ('prior', 'gmm')  # a new sampler's line may follow
  assert samplers.get('gmm') is gmm
  known = re.escape(', '.join(samplers.REGISTRY))
  with pytest.raises(InputError, match=rf"sampler 'vamp': use one of {known} \(config\.eval\.sampler\)"):
    samplers.get('vamp')


SHIFTED_PRIOR = '''
"""A test sampler: the prior's codes, shifted by 3."""
def codes(model, n, seed, config):
  return model.sample_prior(n, seed) + 3.0
def describe(config):
  return 'prior + 3'
'''


def test_a_new_sampler_is_one_module_and_one_registry_line(image_folder, tmp_path, monkeypatch):
  (tmp_path / 'shifted_prior.py').write_text(SHIFTED_PRIOR)
  monkeypatch.syspath_prepend(str(tmp_path))
  monkeypatch.setitem(samplers.REGISTRY, 'shifted', 'shifted_prior')
  config = tiny_config(image_folder, num_steps=2)
  workdir = str(tmp_path / 'run')
  train.train_and_evaluate(config, workdir)
  model = wae_jax.load(workdir)
  assert samplers.get('shifted').describe(config) == 'prior + 3'
  np.testing.assert_array_equal(model.sample(4, seed=1, sampler='shifted'),
                                model.decode(model.sample_prior(4, 1) + 3.0))


def test_gmm_samples_of_a_workdir_are_fitted_once_saved_and_read_back(image_folder, tmp_path):
  workdir = str(tmp_path / 'run')
  config = tiny_config(image_folder, num_steps=2)
  config.eval.gmm_components, config.eval.gmm_images = 3, 16
  train.train_and_evaluate(config, workdir)
  model = wae_jax.load(workdir)
  images = model.sample(6, seed=3, sampler='gmm')
  assert images.shape == (6, 16, 16, 3) and np.isfinite(images).all()
  saved = os.path.join(workdir, 'samplers', 'gmm_step2.npz')
  assert samplers.fit_file(model, 'gmm') == saved and os.path.isfile(saved)
  mixture = gmm.GaussianMixture.load(saved)
  assert mixture.means.shape == (3, 4) and mixture.covariances.shape == (3, 4, 4)
  assert mixture.settings == gmm.fit_settings(model.config) and mixture.converged and mixture.n_iter > 0
  assert model.code_mixture().settings == mixture.settings
  again = wae_jax.load(workdir)  # reads the saved fit: the same samples
  np.testing.assert_array_equal(again.sample(6, seed=3, sampler='gmm'), images)
  np.testing.assert_array_equal(again.decode(mixture.sample(6, seed=3)), images)
  assert not np.array_equal(model.sample(6, seed=3), images)  # the prior's samples differ
  changed = model.config.copy_and_resolve_references()
  changed.eval.gmm_iterations = 500  # other settings: fitted anew and saved over
  assert again.code_mixture(changed).settings['max_iter'] == 500
  assert gmm.GaussianMixture.load(saved).settings['max_iter'] == 500
  description = gmm.describe(changed)
  assert description.startswith('gmm: 3 full-covariance Gaussians fitted to the codes of the first 16')
  assert 'reg_covar 1e-06, converged within 500 iterations' in description
  tagged = model.with_recomputed_batch_stats([images], tag='batch_stats1x6')
  assert samplers.fit_file(tagged, 'gmm') == saved[:-len('.npz')] + '_batch_stats1x6.npz'
  assert samplers.fit_file(model.with_recomputed_batch_stats([images]), 'gmm') is None  # in memory
  np.savez(saved, weights=mixture.weights, means=mixture.means, covariances=mixture.covariances,
           fitted_on=np.array('3 components'))  # a fit saved before its settings were: refitted
  assert wae_jax.load(workdir).code_mixture().settings == mixture.settings
  assert gmm.GaussianMixture.load(saved).settings == mixture.settings
  with pytest.raises(InputError, match="sampler 'vamp'"):
    model.sample(2, sampler='vamp')
