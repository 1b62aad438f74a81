"""Classes a config names by their path, 'package.module:Class' (evaluator kinds, training hooks)."""

import importlib

from wae_jax.errors import ConfigError


def class_at(path: str, mistake: str) -> type:
  """The class at `path`; a ConfigError `mistake` (naming the field and the fix) where there is none."""
  module_name, _, class_name = path.partition(':')
  try:
    return getattr(importlib.import_module(module_name), class_name)
  except (ImportError, AttributeError, ValueError):
    raise ConfigError(mistake) from None
