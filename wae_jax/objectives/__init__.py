"""Objectives, one module each, listed in `MODULES`; the contract they declare and the step reads.

A module `wae_jax/objectives/<name>.py` declares `OBJECTIVE = Objective(...)`, a line of
`MODULES` names it, and `config.objective.name = '<name>'` selects it: a new objective,
adversarial or not, is one file, that line and a config. `wae_jax.step` reads only the declared
fields (`contract.Objective`):

- `needs`: what the auto-encoder loss reads from the encoder, 'point' (the code z) or 'gaussian'
  (also a mean and log-variance): the models build the encoder's head to give it;
- `autoencoder_loss(inputs, config)`: the loss and its named parts, from `LossInputs` (which
  carries a key for the objective's own draws) and `config.objective`;
- `prior(rng, n, latent_dim, config)`: n draws of the prior the codes are pulled towards
  (default: N(0, sigma_z^2 I)), for the step, the encoder's pre-training and `Model.sample`;
- `critic`: None, or a `LatentCritic`, a discriminator on codes trained each step first;
- `parameter_penalty(params, config)`: None, or a penalty on the auto-encoder's parameters;
- `min_batch_size`: the smallest global batch the loss is defined on.

Its own hyper-parameters are the module's `FIELDS = {name: Field(default, help, valid, takes)}`,
built from literals and lambdas only: `declared_fields` reads them from the source without
running the module, so configs load without JAX. They live in `config.objective.<objective>`
(e.g. `config.objective.swae.num_projections`); the shared ones (name, sigma_z, cost_scale,
penalty_weight) in `config.objective`. This package's own namespace imports no JAX; the
contract's JAX types (`contract`) load on first use.
"""

import ast
import dataclasses
import importlib
import importlib.util
from typing import Any, Callable, Literal

from wae_jax.errors import ConfigError

# What an encoder gives: a point code z, or a Gaussian's mean and log-variance z is drawn from.
Code = Literal['point', 'gaussian']

# Every objective, by its config.objective.name: the module of this package declaring it.
MODULES = {'vae': 'vae', 'wae_gan': 'wae_gan', 'wae_mmd': 'wae_mmd', 'swae': 'swae', 'rae': 'rae'}

CONTRACT = ('LossInputs', 'Objective', 'LatentCritic', 'gaussian_prior', 'AutoEncoderLoss',
            'CriticLoss', 'ParameterPenalty', 'Prior')


def __getattr__(name: str):
  if name in CONTRACT:  # the JAX side, on first use
    return getattr(importlib.import_module(f'{__name__}.contract'), name)
  raise AttributeError(f'module {__name__} has no attribute {name!r}')


@dataclasses.dataclass(frozen=True)
class Field:
  """One hyper-parameter an objective owns: its default, what it means, and which values it takes
  (`valid`, said in words by `takes` when a value is refused)."""
  default: Any
  help: str
  valid: Callable[[Any], bool] = lambda value: True
  takes: str = ''


def names() -> list[str]:
  """The objectives there are (MODULES)."""
  return sorted(MODULES)


def _known(name: str) -> str:
  if name not in MODULES:
    raise ConfigError(f'unknown objective {name!r}: config.objective.name must be one of '
                      f'{", ".join(names())}')
  return f'{__name__}.{MODULES[name]}'


def get(name: str):
  """The objective named `name` (its module's OBJECTIVE; imports JAX); ConfigError for an
  unknown name."""
  return importlib.import_module(_known(name)).OBJECTIVE


def declared_fields(name: str) -> dict[str, Field]:
  """The module's FIELDS (none: {}), evaluated from its source with only `Field` in scope."""
  spec = importlib.util.find_spec(_known(name))
  for node in ast.parse(spec.loader.get_source(spec.name)).body:
    if isinstance(node, ast.Assign) and any(getattr(t, 'id', '') == 'FIELDS' for t in node.targets):
      return eval(compile(ast.Expression(node.value), spec.origin, 'eval'), {'Field': Field})
  return {}


def own_fields() -> dict[str, dict[str, Field]]:
  """{objective name: its fields} of every objective that declares some (for base_config)."""
  return {name: fields for name in names() if (fields := declared_fields(name))}


def check(objective_config: Any, batch_size: int) -> None:
  """ConfigError, on one line, for an unknown objective, a value its own field does not take,
  or a batch too small for its loss."""
  objective = get(objective_config.name)
  own = objective_config.get(objective.name, {})
  for field, declared in declared_fields(objective.name).items():
    value = own.get(field, declared.default)
    if not declared.valid(value):
      raise ConfigError(f'config.objective.{objective.name}.{field}={value!r}: {objective.name} takes '
                        f'{declared.takes} ({declared.help})')
  if batch_size < objective.min_batch_size:
    raise ConfigError(f'objective {objective.name} needs config.train.batch_size >= '
                      f'{objective.min_batch_size}')
