"""Reference statistics: the Inception features of the real images a model is judged against,
made by `--mode=stats`, saved with their data protocol and refused under another."""

import os
from collections.abc import Callable, Iterator

import jax
import ml_collections
import numpy as np
import tqdm

from wae_jax import data, fid, figures
from wae_jax.distributed import runtime
from wae_jax.errors import UserError
from wae_jax.evaluation.scores import Reference
from wae_jax.fid.weights import cache_dir

STATS_COMMAND = 'python launch.py --config=<your config> --mode=stats'


class EvaluationError(UserError):
  """Missing or mismatched reference statistics, or missing evaluation results; one line, no traceback."""


def default_reference_stats_path(config: ml_collections.ConfigDict) -> str:
  """fid_stats_<split>_<size>.npz beside the data (`data.data_folder`), or in the wae_jax cache
  ($WAE_JAX_CACHE/fid_stats/<source>/) for data that lives elsewhere (TFDS default, the demo)."""
  folder = data.data_folder(config.data)
  if folder is None:
    folder = os.path.join(cache_dir(), 'fid_stats', config.data.source)
  return os.path.join(folder, f'fid_stats_{config.eval.split}_{config.model.image_size}.npz')


def reference_stats_path(config: ml_collections.ConfigDict) -> str:
  return config.eval.reference_stats or default_reference_stats_path(config)


def data_protocol(config: ml_collections.ConfigDict) -> dict:
  """The data protocol of the evaluation split at the model's resolution (FID-statistics metadata)."""
  return data.protocol(config.data, config.eval.split, config.model.image_size)


def load_reference(config: ml_collections.ConfigDict) -> Reference:
  """The config's reference statistics and features, refused if made under another protocol."""
  path = reference_stats_path(config)
  if not os.path.isfile(path):
    raise EvaluationError(f'{path}: no FID reference statistics; make them with `{STATS_COMMAND}` '
                          '(the same data settings as this run)')
  try:
    mean, covariance, _, _ = fid.load_statistics(path, expected_protocol=data_protocol(config))
    features = fid.load_features(path)
  except fid.FIDError as error:
    raise EvaluationError(f'{error} Remake them with `{STATS_COMMAND}`') from None
  return Reference(mean, covariance, features)


def make_feature_extractor(config: ml_collections.ConfigDict) -> fid.FeatureExtractor:
  return fid.FeatureExtractor(weights_path=config.eval.fid_weights or None,
                              batch_size=config.eval.batch_size)


def progress_bar(total: int, description: str) -> tqdm.tqdm:
  """A progress bar of this host's share (shown by process 0 only)."""
  return tqdm.tqdm(total=total, desc=description, unit='img', dynamic_ncols=True, leave=False,
                   disable=jax.process_index() != 0)


def host_split_batches(config: ml_collections.ConfigDict, split: str, batch_size: int, n: int,
                       unit: int = 1) -> tuple[range, Iterator[np.ndarray]]:
  """This host's share of the first n images of `split` (split in whole `unit`s, e.g. pairs):
  the share's image indices, and its batches at config.model.image_size."""
  mine = runtime.share(n, unit=unit)
  return mine, data.eval_batches(config.data, split, config.model.image_size, batch_size,
                                 max_images=len(mine), start=mine.start)


def compute_reference_stats(config: ml_collections.ConfigDict, output_path: str | None = None,
                            feature_extractor: Callable[[np.ndarray], np.ndarray] | None = None) -> str:
  """Saves the FID features and statistics of config.eval.split with the data protocol; returns
  the path. With several processes each computes its share and process 0 saves them all."""
  path = output_path or reference_stats_path(config)
  protocol = data_protocol(config)
  extractor = feature_extractor or make_feature_extractor(config)
  features = []
  mine, batches = host_split_batches(config, config.eval.split, config.eval.batch_size,
                                     protocol['num_images'])
  with progress_bar(len(mine), f'FID statistics of {config.eval.split}') as progress:
    for batch in batches:
      features.append(np.asarray(extractor(figures.to_uint8(batch)), np.float32))
      progress.update(len(batch))
  features = runtime.gather_rows(np.concatenate(features))
  if jax.process_index() != 0:
    return path
  statistics = fid.RunningStatistics()
  statistics.update(features)
  mean, covariance = statistics.mean_and_covariance()
  fid.save_statistics(path, mean, covariance, statistics.count, protocol, features=features)
  return path
