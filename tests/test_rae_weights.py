"""configs/rae.py's weights give each RAE term the share it has in the official RAE CelebA loss
(per-pixel mean squared error + 1e-4 mean_d z^2 + 1e-7 ||decoder kernels||^2), at any image size,
latent size and cost scale, and a value set on the command line still wins."""

import os

import jax.numpy as jnp
import numpy as np
import pytest

from wae_jax import config_defaults, objectives

CONFIG = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), 'configs', 'rae.py')


def rae_config():
  return config_defaults.load_config_file(CONFIG)


@pytest.mark.parametrize('image_size, latent_dim, cost_scale', [(128, 64, 0.05), (64, 64, 0.05),
                                                                (32, 16, 0.2)])
def test_each_term_has_its_official_share(image_size, latent_dim, cost_scale):
  config = rae_config()
  config.model.image_size, config.model.latent_dim = image_size, latent_dim
  config.objective.cost_scale = cost_scale
  rng = np.random.default_rng(0)
  images = rng.uniform(size=(4, image_size, image_size, 3)).astype(np.float32)
  reconstructions = np.clip(images + rng.normal(0, 0.1, images.shape), 0, 1).astype(np.float32)
  z = rng.normal(0, 2.0, (4, latent_dim)).astype(np.float32)
  params = {'decoder': {'dense': {'kernel': rng.normal(0, 0.3, (latent_dim, 32)).astype(np.float32),
                                  'bias': np.ones(32, np.float32)},
                        'conv': {'kernel': rng.normal(0, 0.1, (3, 3, 32, 3)).astype(np.float32)}}}
  rae = objectives.get('rae')
  inputs = objectives.LossInputs(images=jnp.asarray(images), reconstructions=jnp.asarray(reconstructions),
                                 codes={'z': jnp.asarray(z), 'mean': jnp.asarray(z)}, prior_samples=None,
                                 critic=None, axis_name=None)
  loss, parts = rae.autoencoder_loss(inputs, config.objective)
  penalty, _ = rae.parameter_penalty(params, config.objective)
  ours = np.array([parts['reconstruction'], loss - parts['reconstruction'], penalty], np.float64)
  # The official loss at the same point, in float64 with numpy.
  mse = np.mean((images.astype(np.float64) - reconstructions) ** 2)
  code = 1e-4 * np.mean(z.astype(np.float64) ** 2)
  kernels = 1e-7 * sum(np.sum(leaf['kernel'].astype(np.float64) ** 2) for leaf in params['decoder'].values())
  official = np.array([mse, code, kernels])
  np.testing.assert_allclose(ours / ours.sum(), official / official.sum(), rtol=1e-4)


def test_the_command_line_overrides_a_derived_weight():
  config = rae_config()
  config.objective.penalty_weight = 0.5
  config.model.image_size = 64
  assert config.objective.penalty_weight == 0.5
  assert config.objective.rae.decoder_l2 == pytest.approx(1e-7 * 0.05 * 3 * 64 * 64)
  objectives.check(config.objective, config.train.batch_size)
