"""XLA:CPU compiler options that one jit asks for, each where a benchmark showed it helps.

Given per jit (`jax.jit(..., compiler_options=on_cpu(OPTIONS))`), not through XLA_FLAGS, since
an option that speeds one computation up can slow another down. On other backends, and with a
jaxlib that does not know an option, the jit gets none.
"""

import functools

import jax
import numpy as np

# The train step (wae_jax.step): XLA:CPU's default schedule runs independent ops side by side,
# and matrix products sharing the cores ran slower than one after the other: +10-13% for the
# ResNet models at 128x128 on the 2-core dev VM, within a few percent either way at 64x64
# (README, Benchmarks).
TRAIN_STEP = {'xla_cpu_enable_concurrency_optimized_scheduler': False}

# The FID network (wae_jax.fid.features): dot products, its 1x1 convolutions among them, go to
# YNNPACK, which is faster there (benchmarks/fid_features.py) and slower in the train step's
# backward pass.
FID_NETWORK = {'xla_cpu_experimental_ynn_fusion_type': 'LIBRARY_FUSION_TYPE_DOT'}


def on_cpu(options: dict[str, object]) -> dict[str, object] | None:
  """`options` where the default backend is CPU and this jaxlib knows all of them, else None."""
  if jax.default_backend() != 'cpu' or not _known(tuple(sorted(options.items()))):
    return None
  return dict(options)


@functools.lru_cache(maxsize=None)
def _known(items: tuple) -> bool:
  try:
    jax.jit(lambda x: x + 1, compiler_options=dict(items)).lower(np.zeros(1)).compile()
  except jax.errors.JaxRuntimeError:
    return False
  return True
