"""RAE (Ghosh et al. 2020, "From Variational to Deterministic Autoencoders"), the RAE-L2 variant:
c(x, G(z)) + beta 1/2 ||z||^2 + lambda ||theta_G||^2, beta `config.objective.penalty_weight`,
lambda `config.objective.rae.decoder_l2` on the decoder's kernels (not the paper's gradient
penalty: a second backward pass). No prior enters training (samples: `config.eval.sampler`)."""

import jax
import jax.numpy as jnp

from wae_jax import losses
from wae_jax.objectives import Field
from wae_jax.objectives.contract import LossInputs, Objective


def autoencoder_loss(inputs: LossInputs, config) -> tuple[jax.Array, dict[str, jax.Array]]:
  """c(x, G(z)) + beta 1/2 ||z||^2, averaged over the batch."""
  cost = jnp.mean(losses.reconstruction_cost(inputs.images, inputs.reconstructions,
                                             config.cost_scale))
  code_norm = 0.5 * jnp.mean(jnp.sum(inputs.codes['z'].astype(jnp.float32) ** 2, axis=-1))
  return cost + config.penalty_weight * code_norm, {'reconstruction': cost, 'code_norm': code_norm}


def decoder_l2(params, config) -> tuple[jax.Array, dict[str, jax.Array]]:
  """lambda x the sum of squares of the decoder's kernels."""
  kernels = [leaf for path, leaf in jax.tree_util.tree_leaves_with_path(params['decoder'])
             if getattr(path[-1], 'key', None) == 'kernel']
  norm = sum(jnp.sum(kernel.astype(jnp.float32) ** 2) for kernel in kernels)
  return config.rae.decoder_l2 * norm, {'decoder_l2': norm}


FIELDS = {'decoder_l2': Field(1e-7, "weight of the decoder kernels' squared L2 norm",
                              lambda value: isinstance(value, (int, float)) and value >= 0,
                              'a number >= 0')}
OBJECTIVE = Objective(name='rae', needs='point', autoencoder_loss=autoencoder_loss,
                      parameter_penalty=decoder_l2,
                      terms=lambda config: {'reconstruction': 1.0, 'code_norm': config.penalty_weight,
                                            'decoder_l2': config.rae.decoder_l2})
