"""Encoder pre-training (the official WAE code's e_pretrain): the codes' moments move to the prior's."""

import jax
import numpy as np
import pytest

from wae_jax import pretrain
from wae_jax.config_defaults import base_config
from wae_jax.models import build_for
from wae_jax.step import make_mesh, replicated, step_networks
from wae_jax.train_state import create_train_states


def test_moment_matching_loss_matches_numpy():
  rng = np.random.default_rng(0)
  z_q, z_p = rng.normal(1.0, 2.0, (50, 3)), rng.normal(size=(50, 3))
  expected = (np.mean((z_p.mean(0) - z_q.mean(0)) ** 2) +
              np.mean((np.cov(z_p, rowvar=False) - np.cov(z_q, rowvar=False)) ** 2))
  assert float(pretrain.moment_matching_loss(z_q, z_p)) == pytest.approx(expected, rel=1e-5)


def config_for(image_folder, steps):
  config = base_config()
  config.model.name = 'wae'
  config.model.image_size, config.model.width, config.model.latent_dim = 16, 1 / 16, 4
  config.data.source, config.data.path, config.data.crop, config.data.workers = 'folder', image_folder, 0, 0
  config.encoder_pretrain.steps = steps
  config.encoder_pretrain.batch_size = 16
  config.encoder_pretrain.stop_below = 0.0
  return config


def codes_loss(config, state, images):
  """The moment-matching loss of the codes of `images` as training sees them (batch statistics)."""
  autoencoder = build_for(config).autoencoder  # BatchNorm without a device axis
  codes, _ = autoencoder.apply({'params': state.params, 'batch_stats': state.batch_stats}, images,
                               train=True, method='encode', mutable=['batch_stats'])
  z_q = codes['mean']
  z_p = config.objective.sigma_z * jax.random.normal(jax.random.key(5), z_q.shape)
  return float(pretrain.moment_matching_loss(z_q, z_p))


@pytest.mark.slow
def test_pretraining_fits_the_encoder_to_the_prior_and_leaves_the_decoder(image_folder):
  config = config_for(image_folder, steps=30)
  config.objective.sigma_z = 3.0  # far from what an initial encoder gives
  config.optim.learning_rate = 3e-3  # a quicker fit than the default, for a short test
  mesh = make_mesh()
  state, _ = jax.device_put(create_train_states(config, step_networks(config), jax.random.key(0)),
                            replicated(mesh))
  images = np.random.default_rng(1).random((200, 16, 16, 3), dtype=np.float32)
  before = codes_loss(config, state, images)
  after_state = pretrain.pretrain_encoder(config, state, mesh, jax.random.key(1), 0, 1, True)
  assert codes_loss(config, after_state, images) < 0.5 * before
  same = jax.tree.map(np.array_equal, state.params['decoder'], after_state.params['decoder'])
  assert all(jax.tree.leaves(same))
  moved = jax.tree.map(np.array_equal, state.params['encoder'], after_state.params['encoder'])
  assert not all(jax.tree.leaves(moved))
  assert int(after_state.step) == 0  # the auto-encoder's optimizer has not moved


def test_pretraining_stops_once_the_loss_is_below_the_threshold(image_folder, capsys):
  config = config_for(image_folder, steps=50)
  config.encoder_pretrain.stop_below = 1e9
  mesh = make_mesh()
  state, _ = jax.device_put(create_train_states(config, step_networks(config), jax.random.key(0)),
                            replicated(mesh))
  pretrain.pretrain_encoder(config, state, mesh, jax.random.key(1), 0, 1, True)
  assert 'Encoder pre-training: 1 steps' in capsys.readouterr().out
