"""XLA:CPU compiler options per jit (`compiler_options=on_cpu(OPTIONS)`), not XLA_FLAGS: each
speeds one computation up and could slow another down (docs/benchmarks.md)."""

import functools

import jax
import numpy as np

# The train step (wae_jax.step): matrix products side by side ran slower than one by one.
TRAIN_STEP = {'xla_cpu_enable_concurrency_optimized_scheduler': False}

# The FID network (wae_jax.fid.features): dot products to YNNPACK (slower in the train step).
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
