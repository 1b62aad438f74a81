"""Decoders: latent code -> image in [0, 1], starting at 4x4 and doubling to the image size."""

import functools
import math
from typing import Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

from wae_jax.gemm_conv import TransposedConv
from wae_jax.models.blocks import ACTIVATIONS, ConvUnit, Dtype, batch_norm
from wae_jax.models.component import Component, Sizes


def num_upsamplings(image_size: int) -> int:
  """Stride-2 layers a decoder needs to go from 4x4 to `image_size` (a power of two >= 8)."""
  n = math.log2(image_size / 4) if image_size >= 8 else 0
  if n < 1 or not n.is_integer():
    raise ValueError(f'image size {image_size} cannot be reached from 4x4 by doubling: '
                     'use a power of two such as 32, 64 or 128')
  return int(n)


class ConvDecoder(nn.Module):
  """Dense layers to a 4x4 map, stride-2 transposed convs, a last transposed conv, sigmoid.

  VAE (thesis 4.3.1): Dense 2048 SELU + BN, Dense 4x4x512 SELU, 3x3 transposed convs 256..16
  (LeakyReLU then BN), last 3x3 stride 1. WAE (4.3.2): Dense 4x4x2048 + BN + ReLU, 5x5 transposed
  convs 1024..128 (BN then ReLU), last 5x5 stride 2. The last, to 3 channels, has no BatchNorm."""
  image_size: int
  widths: Sequence[int]
  kernel_size: int
  activation: str
  base_channels: int
  final_strides: int  # 2 (WAE) or 1 (VAE)
  hidden_units: int = 0  # > 0: Dense + activation + BN before the projection to 4x4
  dense_activation: str = 'relu'
  dense_norm: bool = True  # BN on the 4x4 projection
  norm_first: bool = True
  axis_name: str | None = None
  dtype: Dtype = jnp.float32

  @nn.compact
  def __call__(self, z: jax.Array, train: bool) -> jax.Array:
    doublings = num_upsamplings(self.image_size) - (self.final_strides == 2)
    if doublings > len(self.widths):
      raise ValueError(f'image size {self.image_size} needs {doublings} up-sampling layers; '
                       f'the decoder has {len(self.widths)}')
    act = ACTIVATIONS[self.dense_activation]
    h = z.astype(self.dtype)
    if self.hidden_units:
      h = act(nn.Dense(self.hidden_units, dtype=self.dtype)(h))
      h = batch_norm(train, self.axis_name, self.dtype)(h)
    h = nn.Dense(4 * 4 * self.base_channels, dtype=self.dtype)(h)
    if self.dense_norm:
      h = batch_norm(train, self.axis_name, self.dtype)(h)
    x = act(h).reshape(z.shape[0], 4, 4, self.base_channels)
    for width in self.widths[:doublings]:
      x = ConvUnit(width, self.kernel_size, strides=2, activation=self.activation,
                   norm_first=self.norm_first, transpose=True, axis_name=self.axis_name,
                   dtype=self.dtype)(x, train)
    x = TransposedConv(3, self.kernel_size, self.final_strides, dtype=self.dtype)(x)
    return nn.sigmoid(x.astype(jnp.float32))


# What tells the VAE's and the WAE's decoders apart besides their sizes (thesis 4.3.1 and 4.3.2).
VAE_STYLE = {'kernel_size': 3, 'activation': 'leaky_relu', 'final_strides': 1,
             'dense_activation': 'selu', 'dense_norm': False, 'norm_first': False}
WAE_STYLE = {'kernel_size': 5, 'activation': 'relu', 'final_strides': 2, 'dense_activation': 'relu',
             'dense_norm': True, 'norm_first': True}


def _conv_decoder(style, sizes, cfg, dtype, axis_name):
  return ConvDecoder(cfg.image_size, sizes.widths[1:], base_channels=sizes.widths[0],
                     hidden_units=sizes.hidden_units, axis_name=axis_name, dtype=dtype, **style)


def _check_conv(name, style, sizes, image_size, fields):
  try:
    needed = 1 + num_upsamplings(image_size) - (style['final_strides'] == 2)
  except ValueError as error:
    return f'config.model.image_size: {error}'
  if len(sizes.widths) < needed:
    return (f'{fields}widths={sizes.widths}: the {name} decoder at {image_size}x{image_size} needs '
            f'{needed} widths (the 4x4 map, then each stride-2 transposed convolution)')
  return None


def _conv(name, style, widths, hidden_units):
  return Component(functools.partial(_conv_decoder, style), Sizes(widths, hidden_units),
                   functools.partial(_check_conv, name, style))


# Every decoder config.model.decoder can name, with the thesis's sizes as its defaults.
DECODERS = {
    'vae_conv': _conv('vae_conv', VAE_STYLE, (512, 256, 128, 64, 32, 16), 2048),
    'wae_conv': _conv('wae_conv', WAE_STYLE, (2048, 1024, 512, 256, 128), 0),
}
