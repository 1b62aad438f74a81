"""Encoders: image in [0, 1] (NHWC) -> latent code (a point, or a Gaussian for the VAEs)."""

import functools
from typing import Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

from wae_jax.models.blocks import ACTIVATIONS, BottleneckBlock, ConvUnit, Dtype, LatentHead, batch_norm
from wae_jax.models.component import Component, Sizes


class ConvEncoder(nn.Module):
  """Stride-2 'SAME' convolutions (any image size), flatten, optional dense layer, latent head.

  VAE (thesis 4.3.1): 3x3 convs 32..512, BN, LeakyReLU(0.02), Dense 2048 SELU, Gaussian head.
  WAE (thesis 4.3.2): 5x5 convs 128..2048, BN, ReLU, Dense to the latent."""
  widths: Sequence[int]
  kernel_size: int
  activation: str
  latent_dim: int
  hidden_units: int = 0  # > 0: a Dense hidden layer before the head
  hidden_activation: str = 'selu'
  gaussian: bool = False
  axis_name: str | None = None
  dtype: Dtype = jnp.float32

  @nn.compact
  def __call__(self, x: jax.Array, train: bool) -> dict[str, jax.Array]:
    x = x.astype(self.dtype)
    for width in self.widths:
      x = ConvUnit(width, self.kernel_size, strides=2, activation=self.activation,
                   axis_name=self.axis_name, dtype=self.dtype)(x, train)
    h = x.reshape(x.shape[0], -1)
    if self.hidden_units:
      h = ACTIVATIONS[self.hidden_activation](nn.Dense(self.hidden_units, dtype=self.dtype)(h))
    return LatentHead(self.latent_dim, self.gaussian, dtype=self.dtype)(h)


class ResNetEncoder(nn.Module):
  """The thesis's ResNet-50-style encoder (3.2): zero-pad 2; Conv 7x7/2 + BN + ReLU; MaxPool
  3x3/1; four stages of a convolutional block (stride 1, then 2) and identity blocks; AvgPool
  2x2; flatten; latent head. Below 32x32 pixels the final feature map would vanish."""
  MIN_IMAGE_SIZE = 32

  latent_dim: int
  stage_filters: Sequence[Sequence[int]] = ((64, 64, 256), (128, 128, 512), (256, 256, 1024),
                                            (512, 512, 2048))
  identity_blocks: Sequence[int] = (2, 3, 3, 3)
  stem_features: int = 64
  hidden_units: int = 0  # > 0: a Dense ReLU layer before the head
  gaussian: bool = False
  axis_name: str | None = None
  dtype: Dtype = jnp.float32

  @nn.compact
  def __call__(self, x: jax.Array, train: bool) -> dict[str, jax.Array]:
    x = jnp.pad(x.astype(self.dtype), ((0, 0), (2, 2), (2, 2), (0, 0)))
    x = nn.Conv(self.stem_features, (7, 7), strides=2, padding='VALID', dtype=self.dtype)(x)
    x = nn.relu(batch_norm(train, self.axis_name, self.dtype)(x))
    x = nn.max_pool(x, (3, 3), strides=(1, 1))
    block = functools.partial(BottleneckBlock, axis_name=self.axis_name, dtype=self.dtype)
    for stage, (filters, repeats) in enumerate(zip(self.stage_filters, self.identity_blocks)):
      x = block(filters, strides=1 if stage == 0 else 2, project=True)(x, train)
      for _ in range(repeats):
        x = block(filters)(x, train)
    x = nn.avg_pool(x, (2, 2), strides=(2, 2))
    h = x.reshape(x.shape[0], -1)
    if self.hidden_units:
      h = nn.relu(nn.Dense(self.hidden_units, dtype=self.dtype)(h))
    return LatentHead(self.latent_dim, self.gaussian, dtype=self.dtype)(h)


# What tells the VAE's and the WAE's conv encoders apart besides their sizes (thesis 4.3.1-2).
VAE_STYLE = {'kernel_size': 3, 'activation': 'leaky_relu', 'hidden_activation': 'selu'}
WAE_STYLE = {'kernel_size': 5, 'activation': 'relu', 'hidden_activation': 'relu'}


def _conv_encoder(style, sizes, cfg, dtype, axis_name, gaussian):
  return ConvEncoder(sizes.widths, latent_dim=cfg.latent_dim, hidden_units=sizes.hidden_units,
                     gaussian=gaussian, axis_name=axis_name, dtype=dtype, **style)


def _check_conv(name, sizes, image_size, fields):
  return None if sizes.widths else f'{fields}widths={sizes.widths}: the {name} encoder takes at least one'


def _resnet_encoder(sizes, cfg, dtype, axis_name, gaussian):
  return ResNetEncoder(cfg.latent_dim, stage_filters=tuple((f, f, 4 * f) for f in sizes.widths),
                       stem_features=sizes.widths[0], hidden_units=sizes.hidden_units,
                       gaussian=gaussian, axis_name=axis_name, dtype=dtype)


def _check_resnet(sizes, image_size, fields):
  if image_size < ResNetEncoder.MIN_IMAGE_SIZE:
    return (f'config.model.image_size={image_size} is too small for the resnet encoder: use at least '
            f'{ResNetEncoder.MIN_IMAGE_SIZE}')
  stages = len(ResNetEncoder.identity_blocks)
  if len(sizes.widths) != stages:
    return f'{fields}widths={sizes.widths}: the resnet encoder takes {stages} (one per ResNet stage)'
  return None


# Every encoder config.model.encoder can name, with the thesis's sizes as its defaults.
ENCODERS = {
    'vae_conv': Component(functools.partial(_conv_encoder, VAE_STYLE),
                          Sizes((32, 64, 128, 256, 512), 2048), functools.partial(_check_conv, 'vae_conv')),
    'wae_conv': Component(functools.partial(_conv_encoder, WAE_STYLE),
                          Sizes((128, 256, 512, 1024, 2048), 0), functools.partial(_check_conv, 'wae_conv')),
    # Per stage f: bottlenecks of f, f, 4f filters.
    'resnet': Component(_resnet_encoder, Sizes((64, 128, 256, 512), 0), _check_resnet),
}
