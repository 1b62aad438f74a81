"""KID, precision / recall and the score registry, each against a direct numpy computation."""

import itertools

import numpy as np
import pytest

from wae_jax import fid, metrics
from wae_jax.evaluation import scores


def direct_mmd2(x, y):
  """Unbiased MMD^2 with k(a, b) = (a.b/d + 1)^3, pair by pair."""
  d = x.shape[1]
  k = lambda a, b: (a @ b / d + 1.0) ** 3
  m = len(x)
  xx = sum(k(x[i], x[j]) for i, j in itertools.permutations(range(m), 2)) / (m * (m - 1))
  yy = sum(k(y[i], y[j]) for i, j in itertools.permutations(range(m), 2)) / (m * (m - 1))
  xy = sum(k(a, b) for a in x for b in y) / (m * m)
  return xx + yy - 2 * xy


def test_kid_of_whole_sets_is_the_direct_unbiased_mmd():
  rng = np.random.default_rng(0)
  x, y = rng.normal(size=(9, 5)), rng.normal(0.5, 1.0, size=(9, 5))
  mean, std = fid.kernel_inception_distance(x, y, subsets=3, subset_size=9, max_share=1.0)
  assert mean == pytest.approx(direct_mmd2(x, y), rel=1e-9)  # a subset of all is a permutation
  assert std == pytest.approx(0.0, abs=1e-12)


def test_kid_subsets_average_the_subset_estimates():
  rng = np.random.default_rng(1)
  x, y = rng.normal(size=(12, 4)), rng.normal(size=(15, 4))
  mean, std = fid.kernel_inception_distance(x, y, subsets=4, subset_size=6, seed=3, max_share=1.0)
  draw = np.random.default_rng(3)
  estimates = [direct_mmd2(x[draw.choice(12, 6, replace=False)], y[draw.choice(15, 6, replace=False)])
               for _ in range(4)]
  assert (mean, std) == pytest.approx((np.mean(estimates), np.std(estimates)), rel=1e-9)


def test_kid_subsets_hold_a_quarter_of_the_smaller_set_so_the_spread_is_not_zero_below_1000():
  # Subsets of min(1000, N) images are the whole set when N <= 1000: a spread of 0 (seen: 1.2e-16
  # at N = 660). A quarter of N gives subsets that differ.
  assert fid.kid.kid_subset_size(660, 1440) == 165
  assert fid.kid.kid_subset_size(8000, 10_000) == 1000
  assert fid.kid.kid_subset_size(5, 3) == 2
  rng = np.random.default_rng(4)
  _, spread = fid.kernel_inception_distance(rng.normal(size=(60, 4)), rng.normal(size=(80, 4)), subsets=5)
  assert spread > 1e-3


def test_kid_is_unbiased_near_zero_for_one_distribution_and_grows_with_a_shift():
  rng = np.random.default_rng(2)
  same, _ = fid.kernel_inception_distance(rng.normal(size=(200, 8)), rng.normal(size=(200, 8)),
                                          subsets=10, subset_size=100, max_share=0.5)
  shifted, _ = fid.kernel_inception_distance(rng.normal(size=(200, 8)), rng.normal(1, 1, (200, 8)),
                                             subsets=10, subset_size=100, max_share=0.5)
  assert abs(same) < 0.05 * shifted


def direct_precision_recall(fake, real, k):
  """Balls to the k-th nearest other point, by sorting full distance matrices."""
  def radii(points):
    distances = np.linalg.norm(points[:, None] - points[None], axis=-1)
    return np.sort(distances, axis=1)[:, k]  # index 0 is the point itself
  def inside(queries, points):
    distances = np.linalg.norm(queries[:, None] - points[None], axis=-1)
    return np.mean((distances <= radii(points)[None]).any(axis=1))
  return inside(fake, real), inside(real, fake)


def test_precision_recall_match_the_direct_computation():
  rng = np.random.default_rng(4)
  real = rng.normal(size=(40, 6))
  fake = np.concatenate([rng.normal(size=(20, 6)), rng.normal(4.0, 0.3, size=(15, 6))])
  precision, recall = fid.precision_recall(fake, real, k=3)
  assert (precision, recall) == pytest.approx(direct_precision_recall(fake, real, 3))
  assert precision == pytest.approx(20 / 35, abs=0.15)  # the shifted cluster is outside


def test_precision_recall_need_more_points_than_k():
  with pytest.raises(fid.FIDError, match='more than 3'):
    fid.precision_recall(np.zeros((3, 2)), np.zeros((10, 2)), k=3)


def test_frechet_distance_of_a_set_to_itself_is_clamped_to_zero():
  # Exactly 0 on any x86-64 CPU: the round-off (7e-15 seen with AVX-512) is below ROUND_OFF;
  # also for a rank-deficient covariance (30 images, 2048 features) as at small N.
  for dim in (10, 2048):
    features = np.random.default_rng(5).normal(size=(30, dim))
    mean, covariance = features.mean(0), np.cov(features, rowvar=False)
    assert fid.frechet_distance(mean, covariance, mean, covariance) == 0.0
  # A real difference far below any FID anyone reports is not clamped: ||shift||^2 = 1e-5.
  features = np.random.default_rng(6).normal(size=(300, 10))
  mean, covariance = features.mean(0), np.cov(features, rowvar=False)
  assert fid.frechet_distance(mean + 1e-3, covariance, mean, covariance) == pytest.approx(1e-5, rel=1e-6)


def random_images(n, seed=0):
  return np.random.default_rng(seed).integers(0, 256, (n, 8, 8, 3), dtype=np.uint8)


def pooled_features(images):
  return images.reshape(len(images), -1)[:, :16].astype(np.float32)


def test_image_scores_over_uneven_batches_equal_the_scores_of_all_images():
  images, real = random_images(11), random_images(9, seed=1)
  collected = scores.ImageScores(pooled_features)
  for start, stop in [(0, 4), (4, 5), (5, 5), (5, 11)]:
    collected.update(images[start:stop])
  reference = scores.Reference.of_features(pooled_features(real))
  result = collected.result(reference)
  assert result['count'] == 11
  assert result['sharpness'] == pytest.approx(float(metrics.sharpness(images)), rel=1e-5)
  assert result['laplacian_sharpness'] == pytest.approx(float(metrics.laplacian_sharpness(images)),
                                                        rel=1e-5)
  features = pooled_features(images).astype(np.float64)
  assert result['fid'] == pytest.approx(fid.frechet_distance(
      features.mean(0), np.cov(features, rowvar=False), reference.mean, reference.covariance))
  assert (result['kid'], result['kid_std']) == pytest.approx(
      fid.kernel_inception_distance(features, reference.features))
  assert (result['precision'], result['recall']) == pytest.approx(
      fid.precision_recall(features, reference.features))


def test_every_registered_score_is_reported_and_nothing_else():
  collected = scores.ImageScores(pooled_features)
  collected.update(random_images(8))
  result = collected.result(scores.Reference.of_features(pooled_features(random_images(8, seed=2))))
  expected = {'count', 'images', 'kid_std'} | {score.name for score in scores.SCORES
                                               if score.paired is None}
  assert set(result) == expected  # no originals: no paired scores


def test_paired_scores_are_per_image_mse_and_psnr_against_the_originals_over_all_images():
  originals = random_images(10)
  noisy = np.clip(originals.astype(int) + np.random.default_rng(5).integers(-20, 21, originals.shape),
                  0, 255).astype(np.uint8)
  collected = scores.ImageScores(pooled_features, feature_limit=6, paired=True)
  collected.update(noisy[:7], originals[:7])
  collected.update(noisy[7:], originals[7:])
  result = collected.result(scores.Reference.of_features(pooled_features(random_images(8, seed=2))))
  per_image = ((noisy / 255.0 - originals / 255.0) ** 2).reshape(10, -1).mean(1)  # independent
  assert result['mse'] == pytest.approx(per_image.mean(), rel=1e-12)
  assert result['psnr'] == pytest.approx(np.mean(10 * np.log10(1 / per_image)), rel=1e-12)
  assert (result['count'], result['images']) == (6, 10)  # features of the first 6 only
  assert result['sharpness'] == pytest.approx(float(metrics.sharpness(noisy)), rel=1e-5)
  identical = scores.ImageScores(pooled_features, paired=True)
  identical.update(originals, originals)
  assert identical.result(scores.Reference.of_features(pooled_features(originals)))['psnr'] == 100.0
  with pytest.raises(ValueError, match='originals'):
    identical.update(originals)


def test_scores_of_fewer_than_two_images_are_refused():
  collected = scores.ImageScores(pooled_features)
  collected.update(random_images(1))
  with pytest.raises(fid.FIDError, match='at least 2'):
    collected.image_set()
