"""Image scores without a network, each defined by its *_DEFINITION (docs/evaluation.md). Gray is
ITU-R BT.601 luma (as PIL's convert('L')); uint8 images are on [0, 255], floats on [0, 1]."""

import jax
import jax.numpy as jnp
import numpy as np

LUMA_WEIGHTS = (0.299, 0.587, 0.114)  # ITU-R BT.601

SHARPNESS_DEFINITION = (
    'mean over pixels and images of sqrt(gx^2 + gy^2) of the gray image (BT.601 luma) in [0, 255], '
    'gradient by central differences (numpy.gradient, one-sided at the borders); thesis §2.5')
LAPLACIAN_DEFINITION = (
    'mean over images of the variance of the 3x3 Laplacian [[0,1,0],[1,-4,1],[0,1,0]] response on '
    "the gray image (BT.601 luma) in [0, 1], 'valid' borders; WAE paper, Table 1")


MSE_DEFINITION = ('per-image mean squared error against the original on [0, 1] pixels (both uint8, '
                  '/ 255), averaged over images')
PSNR_DEFINITION = ('per-image 10 log10(1 / MSE) in dB against the original (MSE floored at 1e-10, '
                   'so identical images give 100), averaged over images')
MIN_MSE = 1e-10


def squared_errors(images: np.ndarray, originals: np.ndarray) -> np.ndarray:
  """Per-image MSE [N] of uint8 `images` against uint8 `originals`, on the [0, 1] scale (float64)."""
  difference = (np.asarray(images, np.float64) - np.asarray(originals, np.float64)) / 255.0
  return np.mean(difference**2, axis=(1, 2, 3))


def psnr(images: np.ndarray, originals: np.ndarray) -> np.ndarray:
  """Per-image PSNR [N] in dB of uint8 `images` against uint8 `originals` (peak 1 on [0, 1])."""
  return 10.0 * np.log10(1.0 / np.maximum(squared_errors(images, originals), MIN_MSE))


def to_gray(images: jax.Array) -> jax.Array:
  """[N, H, W, 3] uint8 (or float in [0, 1]) -> [N, H, W] float32 gray in [0, 255]."""
  pixels = images.astype(jnp.float32)
  if not jnp.issubdtype(images.dtype, jnp.integer):
    pixels = pixels * 255.0
  return pixels @ jnp.asarray(LUMA_WEIGHTS, jnp.float32)


@jax.jit
def sharpness(images: jax.Array) -> jax.Array:
  """The thesis's score of [N, H, W, 3] images (H, W >= 2): mean gradient magnitude, [0, 255] scale."""
  gy, gx = jnp.gradient(to_gray(images), axis=(1, 2))
  return jnp.mean(jnp.sqrt(gx**2 + gy**2))


@jax.jit
def laplacian_sharpness(images: jax.Array) -> jax.Array:
  """The WAE paper's score of [N, H, W, 3] images (H, W >= 3): mean per-image Laplacian variance."""
  gray = to_gray(images) / 255.0
  response = (gray[:, :-2, 1:-1] + gray[:, 2:, 1:-1] + gray[:, 1:-1, :-2] + gray[:, 1:-1, 2:]
              - 4.0 * gray[:, 1:-1, 1:-1])
  return jnp.mean(jnp.var(response, axis=(1, 2)))
