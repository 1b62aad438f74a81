"""Pixels of one image: centre crop, antialiased resize, RGB uint8, optional horizontal flip.

`crop` is given in pixels of CelebA's 178-wide images and scales with the width; PIL resamples
from the exact (fractional) box, so the half-size copy (89x109) samples the same part of the face.
"""

import dataclasses
import math

import numpy as np
from PIL import Image

# Width of CelebA's aligned images, the unit `crop` is given in.
REFERENCE_WIDTH = 178
# PIL antialiases every filter when it downscales. Bicubic: what clean-fid recommends for FID
# preprocessing, and cheaper than Lanczos (the WAE code's). Part of the protocol: it sets pixels.
RESAMPLE = Image.Resampling.BICUBIC
RESAMPLE_NAME = 'PIL bicubic (antialiased)'


@dataclasses.dataclass(frozen=True)
class Preprocess:
  """How an image becomes an `image_size` x `image_size` RGB array."""
  image_size: int
  crop: int  # side at REFERENCE_WIDTH; 0: the largest centred square

  def crop_side(self, width: int, height: int) -> tuple[float, bool]:
    """Side of the centred square in a `width` x `height` image, and whether it was clipped to fit."""
    side = self.crop * width / REFERENCE_WIDTH if self.crop else min(width, height)
    if side > min(width, height):
      return float(min(width, height)), True
    return side, False

  def draft_request(self, width: int, height: int) -> tuple[int, int] | None:
    """Size to ask JPEG draft decoding (1/2, 1/4 or 1/8 in the decoder) for, or None.

    Only where the output is at most half the crop, at the smallest scale that leaves the crop
    `image_size` pixels, so the resize never enlarges.
    """
    side, _ = self.crop_side(width, height)
    if 2 * self.image_size > side:
      return None
    scale = self.image_size / side
    return math.ceil(width * scale), math.ceil(height * scale)


@dataclasses.dataclass
class ImageFlags:
  """What preprocessing had to do to one image."""
  upscaled: bool  # the crop has fewer pixels than the output: the resize enlarges
  crop_clipped: bool  # the scaled crop did not fit (aspect unlike CelebA): largest square used


def preprocess_into(image: Image.Image, spec: Preprocess, out: np.ndarray, flip: bool) -> ImageFlags:
  """Writes `image` (freshly opened, not yet loaded) preprocessed into `out` [size, size, 3] uint8.

  Raises what PIL raises for corrupt data (OSError, ValueError, ...): the image loads here.
  """
  width, height = image.size
  side, clipped = spec.crop_side(width, height)
  request = spec.draft_request(width, height)
  scale = 1.0
  if request is not None:
    drafted = image.draft('RGB', request)  # None for formats other than JPEG
    if drafted is not None:
      scale = drafted[1][2] / width  # exactly 1/2, 1/4 or 1/8 (the size is rounded up)
  if image.mode not in ('RGB', 'L'):
    image = image.convert('RGB')
  left = (width * scale - side * scale) / 2
  top = (height * scale - side * scale) / 2
  box = (left, top, left + side * scale, top + side * scale)
  # Crop to whole pixels first, as the WAE code does (the filter sees no pixel outside the
  # crop), then resample from the exact, possibly fractional, box inside it.
  region = (math.floor(box[0]), math.floor(box[1]), math.ceil(box[2]), math.ceil(box[3]))
  resized = image.crop(region).resize(
      (spec.image_size, spec.image_size), RESAMPLE,
      box=(box[0] - region[0], box[1] - region[1], box[2] - region[0], box[3] - region[1]))
  pixels = np.asarray(resized)
  if pixels.ndim == 2:
    pixels = pixels[..., None]
  out[...] = pixels[:, ::-1] if flip else pixels
  return ImageFlags(upscaled=side < spec.image_size, crop_clipped=clipped)
