"""WAE-MMD: c(x, G(z_q)) + lambda MMD_k(Q_Z, P_Z), IMQ kernel, unbiased, over the global batch."""

import jax
import jax.numpy as jnp

from wae_jax import losses
from wae_jax.objectives.contract import LossInputs, Objective


def autoencoder_loss(inputs: LossInputs, config) -> tuple[jax.Array, dict[str, jax.Array]]:
  """c(x, G(z_q)) + lambda MMD over the global batch."""
  cost = jnp.mean(losses.reconstruction_cost(inputs.images, inputs.reconstructions,
                                             config.cost_scale))
  mmd = losses.mmd_penalty(inputs.codes['z'], inputs.prior_samples, config.sigma_z,
                           inputs.axis_name)
  return cost + config.penalty_weight * mmd, {'reconstruction': cost, 'mmd': mmd}


OBJECTIVE = Objective(name='wae_mmd', needs='point', autoencoder_loss=autoencoder_loss,
                      min_batch_size=2,
                      terms=lambda config: {'reconstruction': 1.0, 'mmd': config.penalty_weight})
