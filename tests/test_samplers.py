"""The 'gmm' sampler: a Gaussian mixture of training codes, fitted once, saved beside the
checkpoint, reproducible by seed; recovers a known mixture."""

import os

import numpy as np
import pytest

import wae_jax
from wae_jax import samplers, train
from wae_jax.errors import InputError

from test_train import tiny_config

TRUE_MEANS = np.array([[-4.0, 0.0], [0.0, 5.0], [4.0, -1.0]])
TRUE_WEIGHTS = np.array([0.5, 0.3, 0.2])
TRUE_COVARIANCES = np.array([[[1.0, 0.5], [0.5, 1.0]], [[0.3, 0.0], [0.0, 2.0]], [[0.5, -0.2], [-0.2, 0.4]]])


def test_a_fitted_mixture_recovers_a_known_one_and_samples_reproducibly():
  truth = samplers.GaussianMixture(TRUE_WEIGHTS, TRUE_MEANS, TRUE_COVARIANCES)
  codes = truth.sample(20_000, seed=0)
  fitted = samplers.fit_gaussian_mixture(codes, components=3, seed=0)
  order = np.argsort(fitted.means[:, 0])  # the components in the truth's order (by first coordinate)
  np.testing.assert_allclose(fitted.means[order], TRUE_MEANS, atol=0.05)
  np.testing.assert_allclose(fitted.weights[order], TRUE_WEIGHTS, atol=0.01)
  np.testing.assert_allclose(fitted.covariances[order], TRUE_COVARIANCES, atol=0.06)
  # Draws of the truth itself have the mixture's moments (the sampler, checked independently).
  mean = TRUE_WEIGHTS @ TRUE_MEANS
  np.testing.assert_allclose(codes.mean(axis=0), mean, atol=0.05)
  np.testing.assert_array_equal(fitted.sample(5, seed=1), fitted.sample(5, seed=1))
  assert not np.array_equal(fitted.sample(5, seed=1), fitted.sample(5, seed=2))
  with pytest.raises(InputError, match='at least 3 codes'):
    samplers.fit_gaussian_mixture(codes[:2], components=3, seed=0)


def test_gmm_samples_of_a_workdir_are_fitted_once_saved_and_read_back(image_folder, tmp_path):
  workdir = str(tmp_path / 'run')
  config = tiny_config(image_folder, num_steps=2)
  config.eval.gmm_components, config.eval.gmm_images = 3, 16
  train.train_and_evaluate(config, workdir)
  model = wae_jax.load(workdir)
  images = model.sample(6, seed=3, sampler='gmm')
  assert images.shape == (6, 16, 16, 3) and np.isfinite(images).all()
  saved = os.path.join(workdir, 'samplers', 'gmm_step2.npz')
  assert os.path.isfile(saved)
  mixture = samplers.GaussianMixture.load(saved)
  assert mixture.means.shape == (3, 4) and mixture.covariances.shape == (3, 4, 4)
  again = wae_jax.load(workdir)  # reads the saved fit: the same samples
  np.testing.assert_array_equal(again.sample(6, seed=3, sampler='gmm'), images)
  np.testing.assert_array_equal(again.decode(mixture.sample(6, seed=3)), images)
  assert not np.array_equal(model.sample(6, seed=3), images)  # the prior's samples differ
  with pytest.raises(InputError, match="sampler 'vamp'"):
    model.sample(2, sampler='vamp')
