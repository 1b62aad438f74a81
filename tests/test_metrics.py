"""Sharpness scores against independent numpy / scipy computations, and how they behave."""

import numpy as np
import pytest
from scipy import ndimage

from wae_jax import metrics

BT601 = np.array([0.299, 0.587, 0.114])


def random_images(n=3, height=9, width=13, seed=0):
  return np.random.default_rng(seed).integers(0, 256, (n, height, width, 3), dtype=np.uint8)


def reference_sharpness(images_uint8):
  """Per image: gray by BT.601, np.gradient, magnitude, mean over pixels; then mean over images."""
  scores = []
  for image in images_uint8.astype(np.float64):
    gy, gx = np.gradient(image @ BT601)
    scores.append(np.mean(np.hypot(gx, gy)))
  return np.mean(scores)


def reference_laplacian(images_uint8):
  """Per image: gray in [0, 1], scipy convolution with the Laplacian, interior pixels, variance."""
  kernel = np.array([[0, 1, 0], [1, -4, 1], [0, 1, 0]], np.float64)
  scores = []
  for image in images_uint8.astype(np.float64) / 255.0:
    response = ndimage.convolve(image @ BT601, kernel, mode='constant')[1:-1, 1:-1]
    scores.append(np.var(response))
  return np.mean(scores)


def test_sharpness_matches_numpy_gradient():
  images = random_images()
  np.testing.assert_allclose(float(metrics.sharpness(images)), reference_sharpness(images), rtol=1e-5)


def test_laplacian_sharpness_matches_scipy_convolution():
  images = random_images()
  np.testing.assert_allclose(float(metrics.laplacian_sharpness(images)), reference_laplacian(images),
                             rtol=1e-5)


@pytest.mark.parametrize('score', [metrics.sharpness, metrics.laplacian_sharpness])
def test_float_images_in_unit_range_score_like_uint8(score):
  images = random_images()
  np.testing.assert_allclose(float(score(images.astype(np.float32) / 255.0)), float(score(images)),
                             rtol=1e-5)


@pytest.mark.parametrize('score', [metrics.sharpness, metrics.laplacian_sharpness])
def test_constant_image_scores_zero(score):
  images = np.full((2, 8, 8, 3), 137, np.uint8)
  assert float(score(images)) == 0.0


def test_ramp_has_its_slope_as_sharpness_and_no_laplacian():
  """Gray = 3 * column: gradient magnitude 3 everywhere (borders included), Laplacian 0."""
  ramp = np.broadcast_to((3 * np.arange(16))[None, None, :, None], (2, 10, 16, 3)).astype(np.uint8)
  np.testing.assert_allclose(float(metrics.sharpness(ramp)), 3.0, rtol=1e-5)
  assert float(metrics.laplacian_sharpness(ramp)) == pytest.approx(0.0, abs=1e-10)


@pytest.mark.parametrize('score', [metrics.sharpness, metrics.laplacian_sharpness])
def test_blurring_lowers_the_score(score):
  images = random_images(height=24, width=24)
  blurred = np.round(ndimage.gaussian_filter(images.astype(np.float64), sigma=(0, 1.5, 1.5, 0)))
  assert float(score(blurred.astype(np.uint8))) < 0.5 * float(score(images))
