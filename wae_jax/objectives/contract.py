"""The JAX side of the objectives' contract: what a module declares and what its losses see."""

import dataclasses
from typing import Any, Callable

import jax
import jax.numpy as jnp

from wae_jax.objectives import Code


@dataclasses.dataclass(frozen=True)
class LossInputs:
  """What an auto-encoder loss sees, for this device's slice of the global batch."""
  images: jax.Array  # [b, H, W, 3] in [0, 1]
  reconstructions: jax.Array  # the decoder's output for `images`, same shape
  codes: dict[str, jax.Array]  # 'z', 'mean' and, from a Gaussian encoder, 'log_var'; [b, latent]
  prior_samples: jax.Array  # [b, latent] draws from the prior N(0, sigma_z^2 I)
  critic: Callable[[jax.Array], jax.Array] | None  # the latent critic's logits, after its update
  axis_name: str | None  # the device axis a whole-batch statistic gathers over; None: one device
  rng: jax.Array | None = None  # a key for the objective's own draws, the same on every device


# (inputs, config.objective) -> (loss, {part name: value}); scalars, means over the batch.
AutoEncoderLoss = Callable[[LossInputs, Any], tuple[jax.Array, dict[str, jax.Array]]]
# (logits on prior samples, logits on codes, config.objective) -> (loss, {metric name: value}).
CriticLoss = Callable[[jax.Array, jax.Array, Any], tuple[jax.Array, dict[str, jax.Array]]]


@dataclasses.dataclass(frozen=True)
class LatentCritic:
  """A discriminator on latent codes, trained on this step's codes (gradient stopped) and on
  as many prior samples; it descends `loss`."""
  loss: CriticLoss


# (auto-encoder params, config.objective) -> (penalty, {part name: value}); scalars.
ParameterPenalty = Callable[[Any, Any], tuple[jax.Array, dict[str, jax.Array]]]
# (rng, n, latent_dim, config.objective) -> [n, latent_dim] float32 draws of the prior.
Prior = Callable[[jax.Array, int, int, Any], jax.Array]


def gaussian_prior(rng: jax.Array, n: int, latent_dim: int, config: Any) -> jax.Array:
  """N(0, sigma_z^2 I), config.objective.sigma_z: the thesis's prior, for every model."""
  return config.sigma_z * jax.random.normal(rng, (n, latent_dim), jnp.float32)


@dataclasses.dataclass(frozen=True)
class Objective:
  """What an objective module declares: the only fields `wae_jax.step` reads."""
  name: str
  needs: Code  # what the loss reads of the encoder: 'point' (z) or 'gaussian' (mean, log_var too)
  autoencoder_loss: AutoEncoderLoss
  critic: LatentCritic | None = None  # a discriminator on codes, trained first in each step
  min_batch_size: int = 1  # the smallest global batch the loss is defined on
  prior: Prior = gaussian_prior  # drawn by the step, the pre-training and Model.sample
  parameter_penalty: ParameterPenalty | None = None  # added to the loss and its gradient
  # config.objective -> {logged part: its weight in the loss}, whose weighted sum is the loss.
  terms: Callable[[Any], dict[str, float]] | None = None


def loss_shares(objective: Objective, config: Any, parts: dict[str, float]) -> dict[str, float]:
  """Each term's share of the loss, w_t v_t / sum_i w_i v_i, from logged `parts` ({}: no terms)."""
  weighted = {name: weight * parts[name] for name, weight in (objective.terms or dict)(config).items()}
  return {name: value / sum(weighted.values()) for name, value in weighted.items()}
