"""PNG figures: image grids, originals beside reconstructions, interpolation rows, study figures."""

import dataclasses
import os

import numpy as np
from PIL import Image, ImageDraw, ImageFont

PAD = 2
# Sample grids, in training and evaluation: 64 images, 8 per row.
GRID_IMAGES, GRID_COLS = 64, 8


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


@dataclasses.dataclass(frozen=True)
class ModelRow:
  """What a study figure shows of one model: random samples [2k, ...], k test images and their
  reconstructions, and one interpolation row (original a, the decodes, original b)."""
  label: str
  samples: np.ndarray
  originals: np.ndarray
  reconstructions: np.ndarray
  interpolation: np.ndarray


LABEL_HEIGHT = 14
GAP = 8


def save_study_figure(path: str, rows: list[ModelRow]) -> None:
  """One labelled band per model: samples (two lines) | test images over their reconstructions |
  one interpolation; column headings on top."""
  blocks = []
  for row in rows:
    half = len(row.samples) // 2
    samples = tile(row.samples[:2 * half], half)
    pairs = tile(np.concatenate([to_uint8(row.originals), to_uint8(row.reconstructions)]),
                 len(row.originals))
    interpolation = tile(row.interpolation, len(row.interpolation))
    blocks.append((row.label, samples, pairs, interpolation))
  widths = [max(block[i].shape[1] for block in blocks) for i in (1, 2, 3)]
  band_height = max(max(block[i].shape[0] for i in (1, 2, 3)) for block in blocks) + LABEL_HEIGHT
  starts = [0, widths[0] + GAP, widths[0] + widths[1] + 2 * GAP]
  canvas = Image.new('RGB', (sum(widths) + 2 * GAP, LABEL_HEIGHT + band_height * len(blocks)), 'white')
  draw = ImageDraw.Draw(canvas)
  for start, heading in zip(starts, ('random samples', 'test images / reconstructions',
                                     'interpolation (a, decodes, b)')):
    draw.text((start + PAD, 1), heading, fill='black')
  for number, (label, *pictures) in enumerate(blocks):
    top = LABEL_HEIGHT + number * band_height
    draw.text((PAD, top + 1), label, fill='black')
    for start, picture in zip(starts, pictures):
      canvas.paste(Image.fromarray(picture), (start, top + LABEL_HEIGHT))
  os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
  canvas.save(path)


INSET = 16  # the first and last steps' distance from the frame
CURVE_COLOURS = ((31, 119, 180), (255, 127, 14), (44, 160, 44), (214, 39, 40), (148, 103, 189),
                 (140, 86, 75), (227, 119, 194), (127, 127, 127))
CURVE_FONT_SIZE = 12  # at Pillow's default 10 px a space is 2 px wide and words run together


def round_ticks(low: float, high: float, most: int = 6) -> list[float]:
  """At most `most` round values (multiples of 1, 2 or 5 x 10^k) from low to high."""
  for power in range(int(np.floor(np.log10(high - low))) - 1, 99):
    for unit in (1, 2, 5):
      step = unit * 10.0 ** power
      ticks = np.arange(np.ceil(low / step), np.floor(high / step) + 1) * step
      if len(ticks) <= most:
        return [float(tick) for tick in ticks]
  return [low, high]


def save_curve(path: str, steps: list[int], series: dict[str, list[list[float]]], title: str) -> None:
  """A line per series through the mean of its values at each step (x: log2 of the step), a bar
  of ± one SD where there are several (series shifted apart), the label beside its last point."""
  width, height, left, plot_right, top, bottom = 720, 380, 50, 520, 26, 54
  font = ImageFont.load_default(size=CURVE_FONT_SIZE)
  means = {label: [float(np.mean(v)) for v in values] for label, values in series.items()}
  sds = {label: [float(np.std(v, ddof=1)) if len(v) > 1 else 0.0 for v in values] for label, values in series.items()}
  low = min(m - s for label in series for m, s in zip(means[label], sds[label]))
  high = max(m + s for label in series for m, s in zip(means[label], sds[label]))
  low, high = low - 0.05 * (high - low or 1), high + 0.05 * (high - low or 1)
  x = np.log2(steps)
  span = float(x[-1] - x[0]) or 1.0

  def at(index: int, value: float, shift: float = 0.0) -> tuple[float, float]:
    return (left + INSET + shift + (x[index] - x[0]) / span * (plot_right - left - 2 * INSET),
            top + (high - value) / (high - low) * (height - top - bottom))

  canvas = Image.new('RGB', (width, height), 'white')
  draw = ImageDraw.Draw(canvas)
  draw.rectangle([left, top, plot_right, height - bottom], outline='black')
  draw.text((left, 6), title, fill='black', font=font)
  for index, step in enumerate(steps):
    draw.text((at(index, low)[0], height - bottom + 6), f'{step:,}', fill='black', font=font, anchor='ma')
  draw.text(((left + plot_right) / 2, height - bottom + 26), 'training step (log scale)', fill='black',
            font=font, anchor='ma')
  for tick in round_ticks(low, high):
    draw.line([(left - 4, at(0, tick)[1]), (left, at(0, tick)[1])], fill='black')
    draw.text((left - 6, at(0, tick)[1]), f'{tick:g}', fill='black', font=font, anchor='rm')
  label_y = top - LABEL_HEIGHT  # labels in the order of their last points, never overlapping
  for number, label in sorted(enumerate(series), key=lambda item: -means[item[1]][-1]):
    colour, shift = CURVE_COLOURS[number % len(CURVE_COLOURS)], 3 * (number - (len(series) - 1) / 2)
    draw.line([at(i, m, shift) for i, m in enumerate(means[label])], fill=colour, width=2)
    for i, (m, s) in enumerate(zip(means[label], sds[label])):
      draw.line([at(i, m - s, shift), at(i, m + s, shift)], fill=colour, width=1)
    label_y = max(label_y + LABEL_HEIGHT, at(len(steps) - 1, means[label][-1])[1] - 7)
    draw.text((plot_right + 8, label_y), label, fill=colour, font=font)
  os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
  canvas.save(path)
