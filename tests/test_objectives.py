"""The objective contract: declared fields, the model's code, the losses, a new objective as one file."""

import dataclasses
import subprocess
import sys
import typing

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from wae_jax import losses, objectives
from wae_jax import step as step_lib
from wae_jax.config_defaults import base_config
from wae_jax.errors import ConfigError
from wae_jax.preflight import check_config
from wae_jax.train_state import create_train_states


def config_for(model, objective, batch_size=8):
  config = base_config()
  config.model.name, config.objective.name = model, objective
  config.model.image_size, config.model.width, config.model.latent_dim = 32, 1 / 16, 8
  config.train.batch_size = batch_size
  return config


def test_each_module_declares_the_objective_of_its_name():
  assert objectives.names() == sorted(objectives.MODULES)
  for name in objectives.names():
    objective = objectives.get(name)
    assert objective.name == name and objective.needs in typing.get_args(objectives.Code)
  assert objectives.get('wae_gan').critic is not None
  assert all(objectives.get(name).critic is None for name in ('vae', 'wae_mmd', 'swae', 'rae'))
  # A helper module in the package is not an objective: only MODULES are.
  assert 'losses' not in objectives.names()


def test_any_objective_fits_any_model_its_encoder_gives_the_code_the_objective_needs():
  for model, objective in (('wae', 'vae'), ('wae_resnet', 'wae_gan'), ('vae_resnet', 'vae'), ('vae', 'wae_mmd')):
    config = config_for(model, objective)
    check_config(config, num_devices=1)
    ae_state, _ = create_train_states(config, step_lib.step_networks(config), jax.random.key(0))
    assert ('log_var' in str(jax.tree_util.tree_structure(ae_state.params['encoder']))) == (objective == 'vae')


def test_unknown_objective_and_small_batch_are_config_errors():
  with pytest.raises(ConfigError, match=f'wae_sinkhorn.*one of {", ".join(sorted(objectives.MODULES))}$'):
    check_config(config_for('wae', 'wae_sinkhorn'), num_devices=1)
  with pytest.raises(ConfigError, match='wae_mmd needs config.train.batch_size >= 2'):
    check_config(config_for('wae', 'wae_mmd', batch_size=1), num_devices=1)
  check_config(config_for('wae', 'wae_gan', batch_size=1), num_devices=1)


def test_an_objectives_own_fields_are_declared_by_its_module_in_a_block_of_its_name():
  config = base_config()
  for name in objectives.names():
    declared = objectives.declared_fields(name)
    assert (config.objective[name].to_dict() if declared else None) == (
        {field: value.default for field, value in declared.items()} or None)
  assert config.objective.swae.num_projections == 50 and config.objective.rae.decoder_l2 == 1e-7
  assert 'num_projections' not in config.objective  # not a shared field
  bad = config_for('wae', 'swae')
  bad.objective.swae.num_projections = 0
  with pytest.raises(ConfigError) as error:
    check_config(bad, num_devices=1)
  assert str(error.value) == ('config.objective.swae.num_projections=0: swae takes a whole number '
                              '>= 1 (random directions of the sliced distance per step)')
  bad = config_for('wae', 'rae')
  bad.objective.rae.decoder_l2 = -1.0
  with pytest.raises(ConfigError, match=r'^config.objective.rae.decoder_l2=-1.0: rae takes a number >= 0'):
    check_config(bad, num_devices=1)
  bad.objective.name = 'wae_gan'  # another objective's block is not read, nor checked
  check_config(bad, num_devices=1)


def loss_inputs(critic=None):
  rng = np.random.default_rng(0)
  images, reconstructions = (rng.uniform(size=(4, 2, 2, 3)).astype(np.float32) for _ in range(2))
  mean, log_var, z, prior = (rng.normal(size=(4, 3)).astype(np.float32) for _ in range(4))
  inputs = objectives.LossInputs(
      images=jnp.asarray(images), reconstructions=jnp.asarray(reconstructions),
      codes={'mean': jnp.asarray(mean), 'log_var': jnp.asarray(log_var), 'z': jnp.asarray(z)},
      prior_samples=jnp.asarray(prior), critic=critic, axis_name=step_lib.AXIS)
  cost = 0.05 * np.mean(np.sum((images - reconstructions).reshape(4, -1) ** 2, axis=1))
  return inputs, cost


def test_every_objectives_declared_terms_weigh_its_logged_parts_into_its_loss():
  """`terms` is what the loss is made of, so the shares the study tables print mean what they say."""
  config = base_config().objective
  config.cost_scale, config.sigma_z, config.penalty_weight, config.rae.decoder_l2 = 0.05, 1.5, 3.0, 0.01
  inputs, _ = loss_inputs(critic=lambda z: jnp.sum(z, axis=-1, keepdims=True))
  inputs = dataclasses.replace(inputs, axis_name=None, rng=jax.random.key(0))
  params = {'decoder': {'Conv_0': {'kernel': jnp.full((3, 3, 2, 2), 0.5), 'bias': jnp.ones(2)}}}
  for name in objectives.names():
    objective = objectives.get(name)
    assert objective.terms is not None, f'{name}: declare the terms of its loss'
    loss, parts = objective.autoencoder_loss(inputs, config)
    if objective.parameter_penalty is not None:
      penalty, more = objective.parameter_penalty(params, config)
      loss, parts = loss + penalty, {**parts, **more}
    parts = {part: float(value) for part, value in parts.items()}
    weighted = sum(weight * parts[part] for part, weight in objective.terms(config).items())
    assert weighted == pytest.approx(float(loss), rel=1e-5), name
    shares = objectives.loss_shares(objective, config, parts)
    assert sum(shares.values()) == pytest.approx(1.0) and len(shares) >= 2, name


def test_autoencoder_losses_add_their_terms_to_the_reconstruction_cost():
  config = base_config().objective
  config.cost_scale, config.sigma_z, config.penalty_weight = 0.05, 1.5, 3.0
  inputs, cost = loss_inputs(critic=lambda z: jnp.sum(z, axis=-1, keepdims=True))
  loss, parts = objectives.get('vae').autoencoder_loss(inputs, config)
  mean, log_var = (np.asarray(inputs.codes[k], np.float64) for k in ('mean', 'log_var'))
  kl = np.mean(np.sum(np.log(1.5) - log_var / 2 + (np.exp(log_var) + mean ** 2) / 4.5 - 0.5, -1))
  assert float(parts['reconstruction']) == pytest.approx(cost, rel=1e-5)
  assert float(loss) == pytest.approx(cost + kl, rel=1e-5)

  loss, parts = objectives.get('wae_gan').autoencoder_loss(inputs, config)
  logits = np.sum(np.asarray(inputs.codes['z'], np.float64), axis=-1)
  penalty = -3.0 * np.mean(np.log(1 / (1 + np.exp(-logits))))
  assert float(parts['penalty']) == pytest.approx(penalty, rel=1e-5)
  assert float(loss) == pytest.approx(cost + penalty, rel=1e-5)

  # Outside a sharded step there is no device axis to gather over.
  inputs = dataclasses.replace(inputs, axis_name=None)
  loss, parts = objectives.get('wae_mmd').autoencoder_loss(inputs, config)
  mmd = float(losses.mmd_imq(inputs.codes['z'], inputs.prior_samples, 1.5))
  assert float(parts['mmd']) == mmd and mmd != 0.0
  assert float(loss) == pytest.approx(cost + 3.0 * mmd, rel=1e-5)


NEW_OBJECTIVE = '''
"""A test objective: reconstruction cost plus the codes' mean square, no critic."""
import jax.numpy as jnp
from wae_jax import losses
from wae_jax.objectives import Objective


def autoencoder_loss(inputs, config):
  cost = jnp.mean(losses.reconstruction_cost(inputs.images, inputs.reconstructions, config.cost_scale))
  shrink = jnp.mean(inputs.codes['z'] ** 2)
  return cost + shrink, {'reconstruction': cost, 'shrink': shrink}


OBJECTIVE = Objective(name='latent_shrink', needs='point', autoencoder_loss=autoencoder_loss)
'''


def test_a_new_objective_is_one_file_and_its_line_in_modules(tmp_path, monkeypatch):
  (tmp_path / 'latent_shrink.py').write_text(NEW_OBJECTIVE)
  monkeypatch.setattr(objectives, '__path__', [*objectives.__path__, str(tmp_path)])
  assert 'latent_shrink' not in objectives.names()  # a file alone is not found
  monkeypatch.setitem(objectives.MODULES, 'latent_shrink', 'latent_shrink')
  monkeypatch.delitem(sys.modules, 'wae_jax.objectives.latent_shrink', raising=False)
  assert 'latent_shrink' in objectives.names()
  config = config_for('wae', 'latent_shrink')
  check_config(config, num_devices=1)
  mesh = step_lib.make_mesh(jax.devices()[:1])
  states = create_train_states(config, step_lib.step_networks(config), jax.random.key(0))
  assert states[1] is None  # no critic declared, no discriminator trained
  images = jax.ShapeDtypeStruct((4, 32, 32, 3), jnp.float32)
  _, _, metrics = jax.eval_shape(step_lib.make_train_step(config, mesh), *states, images,
                                 jax.random.key(1))
  assert sorted(metrics) == ['loss', 'reconstruction', 'shrink']
  monkeypatch.delitem(sys.modules, 'wae_jax.objectives.latent_shrink')


def test_sliced_wasserstein_equals_a_direct_numpy_computation():
  from wae_jax.objectives import swae
  rng = np.random.default_rng(0)
  z_q, z_p = rng.normal(size=(64, 5)), rng.normal(1.0, 2.0, size=(64, 5))
  directions = np.asarray(swae.random_directions(jax.random.key(0), 7, 5), np.float64)
  np.testing.assert_allclose(np.linalg.norm(directions, axis=1), 1.0, rtol=1e-6)
  expected = np.mean([np.mean((np.sort(z_q @ d) - np.sort(z_p @ d)) ** 2) for d in directions])
  value = swae.sliced_wasserstein(jnp.asarray(z_q, jnp.float32), jnp.asarray(z_p, jnp.float32),
                                  jnp.asarray(directions, jnp.float32))
  assert float(value) == pytest.approx(expected, rel=1e-5)


def test_sliced_wasserstein_of_two_gaussians_approaches_its_closed_form():
  """N(m, s^2 I) against N(0, I): a unit direction t sees N(t.m, s^2) against N(0, 1), whose
  W_2^2 is (t.m)^2 + (s - 1)^2; over uniform directions E[(t.m)^2] = |m|^2 / d."""
  from wae_jax.objectives import swae
  d, n, s, m = 4, 8_000, 2.0, np.array([1.0, -2.0, 0.5, 0.0])
  keys = jax.random.split(jax.random.key(3), 3)
  z_q = m + s * jax.random.normal(keys[0], (n, d))
  z_p = jax.random.normal(keys[1], (n, d))
  directions = swae.random_directions(keys[2], 100, d)
  value = float(swae.sliced_wasserstein(z_q, z_p, directions))
  given_directions = float(np.mean((np.asarray(directions) @ m) ** 2)) + (s - 1.0) ** 2
  assert value == pytest.approx(given_directions, rel=0.05)  # 6 seeds: within 2.8 %, from n
  many = np.asarray(swae.random_directions(jax.random.key(4), 20_000, d))
  assert np.mean((many @ m) ** 2) == pytest.approx(float(m @ m) / d, rel=0.02)  # uniform on the sphere


def test_swae_loss_adds_the_weighted_sliced_distance_and_uses_the_objectives_key():
  from wae_jax.objectives import swae
  config = base_config().objective
  config.penalty_weight, config.swae.num_projections = 3.0, 16
  inputs, cost = loss_inputs()
  inputs = dataclasses.replace(inputs, axis_name=None, rng=jax.random.key(5))
  loss, parts = objectives.get('swae').autoencoder_loss(inputs, config)
  distance = swae.sliced_wasserstein(inputs.codes['z'], inputs.prior_samples,
                                     swae.random_directions(jax.random.key(5), 16, 3))
  assert float(parts['sliced_w2']) == pytest.approx(float(distance), rel=1e-6)
  assert float(loss) == pytest.approx(cost + 3.0 * float(distance), rel=1e-5)
  other = objectives.get('swae').autoencoder_loss(dataclasses.replace(inputs, rng=jax.random.key(6)), config)
  assert float(other[1]['sliced_w2']) != float(parts['sliced_w2'])  # other key, other directions


def test_the_default_prior_draws_n_0_sigma_z_squared():
  config = base_config().objective
  config.sigma_z = 2.0
  draws = objectives.get('swae').prior(jax.random.key(0), 10_000, 3, config)
  assert draws.shape == (10_000, 3)
  np.testing.assert_allclose(np.std(np.asarray(draws), axis=0), 2.0, rtol=0.03)


def test_rae_loss_is_the_cost_plus_the_code_norm_and_the_decoder_kernels_l2():
  from flax import traverse_util
  config = base_config().objective
  config.penalty_weight, config.rae.decoder_l2 = 0.5, 1e-3
  inputs, cost = loss_inputs()
  loss, parts = objectives.get('rae').autoencoder_loss(inputs, config)
  z = np.asarray(inputs.codes['z'], np.float64)
  code_norm = 0.5 * np.mean(np.sum(z ** 2, axis=1))
  assert float(parts['code_norm']) == pytest.approx(code_norm, rel=1e-5)
  assert float(loss) == pytest.approx(cost + 0.5 * code_norm, rel=1e-5)
  model = config_for('wae', 'rae')
  states = create_train_states(model, step_lib.step_networks(model), jax.random.key(0))
  flat = traverse_util.flatten_dict(states[0].params['decoder'])
  squares = sum(float(np.sum(np.asarray(v, np.float64) ** 2)) for k, v in flat.items() if k[-1] == 'kernel')
  penalty, penalty_parts = objectives.get('rae').parameter_penalty(states[0].params, config)
  assert float(penalty_parts['decoder_l2']) == pytest.approx(squares, rel=1e-5)
  assert float(penalty) == pytest.approx(1e-3 * squares, rel=1e-5)


def test_the_step_adds_the_parameter_penalty_gradient_to_the_decoder_only():
  """Adam's first moment after one step is (1 - beta1) g, so raising RAE's decoder_l2 from 0 to
  lambda adds (1 - beta1) 2 lambda theta to every decoder kernel's and nothing elsewhere."""
  from flax import traverse_util
  images = np.asarray(jax.random.uniform(jax.random.key(2), (4, 32, 32, 3)))
  mesh = step_lib.make_mesh(jax.devices()[:1])
  moments = []
  for weight in (0.0, 10.0):
    config = config_for('wae', 'rae')
    config.objective.rae.decoder_l2 = weight
    states = create_train_states(config, step_lib.step_networks(config), jax.random.key(0))
    initial = jax.device_get(states[0].params)  # the step donates its input states
    ae_state, _, metrics = step_lib.make_train_step(config, mesh)(*states, images, jax.random.key(1))
    moments.append(traverse_util.flatten_dict(ae_state.opt_state[0].mu))
  params = traverse_util.flatten_dict(initial)
  beta1 = config.optim.beta1
  for key, theta in params.items():
    added = np.asarray(moments[1][key]) - np.asarray(moments[0][key])
    expected = (1 - beta1) * 2 * 10.0 * np.asarray(theta) if key[0] == 'decoder' and key[-1] == 'kernel' else 0.0
    np.testing.assert_allclose(added, expected, rtol=1e-3, atol=1e-6, err_msg=str(key))
  assert float(metrics['decoder_l2']) > 0


def test_configs_load_without_jax():
  """Every configs/*.py gives its config (base_config and the objectives' own fields) without
  importing JAX, Flax or the models."""
  code = (
      'import glob, importlib.util, sys\n'
      'for path in sorted(glob.glob("configs/*.py")):\n'
      '  spec = importlib.util.spec_from_file_location("config", path)\n'
      '  module = importlib.util.module_from_spec(spec)\n'
      '  spec.loader.exec_module(module)\n'
      '  module.get_config()\n'
      'print(sorted(name for name in ("jax", "flax", "wae_jax.models") if name in sys.modules))\n')
  import os
  repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
  output = subprocess.run([sys.executable, '-c', code], cwd=repo, capture_output=True, text=True, check=True)
  assert output.stdout.strip() == '[]', output.stderr
