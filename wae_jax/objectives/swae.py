"""SWAE (Kolouri et al. 2019): c(x, G(z_q)) + lambda SW_2^2 of the global batch's codes and as many
prior samples, over random unit directions (the same on every device)."""

import jax
import jax.numpy as jnp

from wae_jax import losses
from wae_jax.objectives import Field
from wae_jax.objectives.contract import LossInputs, Objective


def random_directions(rng: jax.Array, count: int, dim: int) -> jax.Array:
  """[count, dim] unit vectors, uniform on the sphere (normalised Gaussian draws)."""
  directions = jax.random.normal(rng, (count, dim), jnp.float32)
  return directions / jnp.linalg.norm(directions, axis=1, keepdims=True)


def sliced_wasserstein(z_q: jax.Array, z_p: jax.Array, directions: jax.Array) -> jax.Array:
  """SW_2^2 of samples z_q and z_p ([n, d] each) over unit `directions` [L, d]: the mean 1-D W_2^2."""
  projected_q = jnp.sort(z_q.astype(jnp.float32) @ directions.T, axis=0)  # [n, L]
  projected_p = jnp.sort(z_p.astype(jnp.float32) @ directions.T, axis=0)
  return jnp.mean((projected_q - projected_p) ** 2)


def autoencoder_loss(inputs: LossInputs, config) -> tuple[jax.Array, dict[str, jax.Array]]:
  """c(x, G(z_q)) + lambda SW_2^2(codes, prior samples) over the global batch."""
  cost = jnp.mean(losses.reconstruction_cost(inputs.images, inputs.reconstructions,
                                             config.cost_scale))
  z_q = losses.gather_batch(inputs.codes['z'], inputs.axis_name)
  z_p = losses.gather_batch(inputs.prior_samples, inputs.axis_name)
  directions = random_directions(inputs.rng, config.swae.num_projections, z_q.shape[1])
  distance = sliced_wasserstein(z_q, z_p, directions)
  return cost + config.penalty_weight * distance, {'reconstruction': cost, 'sliced_w2': distance}


FIELDS = {'num_projections': Field(50, 'random directions of the sliced distance per step',
                                   lambda value: isinstance(value, int) and value >= 1,
                                   'a whole number >= 1')}
OBJECTIVE = Objective(name='swae', needs='point', autoencoder_loss=autoencoder_loss, min_batch_size=2,
                      terms=lambda config: {'reconstruction': 1.0, 'sliced_w2': config.penalty_weight})
