"""Building blocks shared by every encoder and decoder (thesis Chapter 3); the convolutions are
computed as matrix products by `wae_jax.gemm_conv`."""

import functools
from typing import Any, Callable, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

from wae_jax.gemm_conv import TransposedConv, matmul_conv, stride1_conv

Dtype = Any


def leaky_relu(x: jax.Array) -> jax.Array:
  """LeakyReLU with the thesis's slope 0.02."""
  return nn.leaky_relu(x, negative_slope=0.02)


ACTIVATIONS: dict[str, Callable[[jax.Array], jax.Array]] = {
    'relu': nn.relu,
    'leaky_relu': leaky_relu,
    'selu': nn.selu,
    'identity': lambda x: x,
}


BN_MOMENTUM = 0.99  # running statistics: m * old + (1 - m) * batch (Keras's default)


def batch_norm(train: bool, axis_name: str | None, dtype: Dtype, name: str | None = None) -> nn.BatchNorm:
  """BatchNorm as Keras configures it (momentum 0.99, eps 1e-3); statistics stay float32. With
  `axis_name`, a batch split over devices is normalised exactly like the whole batch on one."""
  return nn.BatchNorm(
      use_running_average=not train, momentum=BN_MOMENTUM, epsilon=1e-3, axis_name=axis_name,
      dtype=dtype, param_dtype=jnp.float32, name=name)


class ConvUnit(nn.Module):
  """Conv (or transposed conv) + BatchNorm + activation: `norm_first` conv -> BN -> act (the
  thesis's encoders), else conv -> act -> BN (Keras `activation=` then BN: the VAE decoder)."""
  features: int
  kernel_size: int
  strides: int = 1
  activation: str = 'relu'
  norm_first: bool = True
  transpose: bool = False
  padding: str = 'SAME'
  axis_name: str | None = None
  dtype: Dtype = jnp.float32

  @nn.compact
  def __call__(self, x: jax.Array, train: bool) -> jax.Array:
    if self.transpose:
      x = TransposedConv(self.features, self.kernel_size, self.strides, dtype=self.dtype)(x)
    else:  # im2col only where it pays: 1x1 and strided (docs/benchmarks.md)
      as_matmul = self.kernel_size == 1 or self.strides > 1
      x = nn.Conv(self.features, (self.kernel_size,) * 2, strides=self.strides,
                  padding=self.padding, dtype=self.dtype,
                  conv_general_dilated=matmul_conv if as_matmul else stride1_conv)(x)
    norm = batch_norm(train, self.axis_name, self.dtype)
    act = ACTIVATIONS[self.activation]
    return act(norm(x)) if self.norm_first else norm(act(x))


class BottleneckBlock(nn.Module):
  """ResNet bottleneck (thesis 3.2): 1x1 (stride s) -> f x f -> 1x1, each with BN, plus a
  shortcut (identity; with `project` a 1x1 conv, stride s, + BN), then ReLU."""
  filters: Sequence[int]
  kernel_size: int = 3
  strides: int = 1
  project: bool = False
  axis_name: str | None = None
  dtype: Dtype = jnp.float32

  @nn.compact
  def __call__(self, x: jax.Array, train: bool) -> jax.Array:
    f1, f2, f3 = self.filters
    unit = functools.partial(ConvUnit, axis_name=self.axis_name, dtype=self.dtype)
    y = unit(f1, 1, self.strides, padding='VALID')(x, train)
    y = unit(f2, self.kernel_size)(y, train)
    y = unit(f3, 1, activation='identity', padding='VALID')(y, train)
    if self.project:
      x = unit(f3, 1, self.strides, activation='identity', padding='VALID')(x, train)
    return nn.relu(x + y)


class LatentHead(nn.Module):
  """Dense map to the latent code: a point (WAE) or a Gaussian's mean and log-variance (VAE)."""
  latent_dim: int
  gaussian: bool = False
  dtype: Dtype = jnp.float32

  @nn.compact
  def __call__(self, h: jax.Array) -> dict[str, jax.Array]:
    mean = nn.Dense(self.latent_dim, dtype=self.dtype, name='mean')(h).astype(jnp.float32)
    if not self.gaussian:
      return {'mean': mean}
    log_var = nn.Dense(self.latent_dim, dtype=self.dtype, name='log_var')(h).astype(jnp.float32)
    return {'mean': mean, 'log_var': log_var}
