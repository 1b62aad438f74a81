"""Input data: CelebA (official files or TFDS), any folder or zip of images, and the MNIST demo.

`train_batches` and `eval_batches` feed the train loop and the evaluator (see docs/data.md);
they load on first use, so `wae_jax.data.files` alone (the FID command line's lister) stays light.
"""

import importlib

from wae_jax.data.errors import DataError

_LAZY = {'BatchIterator': 'pipeline', 'eval_batches': 'pipeline', 'num_images': 'pipeline',
         'protocol': 'pipeline', 'train_batches': 'pipeline', 'data_folder': 'sources'}

__all__ = ['DataError', *_LAZY]


def __getattr__(name: str):
  if name not in _LAZY:
    raise AttributeError(f'module {__name__!r} has no attribute {name!r}')
  value = globals()[name] = getattr(importlib.import_module(f'wae_jax.data.{_LAZY[name]}'), name)
  return value
