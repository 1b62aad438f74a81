"""The one registry of scores: every number the evaluators report and the tables show. Adding a
score is one entry in SCORES."""

import dataclasses
from collections.abc import Callable

import numpy as np

from wae_jax import fid, metrics
from wae_jax.distributed import runtime
from wae_jax.fid.kid import DEFAULT_MAX_SHARE, DEFAULT_SUBSET_SIZE, DEFAULT_SUBSETS
from wae_jax.fid.precision_recall import DEFAULT_K

FEATURE_DIM = 2048
FID_NETWORK = 'Inception-v3, TF graph 2015-12-05, pool3 (2048-d) features (wae_jax.fid)'


@dataclasses.dataclass(frozen=True)
class Reference:
  """The real images a model is judged against: feature statistics, and per-image features for
  KID and precision / recall."""
  mean: np.ndarray
  covariance: np.ndarray
  features: np.ndarray

  @classmethod
  def of_features(cls, features: np.ndarray) -> 'Reference':
    features = np.asarray(features, np.float64)
    return cls(features.mean(axis=0), np.cov(features, rowvar=False), features)


@dataclasses.dataclass(frozen=True)
class ImageSet:
  """A scored set of images: Inception features [N, 2048] (of the first N of its images) and
  the mean of each pixel and paired score over all `num_images` images."""
  features: np.ndarray
  pixel_scores: dict[str, float]
  num_images: int = 0
  _precision_recall: dict = dataclasses.field(default_factory=dict, repr=False, compare=False)

  @property
  def count(self) -> int:
    return len(self.features)

  def precision_recall(self, reference: 'Reference') -> tuple[float, float]:
    """fid.precision_recall against `reference`, computed once for both scores."""
    key = id(reference.features)
    if key not in self._precision_recall:
      self._precision_recall[key] = fid.precision_recall(self.features, reference.features)
    return self._precision_recall[key]


@dataclasses.dataclass(frozen=True)
class Measurement:
  value: float
  spread: float | None = None  # a standard deviation, where the score has one


@dataclasses.dataclass(frozen=True)
class Score:
  """One score. `compute` turns an ImageSet and the Reference into the result; `pixels` scores
  a uint8 batch of single images, `paired` a batch against its originals (per image)."""
  name: str
  heading: str
  better: str  # 'lower' | 'higher'
  definition: str
  compute: Callable[[ImageSet, Reference], Measurement]
  pixels: Callable[[np.ndarray], float] | None = None
  paired: Callable[[np.ndarray, np.ndarray], np.ndarray] | None = None
  digits: int = 3  # decimals in tables
  scale: float = 1.0  # tables show value * scale (e.g. KID x 10^3)


def _fid(images: ImageSet, reference: Reference) -> Measurement:
  mean, covariance = images.features.mean(axis=0), np.cov(images.features, rowvar=False)
  return Measurement(fid.frechet_distance(mean, covariance, reference.mean, reference.covariance))


def _kid(images: ImageSet, reference: Reference) -> Measurement:
  return Measurement(*fid.kernel_inception_distance(images.features, reference.features))


def _precision(images: ImageSet, reference: Reference) -> Measurement:
  return Measurement(images.precision_recall(reference)[0])


def _recall(images: ImageSet, reference: Reference) -> Measurement:
  return Measurement(images.precision_recall(reference)[1])


def _pixel_mean(name: str) -> Callable[[ImageSet, Reference], Measurement]:
  return lambda images, reference: Measurement(images.pixel_scores[name])


SCORES: tuple[Score, ...] = (
    Score('fid', 'FID', 'lower',
          'Frechet distance of Inception features to the reference statistics (float64, stable '
          'matrix square root; biased upwards at small N)', _fid),
    Score('kid', 'KID x 10^3', 'lower',
          f'unbiased MMD^2 of Inception features with kernel (x.y/d + 1)^3 (Binkowski et al. 2018), '
          f'mean +- standard deviation over {DEFAULT_SUBSETS} random subsets of '
          f'min({DEFAULT_SUBSET_SIZE}, {DEFAULT_MAX_SHARE:g} N) images of each set (the spread of '
          'an estimate from that many images)', _kid, scale=1e3),
    Score('precision', 'Precision', 'higher',
          f'share of the images inside the k-NN balls of the reference features, k = '
          f'{DEFAULT_K} (Kynkaanniemi et al. 2019)', _precision),
    Score('recall', 'Recall', 'higher',
          'share of the reference images inside the k-NN balls of the images\' features, same k',
          _recall),
    Score('sharpness', 'Sharpness', 'higher', metrics.SHARPNESS_DEFINITION,
          _pixel_mean('sharpness'), pixels=metrics.sharpness),
    Score('laplacian_sharpness', 'Laplacian sharpness', 'higher', metrics.LAPLACIAN_DEFINITION,
          _pixel_mean('laplacian_sharpness'), pixels=metrics.laplacian_sharpness, digits=4),
    Score('mse', 'MSE', 'lower', metrics.MSE_DEFINITION, _pixel_mean('mse'),
          paired=metrics.squared_errors, digits=5),
    Score('psnr', 'PSNR (dB)', 'higher', metrics.PSNR_DEFINITION, _pixel_mean('psnr'),
          paired=metrics.psnr, digits=2),
)
PIXEL_SCORES = {score.name: score.pixels for score in SCORES if score.pixels is not None}
PAIRED_SCORES = {score.name: score.paired for score in SCORES if score.paired is not None}


def result(images: ImageSet, reference: Reference) -> dict[str, float]:
  """{'count': N through the Inception network, 'images': all scored, score: value, score_std:
  spread} of every score the set has (paired ones only where it had originals)."""
  values: dict[str, float] = {'count': images.count, 'images': images.num_images}
  for score in SCORES:
    if score.paired is not None and score.name not in images.pixel_scores:
      continue
    measurement = score.compute(images, reference)
    values[score.name] = measurement.value
    if measurement.spread is not None:
      values[f'{score.name}_std'] = measurement.spread
  return values


class ImageScores:
  """Collects a stream of uint8 batches into an ImageSet: features of the first `feature_limit`
  images (None: all) and running means of the pixel (and, with `paired`, paired) scores."""

  def __init__(self, feature_extractor: Callable[[np.ndarray], np.ndarray],
               feature_limit: int | None = None, paired: bool = False):
    self._feature_extractor = feature_extractor
    self._feature_limit = feature_limit
    self._paired = paired
    self._features: list[np.ndarray] = []
    self._featured = 0
    self._sums = dict.fromkeys(list(PIXEL_SCORES) + (list(PAIRED_SCORES) if paired else []), 0.0)
    self._count = 0

  def update(self, images: np.ndarray, originals: np.ndarray | None = None) -> None:
    if not len(images):
      return
    wanted = len(images) if self._feature_limit is None else min(
        len(images), self._feature_limit - self._featured)
    if wanted > 0:
      self._features.append(np.asarray(self._feature_extractor(images[:wanted]), np.float32))
      self._featured += wanted
    for name, score in PIXEL_SCORES.items():
      self._sums[name] += float(score(images)) * len(images)
    if self._paired:
      if originals is None or originals.shape != images.shape:
        raise ValueError(f'paired scores need originals of the images\' shape {images.shape}')
      for name, score in PAIRED_SCORES.items():
        self._sums[name] += float(np.sum(score(images, originals)))
    self._count += len(images)

  def image_set(self) -> ImageSet:
    """The images of every process (each scored its share; process order is image order)."""
    names = list(self._sums)
    features = runtime.gather_rows(np.concatenate(self._features) if self._features
                                        else np.zeros((0, FEATURE_DIM), np.float32))
    totals = runtime.gather_rows(np.array([[self._count] + [self._sums[name] for name in names]]))
    count, sums = int(totals[:, 0].sum()), totals[:, 1:].sum(0)
    if len(features) < 2:
      raise fid.FIDError(f'scores need at least 2 images, got {len(features)}.')
    return ImageSet(features, {name: float(total) / count for name, total in zip(names, sums)}, count)

  def result(self, reference: Reference) -> dict[str, float]:
    return result(self.image_set(), reference)
