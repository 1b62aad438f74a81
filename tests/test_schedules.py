"""Learning-rate schedules of the official WAE code, by epoch."""

import jax
import numpy as np
import pytest

from wae_jax import schedules
from wae_jax.config_defaults import base_config
from wae_jax.errors import ConfigError
from wae_jax.models import build_for
from wae_jax.train_state import create_train_states

STEPS_PER_EPOCH = 10


def rates(name, epochs, total_epochs=50):
  schedule = schedules.learning_rate(1.0, name, STEPS_PER_EPOCH, total_epochs * STEPS_PER_EPOCH)
  return [float(schedule(epoch * STEPS_PER_EPOCH + offset)) for epoch in epochs for offset in (0, 9)]


def test_constant_is_a_plain_float():
  assert schedules.learning_rate(3e-4, 'constant', STEPS_PER_EPOCH, 100) == 3e-4


def test_manual_divides_at_epochs_30_50_and_100():
  assert rates('wae_manual', [0, 29, 30, 49, 50, 99, 100, 150]) == pytest.approx(
      [1, 1, 1, 1, 0.5, 0.5, 0.5, 0.5, 0.1, 0.1, 0.1, 0.1, 0.01, 0.01, 0.01, 0.01])


def test_manual_smooth_decays_geometrically_to_one_hundredth_in_the_last_epoch():
  """Official: decay /= exp(log(100) / E) at the start of every epoch, epoch 0 included."""
  got = rates('wae_manual_smooth', range(50))
  expected = np.repeat([100.0 ** (-(e + 1) / 50) for e in range(50)], 2)
  np.testing.assert_allclose(got, expected, rtol=1e-6)
  assert got[-1] == pytest.approx(0.01)


def test_unknown_schedule_is_a_config_error():
  with pytest.raises(ConfigError, match="config.optim.schedule 'cosine'.*wae_manual_smooth"):
    schedules.learning_rate(1.0, 'cosine', 1, 1)


def test_a_schedule_does_not_depend_on_the_run_length_in_its_state_structure():
  config = base_config()
  config.model.name = 'wae'
  config.model.image_size, config.model.width, config.model.latent_dim = 16, 1 / 16, 4
  config.optim.schedule = 'wae_manual_smooth'
  networks = build_for(config)
  short = jax.eval_shape(lambda: create_train_states(config, networks, jax.random.key(0), 1, 1))
  long = jax.eval_shape(lambda: create_train_states(config, networks, jax.random.key(0), 100, 5000))
  arrays = lambda states: [(state.params, state.opt_state) for state in states]
  assert jax.tree.structure(arrays(short)) == jax.tree.structure(arrays(long))


@pytest.mark.parametrize('field', ['learning_rate', 'disc_learning_rate'])
@pytest.mark.parametrize('value', [-1.0, 0.0])
def test_a_learning_rate_that_is_not_positive_is_refused_in_one_line(field, value):
  config = base_config()
  config.optim[field] = value
  with pytest.raises(ConfigError, match=rf'config\.optim\.{field}={value!r}: a learning rate must be a positive number'):
    schedules.check_optimizer(config.optim)
