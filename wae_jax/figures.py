"""PNG figures: image grids, originals beside reconstructions, interpolation rows."""

import os

import numpy as np
from PIL import Image

PAD = 2


def to_uint8(images: np.ndarray) -> np.ndarray:
  """Float images in [0, 1] -> uint8, rounding (what saving a PNG does); uint8 passes unchanged."""
  if np.asarray(images).dtype == np.uint8:
    return np.asarray(images)
  return np.clip(np.round(np.asarray(images, np.float32) * 255.0), 0, 255).astype(np.uint8)


def tile(images: np.ndarray, cols: int) -> np.ndarray:
  """[N, H, W, C] -> one uint8 picture of rows of `cols` images, separated by white lines."""
  images = to_uint8(images)
  n, h, w, c = images.shape
  rows = -(-n // cols)
  canvas = np.full((rows * (h + PAD) + PAD, cols * (w + PAD) + PAD, c), 255, np.uint8)
  for i, image in enumerate(images):
    r, k = divmod(i, cols)
    y, x = PAD + r * (h + PAD), PAD + k * (w + PAD)
    canvas[y:y + h, x:x + w] = image
  return canvas


def save_grid(path: str, images: np.ndarray, cols: int) -> None:
  """Saves images [N, H, W, 3] (float in [0, 1] or uint8) as a grid of `cols` columns."""
  os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
  Image.fromarray(tile(images, cols)).save(path)


def save_pairs(path: str, originals: np.ndarray, reconstructions: np.ndarray, cols: int = 8) -> None:
  """Rows of originals, each followed by the row of their reconstructions (thesis Fig. 4.3)."""
  originals, reconstructions = to_uint8(originals), to_uint8(reconstructions)
  n = len(originals)
  rows = []
  for start in range(0, n, cols):
    chunk = slice(start, min(start + cols, n))
    pad = cols - (chunk.stop - chunk.start)
    blank = np.full((pad,) + originals.shape[1:], 255, np.uint8)
    rows += [np.concatenate([originals[chunk], blank]), np.concatenate([reconstructions[chunk], blank])]
  save_grid(path, np.concatenate(rows), cols)


def save_interpolations(path: str, rows: np.ndarray) -> None:
  """rows [R, K, H, W, 3], one picture row each: e.g. original a, the images decoded along the
  segment between the codes, original b (thesis Fig. 4.1)."""
  rows = np.asarray(rows)
  save_grid(path, rows.reshape((-1,) + rows.shape[2:]), cols=rows.shape[1])
