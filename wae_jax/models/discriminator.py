"""The WAE-GAN latent discriminator: tells prior samples from encoded codes."""

from typing import Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

from wae_jax.models.blocks import Dtype


class LatentDiscriminator(nn.Module):
  """4 x [Dense 512, ReLU], Dense 1. Returns logits (the sigmoid lives in the loss)."""
  hidden: Sequence[int] = (512, 512, 512, 512)
  dtype: Dtype = jnp.float32

  @nn.compact
  def __call__(self, z: jax.Array) -> jax.Array:
    h = z.astype(self.dtype)
    for units in self.hidden:
      h = nn.relu(nn.Dense(units, dtype=self.dtype)(h))
    return nn.Dense(1, dtype=self.dtype)(h)[:, 0].astype(jnp.float32)
