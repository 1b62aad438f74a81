"""InceptionV3 of the TF "2015-12-05" graph (the FID network) in Flax, NHWC, inference only.

Module names follow the TorchScript archive of the weights (`conv_1`, `mixed_10`, `tower_2`), so
archive paths map one-to-one onto parameter paths; batch norm is folded into each conv's kernel
and bias at load time (`weights.py`).
"""

from typing import NamedTuple

import flax.linen as nn
import jax
import jax.numpy as jnp

FEATURE_DIM = 2048
INPUT_SIZE = 299


class Conv(NamedTuple):
  """One conv layer: output channels, kernel (h, w), stride, symmetric padding (h, w)."""
  features: int
  kernel: tuple[int, int] = (1, 1)
  stride: int = 1
  padding: tuple[int, int] = (0, 0)


def _square(features: int, size: int, stride: int = 1, padding: int = 0) -> Conv:
  return Conv(features, (size, size), stride, (padding, padding))


def _row(features: int) -> Conv:
  """1x7 kernel, padded to keep the size."""
  return Conv(features, (1, 7), 1, (0, 3))


def _column(features: int) -> Conv:
  """7x1 kernel, padded to keep the size."""
  return Conv(features, (7, 1), 1, (3, 0))


class ConvBN(nn.Module):
  """Convolution (no bias in the graph) + batch norm folded into `kernel` and `bias` + ReLU."""
  spec: Conv

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    spec = self.spec
    kernel = self.param('kernel', nn.initializers.lecun_normal(),
                        (*spec.kernel, x.shape[-1], spec.features))
    bias = self.param('bias', nn.initializers.zeros, (spec.features,))
    # HIGHEST: no TF32 / bf16 passes on accelerators, the features must match the reference.
    y = jax.lax.conv_general_dilated(
        x, kernel, (spec.stride, spec.stride), [(p, p) for p in spec.padding],
        dimension_numbers=('NHWC', 'HWIO', 'NHWC'), precision=jax.lax.Precision.HIGHEST)
    return nn.relu(y + bias)


def _max_pool(x: jax.Array, stride: int, padding: int = 0) -> jax.Array:
  return nn.max_pool(x, (3, 3), (stride, stride), ((padding, padding), (padding, padding)))


def _avg_pool_same(x: jax.Array) -> jax.Array:
  """3x3 stride-1 average that divides by the number of in-image pixels (count_include_pad=False)."""
  return nn.avg_pool(x, (3, 3), (1, 1), ((1, 1), (1, 1)), count_include_pad=False)


class Tower(nn.Module):
  """A chain of conv layers named conv, conv_1, conv_2, ... (the archive's Sequential),
  after a same-size average pool when `pool_first`."""
  convs: tuple[Conv, ...]
  pool_first: bool = False

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    if self.pool_first:
      x = _avg_pool_same(x)
    for index, spec in enumerate(self.convs):
      x = ConvBN(spec, name='conv' if index == 0 else f'conv_{index}')(x)
    return x


class InceptionA(nn.Module):
  """35x35 block: 1x1, 5x5, double 3x3 and pool towers."""
  pool_features: int

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    return jnp.concatenate([
        ConvBN(_square(64, 1), name='conv')(x),
        Tower((_square(48, 1), _square(64, 5, padding=2)), name='tower')(x),
        Tower((_square(64, 1), _square(96, 3, padding=1), _square(96, 3, padding=1)),
              name='tower_1')(x),
        Tower((_square(self.pool_features, 1),), pool_first=True, name='tower_2')(x),
    ], axis=-1)


class InceptionB(nn.Module):
  """35x35 -> 17x17 reduction."""

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    return jnp.concatenate([
        ConvBN(_square(384, 3, stride=2), name='conv')(x),
        Tower((_square(64, 1), _square(96, 3, padding=1), _square(96, 3, stride=2)),
              name='tower')(x),
        _max_pool(x, stride=2),
    ], axis=-1)


class InceptionC(nn.Module):
  """17x17 block with factorised 7x7 convolutions (1x7 and 7x1)."""
  channels_7x7: int

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    c7 = self.channels_7x7
    return jnp.concatenate([
        ConvBN(_square(192, 1), name='conv')(x),
        Tower((_square(c7, 1), _row(c7), _column(192)), name='tower')(x),
        Tower((_square(c7, 1), _column(c7), _row(c7), _column(c7), _row(192)), name='tower_1')(x),
        Tower((_square(192, 1),), pool_first=True, name='tower_2')(x),
    ], axis=-1)


class InceptionD(nn.Module):
  """17x17 -> 8x8 reduction."""

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    return jnp.concatenate([
        Tower((_square(192, 1), _square(320, 3, stride=2)), name='tower')(x),
        Tower((_square(192, 1), _row(192), _column(192), _square(192, 3, stride=2)),
              name='tower_1')(x),
        _max_pool(x, stride=2),
    ], axis=-1)


class InceptionE(nn.Module):
  """8x8 block with split 1x3 / 3x1 outputs. The TF graph's last block pools with a MAX
  (not an average) in its pool tower: `max_pool_tower` reproduces that quirk."""
  max_pool_tower: bool = False

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    a = ConvBN(_square(384, 1), name='tower_conv')(x)
    b = ConvBN(_square(448, 1), name='tower_1_conv')(x)
    b = ConvBN(_square(384, 3, padding=1), name='tower_1_conv_1')(b)
    pooled = _max_pool(x, stride=1, padding=1) if self.max_pool_tower else _avg_pool_same(x)
    wide, tall = Conv(384, (1, 3), 1, (0, 1)), Conv(384, (3, 1), 1, (1, 0))
    return jnp.concatenate([
        ConvBN(_square(320, 1), name='conv')(x),
        ConvBN(wide, name='tower_mixed_conv')(a),
        ConvBN(tall, name='tower_mixed_conv_1')(a),
        ConvBN(wide, name='tower_1_mixed_conv')(b),
        ConvBN(tall, name='tower_1_mixed_conv_1')(b),
        ConvBN(_square(192, 1), name='tower_2_conv')(pooled),
    ], axis=-1)


class InceptionV3(nn.Module):
  """(N, 299, 299, 3) images scaled to [-1, 1) -> (N, 2048) pool features."""

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    x = ConvBN(_square(32, 3, stride=2), name='conv')(x)
    x = ConvBN(_square(32, 3), name='conv_1')(x)
    x = ConvBN(_square(64, 3, padding=1), name='conv_2')(x)
    x = _max_pool(x, stride=2)
    x = ConvBN(_square(80, 1), name='conv_3')(x)
    x = ConvBN(_square(192, 3), name='conv_4')(x)
    x = _max_pool(x, stride=2)
    x = InceptionA(32, name='mixed')(x)
    x = InceptionA(64, name='mixed_1')(x)
    x = InceptionA(64, name='mixed_2')(x)
    x = InceptionB(name='mixed_3')(x)
    x = InceptionC(128, name='mixed_4')(x)
    x = InceptionC(160, name='mixed_5')(x)
    x = InceptionC(160, name='mixed_6')(x)
    x = InceptionC(192, name='mixed_7')(x)
    x = InceptionD(name='mixed_8')(x)
    x = InceptionE(name='mixed_9')(x)
    x = InceptionE(max_pool_tower=True, name='mixed_10')(x)
    return jnp.mean(x, axis=(1, 2))  # pool2: the 8x8 average


def conv_layout() -> dict[tuple[str, ...], tuple[Conv, int]]:
  """Every conv layer of the network: its module path -> (spec, input channels), traced
  abstractly, so the architecture above is the one truth the archive is checked against."""
  layout = {}

  def record(call, args, kwargs, context):
    if isinstance(context.module, ConvBN) and context.method_name == '__call__':
      layout[context.module.path] = (context.module.spec, args[0].shape[-1])
    return call(*args, **kwargs)

  with nn.intercept_methods(record):
    jax.eval_shape(InceptionV3().init, jax.random.key(0),
                   jax.ShapeDtypeStruct((1, INPUT_SIZE, INPUT_SIZE, 3), jnp.float32))
  return layout
