"""Objectives against direct computations."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from wae_jax import losses


def mmd_double_loop(z_q, z_p, sigma_z):
  """The unbiased IMQ MMD written out pair by pair, in float64."""
  n, d = z_q.shape
  cs = [2 * d * sigma_z ** 2 * s for s in (0.1, 0.2, 0.5, 1, 2, 5, 10)]

  def k(a, b):
    sq = float(np.sum((a - b) ** 2))
    return sum(c / (c + sq) for c in cs)

  pp = sum(k(z_p[i], z_p[j]) for i in range(n) for j in range(n) if i != j)
  qq = sum(k(z_q[i], z_q[j]) for i in range(n) for j in range(n) if i != j)
  pq = sum(k(z_p[i], z_q[j]) for i in range(n) for j in range(n))
  return (pp + qq) / (n * (n - 1)) - 2 * pq / n ** 2


def test_mmd_matches_double_loop():
  rng = np.random.default_rng(0)
  z_q = rng.normal(0.5, 1.2, (12, 5)).astype(np.float32)
  z_p = rng.normal(0.0, 1.414, (12, 5)).astype(np.float32)
  got = float(losses.mmd_imq(jnp.asarray(z_q), jnp.asarray(z_p), 1.414))
  assert got == pytest.approx(mmd_double_loop(z_q.astype(np.float64), z_p.astype(np.float64), 1.414),
                              rel=1e-4, abs=1e-6)


def test_mmd_small_for_prior_and_positive_for_shift():
  sigma_z, n, d = 1.414, 256, 64
  keys = jax.random.split(jax.random.key(0), 3)
  z_p = sigma_z * jax.random.normal(keys[0], (n, d))
  z_same = sigma_z * jax.random.normal(keys[1], (n, d))
  z_shifted = z_same + 1.0
  same = float(losses.mmd_imq(z_same, z_p, sigma_z))
  shifted = float(losses.mmd_imq(z_shifted, z_p, sigma_z))
  assert abs(same) < 0.01
  assert shifted > 20 * max(abs(same), 1e-3)


def test_gaussian_kl_matches_closed_form_per_dimension():
  mean = np.array([[0.3, -1.0]], np.float32)
  log_var = np.array([[0.2, -0.5]], np.float32)
  sigma_z = 1.5
  var = np.exp(log_var.astype(np.float64))
  # KL(N(m, v) || N(0, s^2)) = log(s / sqrt(v)) + (v + m^2) / (2 s^2) - 1/2, summed over dims.
  expected = np.sum(np.log(sigma_z / np.sqrt(var)) + (var + mean ** 2) / (2 * sigma_z ** 2) - 0.5)
  got = float(losses.gaussian_kl(jnp.asarray(mean), jnp.asarray(log_var), sigma_z)[0])
  assert got == pytest.approx(expected, rel=1e-5)
  assert float(losses.gaussian_kl(jnp.zeros((1, 3)), jnp.zeros((1, 3)), 1.0)[0]) == 0.0


def test_reconstruction_cost_is_scaled_squared_l2_per_example():
  x = np.zeros((2, 4, 4, 3), np.float32)
  y = np.zeros_like(x)
  y[0, 0, 0, 0] = 0.5
  y[1] = 1.0
  got = np.asarray(losses.reconstruction_cost(jnp.asarray(x), jnp.asarray(y), 0.05))
  np.testing.assert_allclose(got, [0.05 * 0.25, 0.05 * 48], rtol=1e-6)


def test_gan_losses_match_naive_formula_and_stay_finite():
  logits_p = jnp.array([0.5, -1.0, 2.0])
  logits_q = jnp.array([-0.3, 1.5, 0.0])
  sig = jax.nn.sigmoid
  naive_d = -2.0 * jnp.mean(jnp.log(sig(logits_p)) + jnp.log(1 - sig(logits_q)))
  assert float(losses.discriminator_loss(logits_p, logits_q, 2.0)) == pytest.approx(float(naive_d), rel=1e-5)
  naive_g = -2.0 * jnp.mean(jnp.log(sig(logits_q)))
  assert float(losses.wae_gan_penalty(logits_q, 2.0)) == pytest.approx(float(naive_g), rel=1e-5)
  # Saturated logits, where log(sigmoid) computed naively gives -inf.
  extreme = jnp.array([-200.0, 200.0])
  assert np.isfinite(float(losses.discriminator_loss(extreme, -extreme, 1.0)))
  grads = jax.grad(lambda l: losses.wae_gan_penalty(l, 1.0))(extreme)
  assert np.all(np.isfinite(np.asarray(grads)))
