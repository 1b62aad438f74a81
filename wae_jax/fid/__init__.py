"""FID with the TF "2015-12-05" Inception network in JAX, matching the published-FID protocol.

Features (features.py, inception.py, weights.py) feed the Frechet distance and statistics files
(stats.py), KID (kid.py) and precision / recall (precision_recall.py).
"""

from wae_jax.fid.errors import FIDError
from wae_jax.fid.features import FeatureExtractor, inception_features
from wae_jax.fid.kid import kernel_inception_distance
from wae_jax.fid.precision_recall import precision_recall
from wae_jax.fid.stats import (RunningStatistics, frechet_distance, load_features, load_statistics,
                               save_statistics)

__all__ = ['FIDError', 'FeatureExtractor', 'RunningStatistics', 'frechet_distance',
           'inception_features', 'kernel_inception_distance', 'load_features', 'load_statistics',
           'precision_recall', 'save_statistics']
