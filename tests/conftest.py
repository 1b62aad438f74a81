"""Test-wide settings, made before anything imports JAX.

- Two CPU devices, so multi-device code paths run in every test session.
- XLA's backend at optimisation level 0: the tests are small models, compiled far more often
  than they run, and compile about six times faster (results stay within every tolerance).
- OpenBLAS single-threaded: the tests already run one process per core.
- One persistent compilation cache for the session and its subprocesses: the same tiny models
  compile in several tests and in the resume tests' child processes.
- `image_folder`: a tiny dataset of random PNGs for training tests.
"""

import os
import tempfile

os.environ.setdefault('XLA_FLAGS', '--xla_force_host_platform_device_count=2 '
                      '--xla_backend_optimization_level=0')
os.environ.setdefault('JAX_PLATFORMS', 'cpu')
# Two test processes on two cores: OpenBLAS's own threads only contend (a 2048-d eigh in the FID
# took 20 s against 1 s single-threaded under load).
os.environ.setdefault('OPENBLAS_NUM_THREADS', '1')
os.environ.setdefault('JAX_COMPILATION_CACHE_DIR', tempfile.mkdtemp(prefix='wae_jax_jit_cache_'))
os.environ.setdefault('JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS', '0')
os.environ.setdefault('JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES', '0')


import numpy as np  # noqa: E402  (after the environment above)
import pytest  # noqa: E402
from PIL import Image  # noqa: E402


@pytest.fixture(scope='session')
def image_folder(tmp_path_factory):
  """24 random 20x20 PNGs: a 'folder' dataset (split by file-name hash, about 21 train)."""
  root = tmp_path_factory.mktemp('images')
  rng = np.random.default_rng(0)
  for i in range(24):
    Image.fromarray(rng.integers(0, 256, (20, 20, 3), dtype=np.uint8)).save(root / f'{i:03d}.png')
  return str(root)
