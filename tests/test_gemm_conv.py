"""The matrix-product forms of TransposedConv and of convolutions against Flax and lax."""

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from wae_jax import gemm_conv
from wae_jax.gemm_conv import TransposedConv, matmul_conv, shifted_weight_grad, stride1_conv

CASES = [(3, 1), (3, 2), (5, 2), (4, 2), (5, 3), (1, 2)]


def _reference_and_variables(kernel: int, strides: int, x: jax.Array):
  reference = nn.ConvTranspose(7, (kernel, kernel), strides=(strides, strides), padding='SAME')
  variables = reference.init(jax.random.key(1), x)
  # Random (not zero) bias, so a misplaced bias would show.
  variables = jax.tree.map(lambda a: jax.random.normal(jax.random.key(2), a.shape), variables)
  return reference, variables


@pytest.mark.parametrize('kernel,strides', CASES)
def test_transposed_conv_values_and_gradients_equal_conv_transpose(kernel, strides):
  x = jax.random.normal(jax.random.key(0), (2, 5, 6, 4))  # non-square: rows and columns kept apart
  reference, variables = _reference_and_variables(kernel, strides, x)
  ours = TransposedConv(7, kernel, strides)
  weights = jax.random.normal(jax.random.key(3), (2, 5 * strides, 6 * strides, 7))

  def loss(module):
    return lambda v, x: jnp.sum(weights * module.apply(v, x))

  np.testing.assert_allclose(ours.apply(variables, x), reference.apply(variables, x),
                             atol=1e-5, rtol=1e-5)
  got = jax.jit(jax.grad(loss(ours), argnums=(0, 1)))(variables, x)
  expected = jax.grad(loss(reference), argnums=(0, 1))(variables, x)
  for g, e in zip(jax.tree.leaves(got), jax.tree.leaves(expected)):
    np.testing.assert_allclose(g, e, atol=1e-4, rtol=1e-5)


def test_transposed_conv_bfloat16_computes_in_bfloat16_close_to_float32():
  x = jax.random.normal(jax.random.key(0), (2, 4, 4, 8))
  reference, variables = _reference_and_variables(5, 2, x)
  got = TransposedConv(7, 5, 2, dtype=jnp.bfloat16).apply(variables, x)
  assert got.dtype == jnp.bfloat16
  expected = reference.apply(variables, x)
  scale = float(jnp.max(jnp.abs(expected)))
  np.testing.assert_allclose(np.asarray(got, np.float32), expected, atol=0.03 * scale)


@pytest.mark.parametrize('kernel,strides,padding', [
    (1, 1, 'VALID'), (1, 2, 'VALID'), (3, 2, 'SAME'), (5, 2, 'SAME'), (4, 2, 'SAME'),
    (3, 1, 'SAME'), (3, 3, 'VALID')])
def test_matmul_conv_values_and_gradients_equal_lax_convolution(kernel, strides, padding):
  x = jax.random.normal(jax.random.key(0), (2, 5, 7, 4))  # odd sizes: uneven 'SAME' padding
  reference = nn.Conv(6, (kernel, kernel), strides=strides, padding=padding)
  ours = nn.Conv(6, (kernel, kernel), strides=strides, padding=padding,
                 conv_general_dilated=matmul_conv)
  variables = reference.init(jax.random.key(1), x)
  variables = jax.tree.map(lambda a: jax.random.normal(jax.random.key(2), a.shape), variables)
  expected = reference.apply(variables, x)
  np.testing.assert_allclose(ours.apply(variables, x), expected, atol=1e-5, rtol=1e-5)
  weights = jax.random.normal(jax.random.key(3), expected.shape)
  got, want = (jax.grad(lambda v, x, m=m: jnp.sum(weights * m.apply(v, x)), argnums=(0, 1))(variables, x)
               for m in (ours, reference))
  for g, e in zip(jax.tree.leaves(got), jax.tree.leaves(want)):
    np.testing.assert_allclose(g, e, atol=1e-4, rtol=1e-5)


@pytest.mark.parametrize('shifted', [True, False], ids=['shifted-weight-grad', 'xla-weight-grad'])
@pytest.mark.parametrize('kernel,padding', [
    (3, 'SAME'), (5, 'SAME'), (4, 'SAME'), (3, 'VALID'), (1, 'VALID'), (3, ((2, 0), (0, 1)))])
def test_stride1_conv_values_and_gradients_equal_lax_convolution(kernel, padding, shifted,
                                                                 monkeypatch):
  monkeypatch.setattr(gemm_conv, 'SHIFTED_GRAD_MAX_PADDING', np.inf if shifted else -1.0)
  x = jax.random.normal(jax.random.key(0), (2, 5, 7, 4))  # odd sizes: uneven 'SAME' padding
  reference = nn.Conv(6, (kernel, kernel), padding=padding)
  ours = nn.Conv(6, (kernel, kernel), padding=padding, conv_general_dilated=stride1_conv)
  variables = reference.init(jax.random.key(1), x)
  variables = jax.tree.map(lambda a: jax.random.normal(jax.random.key(2), a.shape), variables)
  expected = reference.apply(variables, x)
  np.testing.assert_allclose(ours.apply(variables, x), expected, atol=1e-5, rtol=1e-5)
  weights = jax.random.normal(jax.random.key(3), expected.shape)
  got, want = (jax.jit(jax.grad(lambda v, x, m=m: jnp.sum(weights * m.apply(v, x)), argnums=(0, 1)))(
      variables, x) for m in (ours, reference))
  for g, e in zip(jax.tree.leaves(got), jax.tree.leaves(want)):
    np.testing.assert_allclose(g, e, atol=1e-4, rtol=1e-5)


def test_shifted_weight_grad_is_the_convolution_weight_gradient():
  """The CPU branch of stride1_conv's backward, called directly (so it is tested on any backend)."""
  x = jax.random.normal(jax.random.key(0), (3, 6, 5, 4))
  kernel = jax.random.normal(jax.random.key(1), (3, 3, 4, 2))
  padding = ((1, 1), (0, 2))
  conv = lambda k: jax.lax.conv_general_dilated(x, k, (1, 1), padding,
                                                dimension_numbers=('NHWC', 'HWIO', 'NHWC'))
  grad = jax.random.normal(jax.random.key(2), conv(kernel).shape)
  expected = jax.vjp(conv, kernel)[1](grad)[0]
  np.testing.assert_allclose(shifted_weight_grad(x, grad, 3, padding), expected, atol=1e-4, rtol=1e-5)


def test_stride1_conv_rejects_strides():
  with pytest.raises(ValueError, match='unit strides'):
    stride1_conv(jnp.zeros((1, 4, 4, 2)), jnp.zeros((3, 3, 2, 2)), (2, 2), 'SAME')
