"""The runner of the config.evals evaluators, for --mode=eval, studies and the training loop.

Parts are scored on uint8 images against the reference statistics of `--mode=stats`. With several
processes each scores a contiguous share of every part and process 0 writes the gathered result."""

import dataclasses
import functools
import itertools
import os
from collections.abc import Callable, Iterator
from typing import Any

import jax
import ml_collections
import numpy as np
import tqdm

from wae_jax import api, atomic_files, data, samplers
from wae_jax.distributed import runtime
from wae_jax.evaluation import evaluators, reference as reference_stats, results, streaming
from wae_jax.evaluation.evaluators.samples import sample_batches
from wae_jax.evaluation.reference import EvaluationError, data_protocol
from wae_jax.evaluation.scores import FID_NETWORK, SCORES, ImageScores, Reference

QUANTISATION = 'uint8, round(255 x) for generated images'
FID = next(score for score in SCORES if score.name == 'fid')


class Evaluator:
  """Runs config.evals on a model; loads the reference and the FID network once, where a block's
  kind needs them (tests inject both)."""

  def __init__(self, config: ml_collections.ConfigDict,
               feature_extractor: Callable[[np.ndarray], np.ndarray] | None = None,
               reference: Reference | None = None):
    self.config = config
    needed = any(evaluators.kind(block.type).needs_reference for block in config.evals.values())
    self.feature_extractor, self.reference = _scoring(config, needed, feature_extractor, reference)

  def settings(self, parts: tuple[str, ...] | None = None) -> dict[str, dict]:
    """What each part's result depends on besides the checkpoint and the data protocol."""
    return self._settings(evaluators.build(self.config, parts))

  def _settings(self, built: dict) -> dict[str, dict]:
    if self.config.eval.save_images and jax.process_count() > 1:
      raise EvaluationError('config.eval.save_images needs one process: evaluate with '
                            '`python launch.py --mode=eval ...` alone to save the scored images')
    return {name: part.settings() for name, part in built.items()}

  def run(self, model, workdir: str | None = None, parts: tuple[str, ...] | None = None,
          eval_dir: str = results.EVAL_DIR) -> Iterator[tuple[str, float]]:
    """Yields (<part>/<score>, value) of the config.evals blocks `parts` (None: all; with no model,
    those that need none). With `workdir`, writes <workdir>/<eval_dir>/metrics.json after every part,
    reusing parts already there for this step, protocol and settings."""
    directory = os.path.join(workdir, eval_dir) if workdir else None
    if directory:
      os.makedirs(directory, exist_ok=True)
    writes = directory if jax.process_index() == 0 else None  # one writer: process 0
    chosen = evaluators.build(self.config, parts)
    if parts is None and model is None:
      chosen = {name: part for name, part in chosen.items() if not part.needs_model}
    settings = self._settings(chosen)
    record = {'schema': results.SCHEMA, **run_record(model, self.config), 'parts': {}}
    done = results.reusable_parts(directory, record, settings)
    todo = [name for name in chosen if name not in done]
    if model is not None and any(chosen[name].needs_model for name in todo):
      model = with_configured_batch_stats(model, self.config)
    context = streaming.Context(self.config, self.feature_extractor, self.reference, writes)
    computed = ((name, chosen[name].evaluate(model, context)) for name in todo)
    for name, result in itertools.chain(done.items(), computed):
      record['parts'][name] = {**result, 'settings': settings[name]}
      if writes:
        atomic_files.write_json(os.path.join(writes, results.METRICS_FILE), record)
      for score, value in result.items():
        yield f'{name}/{score}', value


def _scoring(config: ml_collections.ConfigDict, needed: bool, feature_extractor, reference):
  """The FID network and reference as given, each loaded where `needed` and not given."""
  if needed:
    reference = reference if reference is not None else reference_stats.load_reference(config)
    feature_extractor = feature_extractor or reference_stats.make_feature_extractor(config)
  return feature_extractor, reference


def run_record(model, config: ml_collections.ConfigDict) -> dict:
  """What a metrics.json record says besides its parts: the checkpoint and the protocol."""
  return {
      'step': None if model is None else int(model.step),
      'model': 'real data' if model is None else model.config.model.name,
      'objective': None if model is None else model.config.objective.name,
      'sigma_z': None if model is None else model.config.objective.sigma_z,
      'protocol': {'data': data_protocol(config), 'fid_network': FID_NETWORK,
                   'quantisation': QUANTISATION,
                   'scores': {score.name: score.definition for score in SCORES}},
  }


def samples_fid(model, config: ml_collections.ConfigDict, n: int,
                feature_extractor: Callable[[np.ndarray], np.ndarray], reference: Reference) -> float:
  """FID of n random samples, with the seeds of the samples part (the same codes at every call)."""
  scores = ImageScores(feature_extractor)
  for images in sample_batches(model, config, n)[1]:
    scores.update(images)
  return FID.compute(scores.image_set(), reference).value


@dataclasses.dataclass(frozen=True)
class PeriodicEvaluator:
  """An evaluation the training loop runs every `every` steps: evaluate(model) -> {tag: value}."""
  name: str
  every: int
  evaluate: Callable[[Any], dict[str, float]]


def periodic_evaluators(config: ml_collections.ConfigDict,
                        feature_extractor: Callable[[np.ndarray], np.ndarray] | None = None,
                        reference: Reference | None = None) -> list[PeriodicEvaluator]:
  """The evaluations of training: the FID of samples every config.train.fid_every steps and every
  config.evals block with every > 0. Loads the reference now, so missing statistics fail first."""
  blocks = [name for name, block in config.evals.items() if block.get('every', 0) > 0]
  built = evaluators.build(config, tuple(blocks))
  needed = config.train.fid_every > 0 or any(part.needs_reference for part in built.values())
  feature_extractor, reference = _scoring(config, needed, feature_extractor, reference)
  context = streaming.Context(config, feature_extractor, reference)
  periodic = []
  if config.train.fid_every > 0:
    periodic.append(PeriodicEvaluator('fid_samples', config.train.fid_every, lambda model: {
        'eval/fid_samples': samples_fid(model, config, config.eval.num_during_training,
                                        feature_extractor, reference)}))
  for name, part in built.items():
    part.settings()  # validates before training
    periodic.append(PeriodicEvaluator(name, config.evals[name].every, functools.partial(
        _tagged, name, part, context)))
  return periodic


def _tagged(name: str, part, context: streaming.Context, model) -> dict[str, float]:
  return {f'eval/{name}/{score}': value for score, value in part.evaluate(model, context).items()}


def with_configured_batch_stats(model, config: ml_collections.ConfigDict):
  """`model` with BatchNorm statistics as config.eval.recompute_batch_stats asks (0: as trained)."""
  batches = config.eval.recompute_batch_stats
  if batches <= 0:
    return model
  size = config.train.batch_size
  images = data.eval_batches(config.data, config.eval.batch_stats_split, config.model.image_size, size,
                             max_images=batches * size)
  # The codes depend on the statistics, so a sampler's fit of them is kept apart (the tag).
  return model.with_recomputed_batch_stats(images, seed=config.seed, tag=f'batch_stats{batches}x{size}')


def evaluate(config: ml_collections.ConfigDict | None, workdir: str) -> dict:
  """Evaluates the latest checkpoint in `workdir` with `config` (None: its own); returns its metrics.json."""
  model = api.load(workdir)
  config = config or model.config
  if config.model.image_size != model.config.model.image_size:
    raise EvaluationError(f'{workdir}: the checkpoint makes {model.config.model.image_size}px images but '
                          f'the config says {config.model.image_size}; evaluate with its own config')
  samplers.check(config.eval.sampler)
  directory = results.eval_dir(sampler=config.eval.sampler)
  for name, value in Evaluator(config).run(model, workdir, eval_dir=directory):
    if jax.process_index() == 0:
      tqdm.tqdm.write(f'{name} = {value:.6g}')
  runtime.barrier('metrics written')  # by process 0
  return results.read_metrics(workdir, tuple(config.evals), directory)
