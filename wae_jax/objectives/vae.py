"""VAE: the negative ELBO, with a Gaussian decoder (scaled squared error) and the analytic KL."""

import jax
import jax.numpy as jnp

from wae_jax import losses
from wae_jax.objectives.contract import LossInputs, Objective


def negative_elbo(inputs: LossInputs, config) -> tuple[jax.Array, dict[str, jax.Array]]:
  """c(x, G(z)) + KL(q(z|x) || N(0, sigma_z^2 I)), z reparameterised by the auto-encoder."""
  cost = jnp.mean(losses.reconstruction_cost(inputs.images, inputs.reconstructions,
                                             config.cost_scale))
  kl = jnp.mean(losses.gaussian_kl(inputs.codes['mean'], inputs.codes['log_var'], config.sigma_z))
  return cost + kl, {'reconstruction': cost, 'kl': kl}


OBJECTIVE = Objective(name='vae', needs='gaussian', autoencoder_loss=negative_elbo,
                      terms=lambda config: {'reconstruction': 1.0, 'kl': 1.0})
