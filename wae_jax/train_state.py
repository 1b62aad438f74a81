"""Train states: parameters, optimizer state and BatchNorm statistics, created from a config."""

from typing import Any

import jax
import jax.numpy as jnp
import optax
from flax.training import train_state

from wae_jax import objectives, schedules
from wae_jax.models import Networks


class TrainState(train_state.TrainState):
  """A Flax TrainState that also carries BatchNorm running statistics (float32)."""
  batch_stats: Any = None


def create_train_states(config: Any, networks: Networks, rng: jax.Array, steps_per_epoch: int = 1,
                        total_steps: int = 1) -> tuple[TrainState, TrainState | None]:
  """Initial auto-encoder state and, where the objective trains a latent critic, the
  discriminator's state (else None). The run's length only matters for a learning-rate schedule."""
  def rate(base: float):
    return schedules.learning_rate(base, config.optim.schedule, steps_per_epoch, total_steps)

  size, latent = config.model.image_size, config.model.latent_dim
  ae_rng, disc_rng = jax.random.split(rng)
  images = jnp.zeros((1, size, size, 3), jnp.float32)
  noise = jnp.zeros((1, latent), jnp.float32)
  variables = jax.jit(networks.autoencoder.init)(ae_rng, images, noise)
  ae_state = TrainState.create(
      apply_fn=networks.autoencoder.apply, params=variables['params'],
      batch_stats=variables.get('batch_stats', {}),
      tx=optax.adam(rate(config.optim.learning_rate), b1=config.optim.beta1))
  if objectives.get(config.objective.name).critic is None:
    return ae_state, None
  disc_params = jax.jit(networks.discriminator.init)(disc_rng, noise)['params']
  disc_state = TrainState.create(
      apply_fn=networks.discriminator.apply, params=disc_params, batch_stats={},
      tx=optax.adam(rate(config.optim.disc_learning_rate), b1=config.optim.disc_beta1))
  return ae_state, disc_state


def param_count(tree: Any) -> int:
  return sum(int(x.size) for x in jax.tree.leaves(tree))


def parameter_counts(config: Any, networks: Networks) -> dict[str, int]:
  """{'encoder': n, 'decoder': n, 'discriminator': n (0 without a critic)}, from shapes only."""
  ae_state, disc_state = jax.eval_shape(lambda rng: create_train_states(config, networks, rng),
                                        jax.random.key(0))
  return {'encoder': param_count(ae_state.params['encoder']),
          'decoder': param_count(ae_state.params['decoder']),
          'discriminator': 0 if disc_state is None else param_count(disc_state.params)}
