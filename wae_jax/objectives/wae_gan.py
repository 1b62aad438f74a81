"""WAE-GAN (the thesis's Algorithm 2): a latent critic tells codes from prior samples; the
auto-encoder then descends c(x, G(z_q)) - lambda log D(z_q) against the updated critic."""

import jax
import jax.numpy as jnp

from wae_jax import losses
from wae_jax.objectives.contract import LatentCritic, LossInputs, Objective


def critic_loss(logits_prior: jax.Array, logits_codes: jax.Array, config
                ) -> tuple[jax.Array, dict[str, jax.Array]]:
  """Minus the critic's objective, and the mean probability it gives each side."""
  loss = losses.discriminator_loss(logits_prior, logits_codes, config.penalty_weight)
  return loss, {'disc_prior_prob': jnp.mean(jax.nn.sigmoid(logits_prior)),
                'disc_codes_prob': jnp.mean(jax.nn.sigmoid(logits_codes))}


def autoencoder_loss(inputs: LossInputs, config) -> tuple[jax.Array, dict[str, jax.Array]]:
  """c(x, G(z_q)) - lambda log D(z_q)."""
  cost = jnp.mean(losses.reconstruction_cost(inputs.images, inputs.reconstructions,
                                             config.cost_scale))
  penalty = losses.wae_gan_penalty(inputs.critic(inputs.codes['z']), config.penalty_weight)
  return cost + penalty, {'reconstruction': cost, 'penalty': penalty}


OBJECTIVE = Objective(name='wae_gan', needs='point', autoencoder_loss=autoencoder_loss,
                      critic=LatentCritic(loss=critic_loss),
                      terms=lambda config: {'reconstruction': 1.0, 'penalty': 1.0})  # penalty: weighted
