"""Building blocks shared by every encoder and decoder.

`ConvUnit` is the conv + BatchNorm + activation unit of the plain encoders and decoders,
`BottleneckBlock` serves both the ResNet identity block and the convolutional block, and
`TransposedConv` is a transposed convolution computed as a stride-1 convolution followed by
depth-to-space (sub-pixel), which XLA runs far faster on CPU than a dilated-input convolution.
"""

import functools
from typing import Any, Callable, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

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


def batch_norm(train: bool, axis_name: str | None, dtype: Dtype, name: str | None = None) -> nn.BatchNorm:
  """BatchNorm as Keras configures it (momentum 0.99, eps 1e-3); statistics stay float32.

  With `axis_name`, training statistics are averaged over that device axis, so a batch split
  over devices is normalised exactly like the whole batch on one device.
  """
  return nn.BatchNorm(
      use_running_average=not train, momentum=0.99, epsilon=1e-3, axis_name=axis_name,
      dtype=dtype, param_dtype=jnp.float32, name=name)


class ConvUnit(nn.Module):
  """Conv (or transposed conv) + BatchNorm + activation, in either order.

  `norm_first=True` is conv -> BN -> act (the thesis's WAE and VAE encoders);
  `norm_first=False` is conv -> act -> BN (Keras `activation=` then a BN layer, the VAE decoder).
  """
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
    else:
      x = nn.Conv(self.features, (self.kernel_size,) * 2, strides=self.strides,
                  padding=self.padding, dtype=self.dtype)(x)
    norm = batch_norm(train, self.axis_name, self.dtype)
    act = ACTIVATIONS[self.activation]
    return act(norm(x)) if self.norm_first else norm(act(x))


class BottleneckBlock(nn.Module):
  """ResNet bottleneck: 1x1 (stride s) -> f x f -> 1x1, each with BN, plus a shortcut, then ReLU.

  The shortcut is the identity (identity block) unless `project` is set, in which case it is a
  1x1 conv with stride s + BN (convolutional block). Thesis Section 3.2.
  """
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


def _phase_taps(kernel_size: int, strides: int) -> tuple[np.ndarray, int]:
  """Where each tap of a 'SAME' transposed conv lands in its sub-pixel convolution.

  `lax.conv_transpose` dilates the input by `strides`, pads it by (pad_lo, pad_hi) and
  correlates with the kernel, so output pixel o = s*i + r reads tap t from input pixel
  i + (r + t - pad_lo) / s whenever that is an integer. Returns a 0/1 array
  `taps[t, offset, r]` over the offsets that occur, and the lowest offset.
  """
  pad_len = kernel_size + strides - 2
  pad_lo = kernel_size - 1 if strides > kernel_size - 1 else int(np.ceil(pad_len / 2))
  hits = [(t, (r + t - pad_lo) // strides, r)
          for t in range(kernel_size) for r in range(strides) if (r + t - pad_lo) % strides == 0]
  low = min(d for _, d, _ in hits)
  high = max(d for _, d, _ in hits)
  taps = np.zeros((kernel_size, high - low + 1, strides), np.float32)
  for t, d, r in hits:
    taps[t, d - low, r] = 1.0
  return taps, low


class TransposedConv(nn.Module):
  """`nn.ConvTranspose(padding='SAME')`, same parameters and outputs, computed sub-pixel.

  The (k, k, in, out) kernel is rearranged into a stride-1 kernel producing s*s*out channels
  (one group per output phase), then depth-to-space interleaves the phases. Tested equal to
  `nn.ConvTranspose` in tests/test_models.py.
  """
  features: int
  kernel_size: int
  strides: int = 1
  dtype: Dtype = jnp.float32

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    k, s = self.kernel_size, self.strides
    kernel = self.param('kernel', nn.initializers.lecun_normal(), (k, k, x.shape[-1], self.features),
                        jnp.float32)
    bias = self.param('bias', nn.initializers.zeros_init(), (self.features,), jnp.float32)
    taps, low = _phase_taps(k, s)
    # sub[a, b, i, ry, rx, o] = sum_{ty, tx} taps[ty, a, ry] taps[tx, b, rx] kernel[ty, tx, i, o]
    sub = jnp.einsum('yar,xbq,yxio->abirqo', taps, taps, kernel)
    span = taps.shape[1]
    sub = sub.reshape(span, span, x.shape[-1], s * s * self.features).astype(self.dtype)
    pad = (-low, span - 1 + low)
    y = jax.lax.conv_general_dilated(
        x.astype(self.dtype), sub, window_strides=(1, 1), padding=(pad, pad),
        dimension_numbers=('NHWC', 'HWIO', 'NHWC'))
    n, h, w, _ = y.shape
    y = y.reshape(n, h, w, s, s, self.features).transpose(0, 1, 3, 2, 4, 5)
    return y.reshape(n, h * s, w * s, self.features) + bias.astype(self.dtype)


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
