"""Evaluator kinds, by the `type` of a config.evals block, one module each. A kind is built as
Kind(name, config, block) and has `needs_model`, `needs_reference`, `settings() -> dict` (what its
result depends on; validates) and `evaluate(model, context) -> dict[str, float]`; a kind outside
this package is named by its class path, 'package.module:Class'."""

import ml_collections

from wae_jax.errors import ConfigError
from wae_jax.named import class_at
from wae_jax.evaluation.evaluators.interpolations import Interpolations
from wae_jax.evaluation.evaluators.latent import Latent
from wae_jax.evaluation.evaluators.real import Real
from wae_jax.evaluation.evaluators.reconstructions import Reconstructions
from wae_jax.evaluation.evaluators.samples import Samples

KINDS = {'samples': Samples, 'reconstructions': Reconstructions, 'interpolations': Interpolations,
         'real': Real, 'latent': Latent}


def kind(type_name: str) -> type:
  """The class of a block's `type`: a name of KINDS, or 'package.module:Class'."""
  if type_name in KINDS:
    return KINDS[type_name]
  return class_at(type_name, f"config.evals type {type_name!r}: use one of {', '.join(KINDS)} or "
                             "'package.module:Class' (an importable evaluator class)")


def build(config: ml_collections.ConfigDict, names: tuple[str, ...] | None = None) -> dict:
  """{name: evaluator} of the config.evals blocks `names` in that order (None: every block,
  those of KINDS first in its order: the parts' order in metrics.json)."""
  blocks = config.evals
  if names is None:
    names = [name for name in KINDS if name in blocks] + sorted(set(blocks) - set(KINDS))
  unknown = [name for name in names if name not in blocks]
  if unknown:
    raise ConfigError(f'config.evals has no block {", ".join(unknown)}: add one with its type '
                      f'(blocks: {", ".join(blocks)})')
  return {name: kind(blocks[name].type)(name, config, blocks[name]) for name in names}
