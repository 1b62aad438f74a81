"""Building blocks shared by every encoder and decoder.

`ConvUnit` is the conv + BatchNorm + activation unit of the plain encoders and decoders,
`BottleneckBlock` serves both the ResNet identity block and the convolutional block, and
`TransposedConv` is a transposed convolution computed as one matrix product followed by
overlap-add (col2im), which XLA runs far faster on CPU than a dilated-input convolution.
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


def pointwise_conv(lhs: jax.Array, rhs: jax.Array, window_strides: Sequence[int], padding: Any,
                   *, precision: Any = None, **trivial: Any) -> jax.Array:
  """`lax.conv_general_dilated` of NHWC input with a 1x1 HWIO kernel, no padding, as `nn.Conv`
  calls it: a strided slice and a matrix product over channels.

  Same values and parameters; XLA's CPU backward of a 1x1 convolution transposes the
  activations for the weight gradient, while both gradients of a matrix product are plain
  GEMMs (up to 2x faster in the ResNet encoder's first stage). `trivial` holds `nn.Conv`'s
  dimension numbers and unit dilations, which this form assumes.
  """
  del padding, trivial  # a 1x1 'VALID' window reads exactly the strided pixels
  step_y, step_x = window_strides
  return jnp.einsum('nhwi,io->nhwo', lhs[:, ::step_y, ::step_x], rhs[0, 0], precision=precision)


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
      pointwise = self.kernel_size == 1 and self.padding == 'VALID'
      x = nn.Conv(self.features, (self.kernel_size,) * 2, strides=self.strides,
                  padding=self.padding, dtype=self.dtype,
                  conv_general_dilated=pointwise_conv if pointwise else None)(x)
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


def _padding_low(kernel_size: int, strides: int) -> int:
  """Padding before the dilated input in `lax.conv_transpose(padding='SAME')`."""
  if strides > kernel_size - 1:
    return kernel_size - 1
  return int(np.ceil((kernel_size + strides - 2) / 2))


def _phase_terms(kernel_size: int, strides: int) -> list[list[tuple[int, int]]]:
  """For each output phase r, the taps t that reach it and the input offset d they read.

  `lax.conv_transpose` sends input pixel i through tap t to output pixel
  o = s*i + pad_lo - t; writing o = s*j + r, output j of phase r sums, over the taps t with
  (r + t - pad_lo) divisible by s, input pixel j + d with d = (r + t - pad_lo) / s.
  """
  pad_lo = _padding_low(kernel_size, strides)
  return [[(t, (r + t - pad_lo) // strides) for t in range(kernel_size)
           if (r + t - pad_lo) % strides == 0] for r in range(strides)]


def _extract_patches(y: jax.Array, kernel_size: int, strides: int, height: int, width: int
                     ) -> jax.Array:
  """The transpose of `overlap_add`: patches[n, i, j, ty, tx] = y[n, s*i + pad_lo - ty, ...].

  Pixels outside `y` read as zero. Returns [n, height, width, k, k, channels].
  """
  k, s = kernel_size, strides
  pad_lo = _padding_low(k, s)
  before = max(0, k - 1 - pad_lo)
  after_y = max(0, s * (height - 1) + pad_lo - (y.shape[1] - 1))
  after_x = max(0, s * (width - 1) + pad_lo - (y.shape[2] - 1))
  y = jnp.pad(y, ((0, 0), (before, after_y), (before, after_x), (0, 0)))

  def tap(ty: int, tx: int) -> jax.Array:
    top, left = pad_lo - ty + before, pad_lo - tx + before
    return y[:, top:top + s * (height - 1) + 1:s, left:left + s * (width - 1) + 1:s]

  return jnp.stack([jnp.stack([tap(ty, tx) for tx in range(k)], axis=3) for ty in range(k)],
                   axis=3)


@functools.partial(jax.custom_vjp, nondiff_argnums=(1,))
def overlap_add(patches: jax.Array, strides: int) -> jax.Array:
  """col2im of a 'SAME' transposed conv: [n, h, w, k, k, c] patches -> [n, s*h, s*w, c].

  Patch (i, j, ty, tx) adds to output pixel (s*i + pad_lo - ty, s*j + pad_lo - tx). Computed
  per output phase as a sum of shifted slices, then depth-to-space. The gradient is
  `_extract_patches` (reverse mode only): differentiating the slices instead would build a
  full-size padded array per tap.
  """
  n, h, w, k, _, c = patches.shape
  terms = _phase_terms(k, strides)
  offsets = [d for phase in terms for _, d in phase]
  low, high = min(offsets), max(offsets)
  padded = jnp.pad(patches, ((0, 0), (-low, high), (-low, high), (0, 0), (0, 0), (0, 0)))

  def phase(ry: int, rx: int) -> jax.Array:  # zero where no tap reaches (kernel < strides)
    return sum((padded[:, dy - low:dy - low + h, dx - low:dx - low + w, ty, tx]
                for ty, dy in terms[ry] for tx, dx in terms[rx]),
               jnp.zeros((n, h, w, c), patches.dtype))

  y = jnp.stack([jnp.stack([phase(ry, rx) for rx in range(strides)], axis=3)
                 for ry in range(strides)], axis=3)  # [n, h, w, s_y, s_x, c]
  return y.transpose(0, 1, 3, 2, 4, 5).reshape(n, h * strides, w * strides, c)


def _overlap_add_forward(patches: jax.Array, strides: int) -> tuple[jax.Array, tuple]:
  return overlap_add(patches, strides), patches.shape


def _overlap_add_backward(strides: int, shape: tuple, grad: jax.Array) -> tuple[jax.Array]:
  _, h, w, k, _, _ = shape
  return (_extract_patches(grad, k, strides, h, w),)


overlap_add.defvjp(_overlap_add_forward, _overlap_add_backward)


class TransposedConv(nn.Module):
  """`nn.ConvTranspose(padding='SAME')`, same parameters and outputs, computed as a GEMM.

  Every input pixel times the (k, k, in, out) kernel gives a k x k patch of outputs (one
  matrix product with exactly the transposed conv's multiply-adds); `overlap_add` sums the
  patches into the s-times larger image. Forward and backward are matrix products plus cheap
  slicing, which XLA runs several times faster on CPU than its dilated-input convolution or
  a sub-pixel convolution. Tested equal to `nn.ConvTranspose`, values and gradients, in
  tests/test_models_blocks.py.
  """
  features: int
  kernel_size: int
  strides: int = 1
  dtype: Dtype = jnp.float32

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    k = self.kernel_size
    kernel = self.param('kernel', nn.initializers.lecun_normal(), (k, k, x.shape[-1], self.features),
                        jnp.float32)
    bias = self.param('bias', nn.initializers.zeros_init(), (self.features,), jnp.float32)
    patches = jnp.einsum('nhwi,yxio->nhwyxo', x.astype(self.dtype), kernel.astype(self.dtype))
    return overlap_add(patches, self.strides) + bias.astype(self.dtype)


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
