"""The terms objectives are made of: reconstruction cost, KL, IMQ MMD and the WAE-GAN terms."""

import jax
import jax.numpy as jnp

# WAE paper / official code: C = 2 * d_z * sigma_z^2 * scale for these scales.
IMQ_SCALES = (0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0)


def reconstruction_cost(x: jax.Array, y: jax.Array, scale: float) -> jax.Array:
  """c(x, y) = scale * ||x - y||^2 summed over pixels, per example. Shape [batch]."""
  diff = (x.astype(jnp.float32) - y.astype(jnp.float32)).reshape(x.shape[0], -1)
  return scale * jnp.sum(diff * diff, axis=-1)


def gaussian_kl(mean: jax.Array, log_var: jax.Array, sigma_z: float) -> jax.Array:
  """KL(N(mean, exp(log_var)) || N(0, sigma_z^2 I)), analytic, per example. Shape [batch]."""
  prior_var = sigma_z ** 2
  return 0.5 * jnp.sum(
      (jnp.exp(log_var) + mean ** 2) / prior_var - 1.0 - log_var + jnp.log(prior_var), axis=-1)


def imq_kernel_sum(a: jax.Array, b: jax.Array, sigma_z: float, exclude_diagonal: bool) -> jax.Array:
  """Sum over pairs of sum_C C / (C + ||a_i - b_j||^2), the inverse multiquadratic kernel."""
  d_z = a.shape[-1]
  sq = jnp.sum((a[:, None, :] - b[None, :, :]) ** 2, axis=-1)
  total = jnp.zeros((), jnp.float32)
  for scale in IMQ_SCALES:
    c = 2.0 * d_z * sigma_z ** 2 * scale
    k = c / (c + sq)
    if exclude_diagonal:
      k = k * (1.0 - jnp.eye(a.shape[0], dtype=k.dtype))
    total = total + jnp.sum(k)
  return total


def mmd_imq(z_q: jax.Array, z_p: jax.Array, sigma_z: float) -> jax.Array:
  """Unbiased MMD^2 estimate between codes z_q and prior samples z_p (IMQ kernel):
  (1 / n(n-1)) sum_{i != j} [k(p_i, p_j) + k(q_i, q_j)] - (2 / n^2) sum_{i, j} k(p_i, q_j)."""
  n = z_q.shape[0]
  z_q = z_q.astype(jnp.float32)
  z_p = z_p.astype(jnp.float32)
  within = imq_kernel_sum(z_p, z_p, sigma_z, True) + imq_kernel_sum(z_q, z_q, sigma_z, True)
  cross = imq_kernel_sum(z_p, z_q, sigma_z, False)
  return within / (n * (n - 1)) - 2.0 * cross / (n * n)


def gather_batch(x: jax.Array, axis_name: str | None) -> jax.Array:
  """The rows of every device's `x`, in device order: a whole-batch statistic's input."""
  return x if axis_name is None else jax.lax.all_gather(x, axis_name, tiled=True)


def mmd_penalty(z_q: jax.Array, z_p: jax.Array, sigma_z: float, axis_name: str | None) -> jax.Array:
  """MMD over the whole (global) batch, on every device: a U-statistic over pairs, not a mean."""
  return mmd_imq(gather_batch(z_q, axis_name), gather_batch(z_p, axis_name), sigma_z)


def discriminator_loss(logits_prior: jax.Array, logits_codes: jax.Array, weight: float) -> jax.Array:
  """Minus the discriminator's objective (Algorithm 2): -lambda [log D(z_p) + log(1 - D(z_q))],
  from logits by log_sigmoid, which never overflows."""
  return -weight * jnp.mean(jax.nn.log_sigmoid(logits_prior) + jax.nn.log_sigmoid(-logits_codes))


def wae_gan_penalty(logits_codes: jax.Array, weight: float) -> jax.Array:
  """The auto-encoder's adversarial term: -lambda log D(z_q), averaged."""
  return -weight * jnp.mean(jax.nn.log_sigmoid(logits_codes))
