"""A study's execution: trains and evaluates every run of its plan; finished trainings and wall
times go to study_timing.json, so the same command again skips them."""

import json
import os
import time
from collections.abc import Callable

import numpy as np
import tqdm

from wae_jax import api, atomic_files, evaluation, train
from wae_jax.study.plan import PRIOR, REAL_DIR, SAMPLER_PARTS, Plan, Run, eval_dir, variant_name

TIMING_FILE = 'study_timing.json'


def say(message: str) -> None:
  tqdm.tqdm.write(f'[study] {message}', file=None)


class Execution:
  """Runs a plan; every stage already done (study_timing.json, metrics.json) is skipped."""

  def __init__(self, plan: Plan, feature_extractor: Callable[[np.ndarray], np.ndarray] | None = None):
    self.plan = plan
    self._feature_extractor = feature_extractor
    self.timing: dict = {}

  def feature_extractor(self):
    if self._feature_extractor is None:
      self._feature_extractor = evaluation.make_feature_extractor(self.plan.eval_config)
    return self._feature_extractor

  def run(self) -> tuple[dict[str, dict[int, dict]], dict]:
    """(records, real): each variant's metrics by step (by variant_name(run, sampler)), and the
    real images'."""
    os.makedirs(self.plan.directory, exist_ok=True)
    self.timing = _read_json(os.path.join(self.plan.directory, TIMING_FILE))
    reference = self._reference()
    real = self._evaluate(None, os.path.join(self.plan.directory, REAL_DIR), reference, 'real data')
    records: dict[str, dict[int, dict]] = {}
    for number, run in enumerate(self.plan.runs, 1):
      label = f'run {number} of {len(self.plan.runs)} ({run.name})'
      self._train(run, label)
      for sampler in self.plan.samplers:
        records[variant_name(run.name, sampler)] = {
            step: self._evaluate(run, self.plan.workdir(run), reference, label, step, sampler)
            for step in self.plan.steps[run.name]}
    return records, real

  def _save_timing(self) -> None:
    atomic_files.write_json(os.path.join(self.plan.directory, TIMING_FILE), self.timing)

  def _timed(self, key: str, action: Callable[[], object]) -> object:
    start = time.perf_counter()
    result = action()
    self.timing[key] = self.timing.get(key, 0.0) + time.perf_counter() - start
    self._save_timing()
    return result

  def _reference(self) -> evaluation.Reference:
    config = self.plan.eval_config
    try:
      return evaluation.load_reference(config)
    except evaluation.EvaluationError:
      say(f'reference statistics of {config.eval.split} at {config.model.image_size}px')
      self._timed('reference_seconds', lambda: evaluation.compute_reference_stats(
          config, feature_extractor=self.feature_extractor()))
      return evaluation.load_reference(config)

  def _train(self, run: Run, label: str) -> None:
    done = f'trained/{run.name}'
    if self.timing.get(done):
      say(f'{label}: trained ({self.timing[f"train_seconds/{run.name}"] / 60:.1f} min), skipped')
      return
    say(f'{label}: training {run.config.model.name} / {run.config.objective.name} in '
        f'{self.plan.workdir(run)}')
    self._timed(f'train_seconds/{run.name}', lambda: train.train_and_evaluate(
        run.config, self.plan.workdir(run), description=label))
    self.timing[done] = True
    self._save_timing()

  def _evaluate(self, run: Run | None, workdir: str, reference, label: str,
                step: int | None = None, sampler: str = PRIOR) -> dict:
    """The metrics of the real images (run None), or of a run's checkpoint of `step`: the plan's
    parts with the prior; with another sampler its samples and latent part, the others the prior's."""
    config = (self.plan.eval_config if run is None else run.config).copy_and_resolve_references()
    config.eval.sampler = sampler
    parts = ('real',) if run is None else self.plan.parts if sampler == PRIOR else tuple(
        part for part in self.plan.parts if part in SAMPLER_PARTS)
    directory = evaluation.EVAL_DIR if run is None else eval_dir(step, run.config.train.num_steps, sampler)
    evaluator = evaluation.Evaluator(config, self.feature_extractor(), reference)
    key = (f'eval_seconds/{REAL_DIR}' if run is None
           else f'eval_seconds/{variant_name(run.name, sampler)}/step{step}')

    def evaluate():
      model = None if run is None else api.load(workdir, step)
      for _ in evaluator.run(model, workdir, parts, directory):
        pass
    at = '' if run is None else f' at step {step}' + ('' if sampler == PRIOR else f' ({sampler} sampler)')
    say(f'{label}: evaluating {", ".join(parts)}{at}')
    self._timed(key, evaluate)
    record = evaluation.read_metrics(workdir, parts, directory)
    if sampler == PRIOR:
      return record
    with_prior = evaluation.read_metrics(workdir, self.plan.parts,
                                         eval_dir(step, run.config.train.num_steps))
    return {**with_prior, 'parts': {**with_prior['parts'], **record['parts']}}


def _read_json(path: str) -> dict:
  try:
    with open(path) as file:
      return json.load(file)
  except (OSError, json.JSONDecodeError):
    return {}
