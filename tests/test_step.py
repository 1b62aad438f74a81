"""The compiled step: same update on one device as on two; bf16 keeps float32 state."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from wae_jax import models, objectives
from wae_jax import step as step_lib
from wae_jax.config_defaults import base_config
from wae_jax.train_state import create_train_states

# float32 smoke tests: the latent critic in the default run; the others with -m slow. (The ResNet
# encoder's BatchNorm over 4 channels amplifies float32 rounding past any useful tolerance: the
# float64 tests below check it.)
CASES = [('wae', 'wae_gan'), pytest.param('wae', 'wae_mmd', marks=pytest.mark.slow),
         pytest.param('wae', 'swae', marks=pytest.mark.slow),
         pytest.param('wae', 'rae', marks=pytest.mark.slow),
         pytest.param('vae', 'vae', marks=pytest.mark.slow)]
# float64, to float64's tolerance: every objective with both encoders; the ResNet's objectives
# other than WAE-GAN with -m slow (each compiles for a minute or more).
EXACT_CASES = [pytest.param(model, objective, marks=() if model == 'wae' or objective == 'wae_gan'
                            else pytest.mark.slow)
               for model in ('wae', 'wae_resnet') for objective in objectives.names()]


def tiny_config(model, objective):
  config = base_config()
  config.model.name, config.objective.name = model, objective
  config.model.image_size, config.model.width, config.model.latent_dim = 32, 1 / 16, 8
  return config


def one_step(config, num_devices, images, cast=lambda states: states):
  mesh = step_lib.make_mesh(jax.devices()[:num_devices])
  states = cast(create_train_states(config, step_lib.step_networks(config), jax.random.key(0)))
  ae_state, disc_state = jax.device_put(states, step_lib.replicated(mesh))
  train_step = step_lib.make_train_step(config, mesh)
  batch = jax.device_put(images, step_lib.batch_sharding(mesh))
  return jax.device_get(train_step(ae_state, disc_state, batch, jax.random.key(1)))


def as_float64(tree):
  return jax.tree.map(lambda x: x.astype(np.float64) if jnp.issubdtype(jnp.result_type(x), jnp.floating)
                      else x, tree)


def assert_trees_close(a, b, rtol):
  """Elementwise close, with an absolute floor of rtol times the tree's largest entry.

  The floor matters for biases followed by BatchNorm, whose exact gradient is zero: both sides
  hold float noise there.
  """
  floor = rtol * max(float(np.max(np.abs(x))) for x in jax.tree.leaves(a))
  jax.tree.map(lambda x, y: np.testing.assert_allclose(x, y, rtol=rtol, atol=floor), a, b)


def first_moment(state):
  """Adam's first moment after one step: (1 - beta1) * the averaged gradient."""
  return state.opt_state[0].mu


@pytest.mark.parametrize('model,objective', CASES)
def test_two_devices_give_the_one_device_update(model, objective):
  assert jax.device_count() >= 2, 'tests/conftest.py asks XLA for two CPU devices'
  config = tiny_config(model, objective)
  images = np.asarray(jax.random.uniform(jax.random.key(2), (8, 32, 32, 3)))
  ae_1, disc_1, metrics_1 = one_step(config, 1, images)
  ae_2, disc_2, metrics_2 = one_step(config, 2, images)
  # The auto-encoder's penalty is taken against the discriminator after its Adam step, which
  # is lr * sign(g) for each weight, so float-noise gradients can flip a few weights by 2 lr.
  after_adam = {'penalty', 'loss'} if disc_1 is not None else set()
  for name in metrics_1:
    tolerance = 2e-3 if name in after_adam else 1e-5
    assert metrics_2[name] == pytest.approx(metrics_1[name], rel=tolerance, abs=1e-6), name
  # Gradients (through Adam's first moment) and BatchNorm statistics: float tolerance.
  assert_trees_close(first_moment(ae_1), first_moment(ae_2), rtol=1e-3)
  assert_trees_close(ae_1.batch_stats, ae_2.batch_stats, rtol=1e-4)
  # Parameters: Adam's first step is lr * g / (|g| + eps), so entries whose gradient is at
  # float-noise level may move by up to 2 lr; everything else agrees to float tolerance.
  lr = config.optim.learning_rate
  jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, atol=2 * lr), ae_1.params, ae_2.params)
  if disc_1 is not None:
    assert_trees_close(first_moment(disc_1), first_moment(disc_2), rtol=1e-3)
  else:
    assert disc_2 is None
  initial, _ = create_train_states(config, step_lib.step_networks(config), jax.random.key(0))
  assert int(ae_2.step) == 1
  moved = [float(np.max(np.abs(a - b))) for a, b in
           zip(jax.tree.leaves(initial.params), jax.tree.leaves(ae_2.params))]
  assert min(moved) > 0.0


@pytest.mark.parametrize('model,objective', EXACT_CASES)
def test_two_devices_give_the_one_device_update_in_float64(model, objective, monkeypatch):
  """In float64, the one- and two-device updates differ by rounding alone (float32's, amplified by
  BatchNorm over few channels, hides real differences). The networks, states and images are
  float64; the decoder's and critic's outputs stay float32, so the metrics agree to float32's."""
  config = tiny_config(model, objective)
  config.dtype = 'float64'
  monkeypatch.setitem(models.DTYPES, 'float64', jnp.float64)  # compute dtype for this test only
  images = np.asarray(jax.random.uniform(jax.random.key(2), (8, 32, 32, 3)), np.float64)
  with jax.enable_x64(True):  # this thread, this test: not the others in the process
    ae_1, disc_1, metrics_1 = one_step(config, 1, images, as_float64)
    ae_2, disc_2, metrics_2 = one_step(config, 2, images, as_float64)
  for name in metrics_1:
    assert metrics_2[name] == pytest.approx(metrics_1[name], rel=1e-6, abs=1e-9), name
  for tree_1, tree_2 in [(first_moment(ae_1), first_moment(ae_2)), (ae_1.batch_stats, ae_2.batch_stats),
                         *([(first_moment(disc_1), first_moment(disc_2))] if disc_1 else [])]:
    assert all(leaf.dtype == np.float64 for leaf in jax.tree.leaves(tree_1))
    assert_trees_close(tree_1, tree_2, rtol=1e-9)
  lr = config.optim.learning_rate  # Adam's first step: as above
  jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, atol=2 * lr), ae_1.params, ae_2.params)
  assert (disc_1 is None) == (disc_2 is None)


def test_bfloat16_computes_in_bf16_but_keeps_float32_state():
  config = tiny_config('wae', 'wae_gan')
  config.dtype = 'bfloat16'
  images = jnp.asarray(jax.random.uniform(jax.random.key(2), (4, 32, 32, 3)))
  mesh = step_lib.make_mesh(jax.devices()[:1])
  states = create_train_states(config, step_lib.step_networks(config), jax.random.key(0))
  lowered = step_lib.make_train_step(config, mesh).lower(*states, images, jax.random.key(1))
  assert 'bf16' in lowered.as_text()  # the convolutions really run in bfloat16
  ae, disc, metrics = jax.device_get(lowered.compile()(*states, images, jax.random.key(1)))
  for tree in (ae.params, ae.opt_state, ae.batch_stats, disc.params, disc.opt_state):
    for leaf in jax.tree.leaves(tree):
      if jnp.issubdtype(leaf.dtype, jnp.floating):
        assert leaf.dtype == jnp.float32
  assert all(np.isfinite(v) for v in metrics.values())


def test_the_step_is_compiled_with_the_train_step_cpu_options(monkeypatch):
  """make_train_step passes cpu_options.TRAIN_STEP to XLA: an unknown option fails the compile."""
  asked = []

  def options(wanted):
    asked.append(wanted)
    return {'xla_cpu_no_such_option': 'x'}

  monkeypatch.setattr(step_lib.cpu_options, 'on_cpu', options)
  images = jnp.zeros((2, 32, 32, 3))
  with pytest.raises(jax.errors.JaxRuntimeError, match='xla_cpu_no_such_option'):
    one_step(tiny_config('wae', 'wae_mmd'), 1, images)
  assert asked == [step_lib.cpu_options.TRAIN_STEP]
