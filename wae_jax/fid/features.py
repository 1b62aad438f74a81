"""Image -> 2048-d FID features: TF1 bilinear resize to 299x299, scale, InceptionV3; jitted, batched."""

import functools

import jax
import jax.numpy as jnp
import numpy as np

from wae_jax import cpu_options
from wae_jax.fid import inception
from wae_jax.fid import weights
from wae_jax.fid.errors import FIDError

# On CPU the network runs on at most this many images at a time (small memory, no slower; see
# benchmarks/fid_features.py). Accelerators take the whole batch.
CPU_CHUNK = 8


def resize_matrix(in_size: int, out_size: int = inception.INPUT_SIZE) -> np.ndarray:
  """(out_size, in_size) bilinear weights of TF1 `resize_bilinear` (align_corners=False,
  half_pixel_centers=False): output pixel i samples the source at i * in_size / out_size,
  clamped to the last pixel, no antialiasing (pytorch-fid's / NVIDIA's `nv_bilinear`)."""
  source = np.minimum(np.arange(out_size) * (in_size / out_size), in_size - 1)
  lower = np.floor(source).astype(np.int64)
  upper = np.minimum(lower + 1, in_size - 1)
  fraction = source - lower
  matrix = np.zeros((out_size, in_size))
  np.add.at(matrix, (np.arange(out_size), lower), 1.0 - fraction)
  np.add.at(matrix, (np.arange(out_size), upper), fraction)
  return matrix.astype(np.float32)


@jax.jit
def _network_input(images: jax.Array, rows: jax.Array, columns: jax.Array) -> jax.Array:
  """[0, 255] NHWC images of any size -> 299x299 in [-1, 0.9921875] (x / 128 - 1).
  The resize is two small matmuls with the interpolation matrices (fast on every backend)."""
  x = jnp.clip(images.astype(jnp.float32), 0.0, 255.0)
  highest = jax.lax.Precision.HIGHEST
  x = jnp.einsum('oh,nhwc->nowc', rows, x, precision=highest)
  x = jnp.einsum('pw,nowc->nopc', columns, x, precision=highest)
  return x / 128.0 - 1.0


class FeatureExtractor:
  """Loads the weights and compiles the network once; call it on batches of images.

  Images go through `batch_size` at a time (at most CPU_CHUNK on CPU), the last batch padded,
  so the network compiles once and the resize once per image size.
  """

  def __init__(self, weights_path: str | None = None, batch_size: int = 50):
    if batch_size < 1:
      raise FIDError(f'FID batch_size must be >= 1, got {batch_size}.')
    on_cpu = jax.default_backend() == 'cpu'
    self.batch_size = min(batch_size, CPU_CHUNK) if on_cpu else batch_size
    self._params = jax.device_put(weights.load_params(weights_path))
    self._network = jax.jit(lambda params, x: inception.InceptionV3().apply({'params': params}, x),
                            compiler_options=cpu_options.on_cpu(cpu_options.FID_NETWORK))
    self._resize_matrices = {}  # (height, width) -> (rows, columns) on device

  def _matrices_for(self, height: int, width: int) -> tuple[jax.Array, jax.Array]:
    if (height, width) not in self._resize_matrices:
      self._resize_matrices[height, width] = (jax.device_put(resize_matrix(height)),
                                              jax.device_put(resize_matrix(width)))
    return self._resize_matrices[height, width]

  def __call__(self, images) -> np.ndarray:
    """uint8, or float in [0, 255] (used as is, not rounded), NHWC RGB of any size ->
    (N, 2048) float32. For FIDs comparable with published ones, give uint8 images."""
    images = np.asarray(images)
    if images.ndim != 4 or images.shape[-1] != 3:
      raise FIDError(f'FID features need NHWC RGB images (N, H, W, 3); got shape {images.shape}.')
    if images.dtype != np.uint8:
      if not np.issubdtype(images.dtype, np.floating):
        raise FIDError(f'FID features need uint8 or float images in [0, 255]; got {images.dtype}.')
      images = images.astype(np.float32, copy=False)
    rows, columns = self._matrices_for(*images.shape[1:3])
    batches = []
    for start in range(0, len(images), self.batch_size):
      batch = images[start:start + self.batch_size]
      count = len(batch)
      if count < self.batch_size:
        batch = np.concatenate([batch, np.zeros((self.batch_size - count, *batch.shape[1:]),
                                                batch.dtype)])
      features = self._network(self._params, _network_input(batch, rows, columns))
      batches.append(features[:count])
    if not batches:
      return np.zeros((0, inception.FEATURE_DIM), np.float32)
    return np.concatenate([np.asarray(b) for b in batches]).astype(np.float32, copy=False)


@functools.lru_cache(maxsize=2)
def _default_extractor(batch_size: int) -> FeatureExtractor:
  return FeatureExtractor(batch_size=batch_size)


def inception_features(images: np.ndarray, batch_size: int = 50) -> np.ndarray:
  """uint8 NHWC images of any size (numpy) -> float32 (N, 2048), like pytorch-fid's API.
  The extractor (weights + compiled network) is built on first use and kept."""
  return _default_extractor(batch_size)(images)
