"""PNG figures: read back, their size and the pixels of every tile."""

import numpy as np
from PIL import Image

from wae_jax import figures

PAD = figures.PAD


def read_png(path):
  return np.asarray(Image.open(path).convert('RGB'))


def tile_at(picture, row, col, height, width):
  y, x = PAD + row * (height + PAD), PAD + col * (width + PAD)
  return picture[y:y + height, x:x + width]


def distinct_images(n, height=5, width=7):
  """Random float images in [0, 1] on the uint8 grid (so the PNG holds them exactly)."""
  rng = np.random.default_rng(n)
  return rng.integers(0, 256, (n, height, width, 3)).astype(np.float32) / 255.0


def test_to_uint8_rounds_floats_and_keeps_uint8():
  np.testing.assert_array_equal(figures.to_uint8(np.array([0.0, 0.5, 1.0, 1.2, -0.1])),
                                [0, 128, 255, 255, 0])
  already = np.array([0, 7, 255], np.uint8)
  np.testing.assert_array_equal(figures.to_uint8(already), already)


def test_save_grid_places_each_image_in_order_with_white_padding(tmp_path):
  images = distinct_images(7)
  path = tmp_path / 'sub' / 'grid.png'
  figures.save_grid(str(path), images, cols=3)
  picture = read_png(path)
  assert picture.shape == (3 * (5 + PAD) + PAD, 3 * (7 + PAD) + PAD, 3)
  for i, image in enumerate(images):
    np.testing.assert_array_equal(tile_at(picture, i // 3, i % 3, 5, 7), figures.to_uint8(image))
  assert (tile_at(picture, 2, 1, 5, 7) == 255).all()  # cells after the last image stay white
  assert (picture[:PAD] == 255).all() and (picture[:, :PAD] == 255).all()


def test_save_grid_takes_uint8(tmp_path):
  images = figures.to_uint8(distinct_images(2))
  figures.save_grid(str(tmp_path / 'grid.png'), images, cols=2)
  picture = read_png(tmp_path / 'grid.png')
  np.testing.assert_array_equal(tile_at(picture, 0, 1, 5, 7), images[1])


def test_save_pairs_puts_reconstructions_under_their_originals(tmp_path):
  originals, reconstructions = distinct_images(5), distinct_images(6)[:5]
  figures.save_pairs(str(tmp_path / 'pairs.png'), originals, reconstructions, cols=4)
  picture = read_png(tmp_path / 'pairs.png')
  assert picture.shape == (4 * (5 + PAD) + PAD, 4 * (7 + PAD) + PAD, 3)
  for i in range(5):
    band, col = divmod(i, 4)
    np.testing.assert_array_equal(tile_at(picture, 2 * band, col, 5, 7), figures.to_uint8(originals[i]))
    np.testing.assert_array_equal(tile_at(picture, 2 * band + 1, col, 5, 7),
                                  figures.to_uint8(reconstructions[i]))
  assert (tile_at(picture, 3, 3, 5, 7) == 255).all()


def test_save_interpolations_writes_one_row_per_pair(tmp_path):
  rows = distinct_images(2 * 6).reshape(2, 6, 5, 7, 3)
  figures.save_interpolations(str(tmp_path / 'rows.png'), rows)
  picture = read_png(tmp_path / 'rows.png')
  assert picture.shape == (2 * (5 + PAD) + PAD, 6 * (7 + PAD) + PAD, 3)
  np.testing.assert_array_equal(tile_at(picture, 1, 0, 5, 7), figures.to_uint8(rows[1, 0]))
  np.testing.assert_array_equal(tile_at(picture, 0, 5, 5, 7), figures.to_uint8(rows[0, 5]))


def test_the_curve_draws_a_higher_mean_higher_and_labels_every_series(tmp_path):
  path = str(tmp_path / 'curve.png')
  figures.save_curve(path, [200, 400, 800], {'low': [[10.0, 12.0]] * 3, 'high': [[50.0]] * 3}, 'title')
  image = read_png(path)
  rows = {label: np.nonzero(np.all(image[:, :520] == colour, axis=-1))[0]
          for label, colour in zip(('low', 'high'), figures.CURVE_COLOURS)}
  assert len(rows['low']) and len(rows['high']) and rows['high'].max() < rows['low'].min()
  labels = image[:, 528:].reshape(-1, 1, 3).astype(float)  # antialiased text: near its colour
  near = np.linalg.norm(labels - np.asarray(figures.CURVE_COLOURS[:2], float), axis=-1) < 40
  assert near.any(axis=0).all()


def test_the_curve_ticks_are_round_values_inside_the_range():
  for low, high in ((50.5, 226.8), (9.8, 52.2), (0.0012, 0.0019), (61.3, 64.0)):
    ticks = figures.round_ticks(low, high)
    assert 2 <= len(ticks) <= 6 and low <= ticks[0] and ticks[-1] <= high
    steps = np.diff(ticks)
    np.testing.assert_allclose(steps, steps[0], rtol=1e-9)
    mantissa = steps[0] / 10.0 ** np.floor(np.log10(steps[0]))
    assert min(abs(mantissa - unit) for unit in (1, 2, 5)) < 1e-9
