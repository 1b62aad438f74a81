"""Objectives, one module each, listed in `MODULES`; the contract they declare and the step reads.

A module `wae_jax/objectives/<name>.py` declares `OBJECTIVE = Objective(...)`, a line of
`MODULES` names it, and `config.objective.name = '<name>'` selects it: a new objective,
adversarial or not, is one file, that line and a config. `wae_jax.step` reads only the declared
fields:

- `needs`: what the auto-encoder loss reads from the encoder, 'point' (the code z, which every
  encoder gives) or 'gaussian' (also the mean and log-variance of a Gaussian encoder);
- `autoencoder_loss(inputs, config)`: the auto-encoder's loss and its named parts, from
  `LossInputs` (which carries a key for the objective's own draws) and `config.objective`;
- `prior(rng, n, latent_dim, config)`: n draws of the prior the codes are pulled towards, which
  the step, the encoder's pre-training and the notebook API's `sample` all use (default: N(0,
  sigma_z^2 I));
- `critic`: None, or a `LatentCritic`, a discriminator on codes (the models' `discriminator`)
  trained each step, before the auto-encoder, with its own loss;
- `parameter_penalty(params, config)`: None, or a penalty on the auto-encoder's parameters
  (e.g. RAE's L2 on the decoder's weights) added to its loss, with its named parts;
- `min_batch_size`: the smallest global batch the loss is defined on;
- `fields`: the objective's own hyper-parameters, {name: Field(default, help, valid, takes)}:
  `config_defaults.base_config()` gives each objective's fields a block of their own,
  `config.objective.<objective name>` (e.g. `config.objective.swae.num_projections`), and
  `check` refuses a value its field does not take, on one line. The fields every objective
  shares (name, sigma_z, cost_scale, penalty_weight) stay in `config.objective`.

The shared terms (reconstruction cost, KL, MMD, GAN log-likelihoods) are in `wae_jax.losses`.
"""

import dataclasses
import importlib
from typing import Any, Callable

import jax
import jax.numpy as jnp

from wae_jax import models
from wae_jax.errors import ConfigError


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
class Field:
  """One hyper-parameter an objective owns: its default, what it means, and which values it takes
  (`valid`, said in words by `takes` when a value is refused)."""
  default: Any
  help: str
  valid: Callable[[Any], bool] = lambda value: True
  takes: str = ''


@dataclasses.dataclass(frozen=True)
class Objective:
  name: str
  needs: models.Code
  autoencoder_loss: AutoEncoderLoss
  critic: LatentCritic | None = None
  min_batch_size: int = 1
  prior: Prior = gaussian_prior
  parameter_penalty: ParameterPenalty | None = None
  fields: dict[str, Field] = dataclasses.field(default_factory=dict)


# Every objective, by its config.objective.name: the module of this package declaring it.
MODULES = {'vae': 'vae', 'wae_gan': 'wae_gan', 'wae_mmd': 'wae_mmd', 'swae': 'swae', 'rae': 'rae'}


# How the one-line errors name each kind of code.
CODE_WORDS = {'point': 'a point code', 'gaussian': 'a Gaussian code (mean and log-variance)'}


def names() -> list[str]:
  """The objectives there are (MODULES)."""
  return sorted(MODULES)


def get(name: str) -> Objective:
  """The objective named `name` (MODULES); ConfigError for an unknown name."""
  if name not in MODULES:
    raise ConfigError(f'unknown objective {name!r}: config.objective.name must be one of '
                      f'{", ".join(names())}')
  return importlib.import_module(f'{__name__}.{MODULES[name]}').OBJECTIVE


def own_fields() -> dict[str, dict[str, Field]]:
  """{objective name: its fields} of every objective that declares some (for base_config)."""
  return {name: get(name).fields for name in names() if get(name).fields}


def fits(objective: Objective, code: models.Code) -> bool:
  """Whether an encoder giving `code` gives what `objective` needs (a Gaussian code has a z)."""
  return objective.needs == 'point' or code == objective.needs


def check(objective_config: Any, model_config: Any, batch_size: int) -> None:
  """ConfigError, on one line, for an unknown objective, a model whose encoder does not give
  what the objective needs, or a batch too small for its loss."""
  objective = get(objective_config.name)
  code = models.code_of(model_config.name)
  if not fits(objective, code):
    good_models = [name for name, preset in models.PRESETS.items() if fits(objective, preset.code)]
    good_objectives = [name for name in names() if fits(get(name), code)]
    raise ConfigError(
        f'config.objective.name={objective.name!r} needs {CODE_WORDS[objective.needs]} but '
        f'config.model.name={model_config.name!r} gives {CODE_WORDS[code]}: use model '
        f'{" or ".join(good_models)}, or objective {" or ".join(good_objectives)}')
  own = objective_config.get(objective.name, {})
  for field, declared in objective.fields.items():
    value = own.get(field, declared.default)
    if not declared.valid(value):
      raise ConfigError(f'config.objective.{objective.name}.{field}={value!r}: {objective.name} takes '
                        f'{declared.takes} ({declared.help})')
  if batch_size < objective.min_batch_size:
    raise ConfigError(f'objective {objective.name} needs config.train.batch_size >= '
                      f'{objective.min_batch_size}')
