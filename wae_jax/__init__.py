"""wae-jax: Wasserstein Auto-Encoders and VAEs in JAX/Flax; `wae_jax.load(workdir)` gives a trained
Model. Attributes load lazily, so importing the data package in decoding workers skips JAX."""

import importlib

_LAZY = {'load': ('wae_jax.api', 'load'), 'Model': ('wae_jax.api', 'Model'),
         'train_and_evaluate': ('wae_jax.train', 'train_and_evaluate'),
         'fid': ('wae_jax.fid', None)}


def __getattr__(name):
  if name not in _LAZY:
    raise AttributeError(f'module wae_jax has no attribute {name!r}')
  module, attribute = _LAZY[name]
  loaded = importlib.import_module(module)
  return loaded if attribute is None else getattr(loaded, attribute)


__all__ = sorted(_LAZY)
