"""Objectives, one module each: `<name>.py` declares `OBJECTIVE = contract.Objective(...)`, a
`MODULES` line names it, `config.objective.name` selects it. Its own hyper-parameters, in
`config.objective.<name>`, are its `FIELDS = {name: Field(...)}` of literals and lambdas, read
from the source, so configs load without JAX (this namespace imports none; `contract` lazily)."""

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

CONTRACT = ('LossInputs', 'Objective', 'LatentCritic', 'gaussian_prior', 'loss_shares',
            'AutoEncoderLoss', 'CriticLoss', 'ParameterPenalty', 'Prior')


def __getattr__(name: str):
  if name in CONTRACT:  # the JAX side, on first use
    return getattr(importlib.import_module(f'{__name__}.contract'), name)
  raise AttributeError(f'module {__name__} has no attribute {name!r}')


@dataclasses.dataclass(frozen=True)
class Field:
  """An objective's own hyper-parameter: default, meaning, the values it takes (`valid`, `takes`)."""
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
  """The objective `name` (its module's OBJECTIVE; imports JAX); ConfigError for an unknown name."""
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
