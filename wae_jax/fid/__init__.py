"""FID with the TF "2015-12-05" Inception network in JAX, matching the published-FID protocol.

inception_features / FeatureExtractor: images -> 2048-d features (features.py, inception.py);
weights come from a TorchScript archive read without torch (weights.py); statistics, the
Frechet distance and statistics files are in stats.py; KID (kid.py) and precision / recall
(precision_recall.py) are computed from the same features.
"""

from wae_jax.fid.errors import FIDError
from wae_jax.fid.features import FeatureExtractor
from wae_jax.fid.features import inception_features
from wae_jax.fid.kid import kernel_inception_distance
from wae_jax.fid.precision_recall import precision_recall
from wae_jax.fid.stats import RunningStatistics
from wae_jax.fid.stats import frechet_distance
from wae_jax.fid.stats import load_features
from wae_jax.fid.stats import load_statistics
from wae_jax.fid.stats import save_statistics

__all__ = ['FIDError', 'FeatureExtractor', 'RunningStatistics', 'frechet_distance',
           'inception_features', 'kernel_inception_distance', 'load_features', 'load_statistics',
           'precision_recall', 'save_statistics']
