"""Convolutions as matrix products (im2col / col2im, custom VJPs): drop-ins for `nn.Conv` and
`nn.ConvTranspose(padding='SAME')` without XLA's dilated-input convolutions (docs/benchmarks.md)."""

import functools
from typing import Any, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np


def matmul_conv(lhs: jax.Array, rhs: jax.Array, window_strides: Sequence[int], padding: Any,
                *, precision: Any = None, **trivial: Any) -> jax.Array:
  """`nn.Conv`'s `lax.conv_general_dilated` (NHWC, HWIO) as im2col and one matrix product; `trivial`
  holds `nn.Conv`'s dimension numbers and unit dilations, which this form assumes."""
  del trivial
  k_y, k_x = rhs.shape[:2]
  if k_y != k_x or window_strides[0] != window_strides[1]:
    raise ValueError('matmul_conv needs a square kernel and equal strides')
  if isinstance(padding, str):
    padding = jax.lax.padtype_to_pads(lhs.shape[1:3], rhs.shape[:2], window_strides, padding)
  (top, bottom), (left, right) = padding
  if top != left:
    raise ValueError('matmul_conv needs the same padding before rows and columns')
  s = window_strides[0]
  out_h = (lhs.shape[1] + top + bottom - k_y) // s + 1
  out_w = (lhs.shape[2] + left + right - k_x) // s + 1
  patches = extract_patches(lhs, k_y, s, top, out_h, out_w)
  return jnp.einsum('nhwyxi,yxio->nhwo', patches, rhs, precision=precision)


# `shifted_weight_grad` multiplies on the padded grid; where padding adds more than this
# fraction of rows (small feature maps), XLA's own weight gradient is as fast.
SHIFTED_GRAD_MAX_PADDING = 0.15


def _lax_conv(x: jax.Array, kernel: jax.Array, padding: Any, precision: Any) -> jax.Array:
  return jax.lax.conv_general_dilated(x, kernel, (1, 1), padding, precision=precision,
                                      dimension_numbers=('NHWC', 'HWIO', 'NHWC'))


_stride1_conv = jax.custom_vjp(_lax_conv, nondiff_argnums=(2, 3))


def _stride1_conv_backward(padding, precision, residuals, grad):
  x, kernel = residuals
  input_grad = jax.vjp(lambda x: _lax_conv(x, kernel, padding, precision), x)[1](grad)[0]

  def lax_weight_grad(x, grad):
    return jax.vjp(lambda k: _lax_conv(x, k, padding, precision), kernel)[1](grad)[0]

  (top, bottom), (left, right) = padding
  grid = (x.shape[1] + top + bottom) * (x.shape[2] + left + right)
  if grid > (1 + SHIFTED_GRAD_MAX_PADDING) * grad.shape[1] * grad.shape[2]:
    return input_grad, lax_weight_grad(x, grad)
  return input_grad, jax.lax.platform_dependent(
      x, grad, cpu=functools.partial(shifted_weight_grad, kernel_size=kernel.shape[0],
                                     padding=padding, precision=precision),
      default=lax_weight_grad)


_stride1_conv.defvjp(lambda x, kernel, padding, precision: (
    _lax_conv(x, kernel, padding, precision), (x, kernel)), _stride1_conv_backward)


def stride1_conv(lhs: jax.Array, rhs: jax.Array, window_strides: Sequence[int], padding: Any,
                 *, precision: Any = None, **trivial: Any) -> jax.Array:
  """`nn.Conv`'s stride-1 square convolution: XLA's, except that on CPU the weight gradient of
  large feature maps is `shifted_weight_grad`'s (XLA's runs far below the matrix-product rate)."""
  del trivial
  if tuple(window_strides) != (1, 1) or rhs.shape[0] != rhs.shape[1]:
    raise ValueError('stride1_conv needs a square kernel and unit strides')
  if isinstance(padding, str):
    padding = jax.lax.padtype_to_pads(lhs.shape[1:3], rhs.shape[:2], (1, 1), padding)
  return _stride1_conv(lhs, rhs, tuple(tuple(p) for p in padding), precision)


def shifted_weight_grad(x: jax.Array, grad: jax.Array, kernel_size: int, padding: Any,
                        precision: Any = None) -> jax.Array:
  """Weight gradient [k, k, in, out] of a stride-1 convolution as k*k matrix products: on the
  flattened padded grid, tap (ty, tx) pairs output pixel i with input i + ty * width + tx."""
  k = kernel_size
  (top, bottom), (left, right) = padding
  n, _, _, channels = x.shape
  x = jnp.pad(x, ((0, 0), (top, bottom), (left, right), (0, 0)))
  _, height, width, _ = x.shape
  out_h, out_w = height - k + 1, width - k + 1
  grad = jnp.pad(grad, ((0, 0), (0, height - out_h), (0, width - out_w), (0, 0)))
  rows = n * height * width
  x = jnp.pad(x.reshape(rows, channels), ((0, (k - 1) * width + k - 1), (0, 0)))
  grad = grad.reshape(rows, grad.shape[-1])
  taps = [jax.lax.dot_general(x[ty * width + tx:ty * width + tx + rows], grad,
                              (((0,), (0,)), ((), ())), precision=precision)
          for ty in range(k) for tx in range(k)]
  return jnp.stack(taps).reshape(k, k, channels, grad.shape[-1])


def _padding_low(kernel_size: int, strides: int) -> int:
  """Padding before the dilated input in `lax.conv_transpose(padding='SAME')`."""
  if strides > kernel_size - 1:
    return kernel_size - 1
  return int(np.ceil((kernel_size + strides - 2) / 2))


def _phase_terms(kernel_size: int, strides: int, pad: int) -> list[list[tuple[int, int]]]:
  """For each output phase r, the taps t that reach it and their patch offset d: output s*j + r
  sums patch j + d, d = (r + pad - t) / s, over the taps t where that divides."""
  return [[(t, (r + pad - t) // strides) for t in range(kernel_size)
           if (r + pad - t) % strides == 0] for r in range(strides)]


def _extract(x: jax.Array, kernel_size: int, strides: int, pad: int, out_h: int, out_w: int
             ) -> jax.Array:
  k, s = kernel_size, strides
  after_y = s * (out_h - 1) + k - 1 - pad - (x.shape[1] - 1)
  after_x = s * (out_w - 1) + k - 1 - pad - (x.shape[2] - 1)
  x = jax.lax.pad(x, jnp.zeros((), x.dtype),
                  ((0, 0, 0), (pad, after_y, 0), (pad, after_x, 0), (0, 0, 0)))

  def tap(ty: int, tx: int) -> jax.Array:
    return x[:, ty:ty + s * (out_h - 1) + 1:s, tx:tx + s * (out_w - 1) + 1:s]

  return jnp.stack([jnp.stack([tap(ty, tx) for tx in range(k)], axis=3) for ty in range(k)],
                   axis=3)


def _add(patches: jax.Array, strides: int, pad: int, height: int, width: int) -> jax.Array:
  n, h, w, k, _, c = patches.shape
  s = strides
  rows, cols = -(-height // s), -(-width // s)  # outputs per phase
  terms = _phase_terms(k, s, pad)
  offsets = [d for phase in terms for _, d in phase] or [0]
  low = max(0, -min(offsets))
  padded = jax.lax.pad(patches, jnp.zeros((), patches.dtype),
                       ((0, 0, 0), (low, rows - 1 + max(offsets) - (h - 1), 0),
                        (low, cols - 1 + max(offsets) - (w - 1), 0), (0, 0, 0), (0, 0, 0),
                        (0, 0, 0)))

  def phase(ry: int, rx: int) -> jax.Array:  # zero where no tap reaches (kernel < strides)
    return sum((padded[:, dy + low:dy + low + rows, dx + low:dx + low + cols, ty, tx]
                for ty, dy in terms[ry] for tx, dx in terms[rx]),
               jnp.zeros((n, rows, cols, c), patches.dtype))

  y = jnp.stack([jnp.stack([phase(ry, rx) for rx in range(s)], axis=3) for ry in range(s)],
                axis=3)  # [n, rows, cols, s_y, s_x, c]
  y = y.transpose(0, 1, 3, 2, 4, 5).reshape(n, rows * s, cols * s, c)
  return y[:, :height, :width]


@functools.partial(jax.custom_vjp, nondiff_argnums=(1, 2, 3, 4, 5))
def extract_patches(x: jax.Array, kernel_size: int, strides: int, pad: int, out_h: int,
                    out_w: int) -> jax.Array:
  """im2col: patches[n, i, j, ty, tx] = x[n, s*i + ty - pad, s*j + tx - pad], zero outside x:
  [n, out_h, out_w, k, k, channels]."""
  return _extract(x, kernel_size, strides, pad, out_h, out_w)


@functools.partial(jax.custom_vjp, nondiff_argnums=(1, 2, 3, 4))
def add_patches(patches: jax.Array, strides: int, pad: int, height: int, width: int
                ) -> jax.Array:
  """col2im, the transpose of `extract_patches`: [n, h, w, k, k, c] -> [n, height, width, c],
  per output phase a sum of shifted slices, then depth-to-space."""
  return _add(patches, strides, pad, height, width)


# Each one's gradient is the other (differentiating the strided slices would build one padded
# array per tap); the forward residuals are the shapes the other needs.
extract_patches.defvjp(
    lambda x, k, s, pad, out_h, out_w: (_extract(x, k, s, pad, out_h, out_w), x.shape[1:3]),
    lambda k, s, pad, out_h, out_w, size, grad: (_add(grad, s, pad, *size),))
add_patches.defvjp(
    lambda patches, s, pad, height, width: (_add(patches, s, pad, height, width), patches.shape[1:4]),
    lambda s, pad, height, width, shape, grad: (_extract(grad, shape[2], s, pad, *shape[:2]),))


class TransposedConv(nn.Module):
  """`nn.ConvTranspose(padding='SAME')`, same parameters and outputs, as a GEMM: each input
  pixel times the kernel gives a k x k patch; `add_patches` sums them into the larger image."""
  features: int
  kernel_size: int
  strides: int = 1
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    k = self.kernel_size
    kernel = self.param('kernel', nn.initializers.lecun_normal(), (k, k, x.shape[-1], self.features),
                        jnp.float32)
    bias = self.param('bias', nn.initializers.zeros_init(), (self.features,), jnp.float32)
    # Input pixel i, tap t lands on output s*i + pad_lo - t: taps reversed (the kernel's, not
    # the larger patches'), in add_patches' convention pad k - 1 - pad_lo.
    patches = jnp.einsum('nhwi,yxio->nhwyxo', x.astype(self.dtype),
                         kernel[::-1, ::-1].astype(self.dtype))
    _, h, w, _ = x.shape
    s = self.strides
    return add_patches(patches, s, k - 1 - _padding_low(k, s), s * h, s * w) + bias.astype(self.dtype)
