"""Studies: several experiments trained, evaluated and tabulated by one resumable command.

    python launch.py --mode=study --config=configs/study_thesis.py:<preset> --workdir=<dir>

A study config (see configs/study_thesis.py) names experiment config files, seeds and the
overrides every experiment shares. Each (experiment, seed) trains in <dir>/runs/<name>_seed<k>/
and is evaluated there against one set of reference statistics (<dir>/reference_stats.npz);
real images are scored once (<dir>/real_data/). Then <dir> gets tables.md (the thesis's
Tables 4.3-4.5 with every score of the registry), figure.png (a labelled band per run) and
results.json (every number, config and wall time).

The same command again skips finished training and evaluation and resumes an interrupted run
from its checkpoint.
"""

import dataclasses
import importlib.util
import itertools
import json
import os
import platform
import time
from collections.abc import Callable

import jax
import ml_collections
import numpy as np
import tqdm

from wae_jax import api, evaluation, figures, train
from wae_jax.config_defaults import flat_fields
from wae_jax.errors import ConfigError

RUNS_DIR = 'runs'
REAL_DIR = 'real_data'
REFERENCE_FILE = 'reference_stats.npz'
TIMING_FILE = 'study_timing.json'


@dataclasses.dataclass(frozen=True)
class Run:
  """One experiment of a study with one seed."""
  name: str
  experiment: str
  seed: int
  config: ml_collections.ConfigDict
  point: dict = dataclasses.field(default_factory=dict)  # the grid fields' values ({} without a grid)


def load_config_file(path: str) -> ml_collections.ConfigDict:
  """get_config() of an experiment config file."""
  if not os.path.isfile(path):
    raise ConfigError(f'{path}: no such experiment config file (study config: experiments and '
                      'configs_dir)')
  spec = importlib.util.spec_from_file_location(f'study_experiment_{os.path.basename(path)[:-3]}', path)
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module.get_config()


def apply_overrides(config: ml_collections.ConfigDict, overrides: dict, where: str = 'config') -> None:
  """Sets nested `overrides` ({'model': {'width': 0.25}, ...}) on `config`; unknown fields are a
  ConfigError naming them."""
  for key, value in overrides.items():
    if key not in config:
      raise ConfigError(f'study override {where}.{key}: no such field; see wae_jax/config_defaults.py')
    if isinstance(value, (dict, ml_collections.ConfigDict)):
      apply_overrides(config[key], dict(value), f'{where}.{key}')
    else:
      config[key] = value


def _nested(field: str, value) -> dict:
  """'objective.cost_scale', 0.2 -> {'objective': {'cost_scale': 0.2}}."""
  for key in reversed(field.split('.')):
    value = {key: value}
  return value


def grid_points(study: ml_collections.ConfigDict) -> list[dict[str, object]]:
  """Every combination of the study's grid ({'objective': {'cost_scale': (0.05, 1.0)}}) as
  {'objective.cost_scale': 0.05}; [{}] for a study without one."""
  grid = flat_fields(study.get('grid', ml_collections.ConfigDict()).to_dict())
  return [dict(zip(grid, values)) for values in itertools.product(*grid.values())]


def run_name(experiment: str, point: dict[str, object], seed: int) -> str:
  """e.g. 'vae_cost_scale0.2_seed1': the experiment, each grid field's last part and value, the seed."""
  return '_'.join([experiment] + [f'{field.rsplit(".", 1)[-1]}{value}' for field, value in point.items()]
                  + [f'seed{seed}'])


def runs_of(study: ml_collections.ConfigDict) -> list[Run]:
  """Every (seed, grid point, experiment) of the study with its complete experiment config:
  shared overrides, then the experiment's own (`experiment_overrides`), then the grid point.
  Ordered by seed, then grid point, experiment last, so an interrupted study holds complete
  pairs (WAE s0, WAE-ResNet s0, WAE s1, ...)."""
  per_experiment = study.get('experiment_overrides', ml_collections.ConfigDict()).to_dict()
  unknown = sorted(set(per_experiment) - set(study.experiments))
  if unknown:
    raise ConfigError(f'study experiment_overrides of {", ".join(unknown)}: not among the study\'s '
                      f'experiments ({", ".join(study.experiments)})')
  runs = []
  for seed in study.seeds:
    for point in grid_points(study):
      for experiment in study.experiments:
        config = load_config_file(os.path.join(study.configs_dir, f'{experiment}.py'))
        apply_overrides(config, study.overrides.to_dict())
        apply_overrides(config, per_experiment.get(experiment, {}), f'experiment_overrides.{experiment}')
        for field, value in point.items():
          apply_overrides(config, _nested(field, value), 'grid')
        config.seed = int(seed)
        runs.append(Run(run_name(experiment, point, int(seed)), experiment, int(seed), config, point))
  return runs


def _read_json(path: str) -> dict:
  try:
    with open(path) as file:
      return json.load(file)
  except (OSError, json.JSONDecodeError):
    return {}


def _say(message: str) -> None:
  tqdm.tqdm.write(f'[study] {message}', file=None)


def _minutes(seconds: float) -> str:
  return f'{seconds / 60:.1f} min'


class Study:
  """Runs a study config in a directory; every stage is skipped when already done."""

  def __init__(self, study: ml_collections.ConfigDict, directory: str,
               feature_extractor: Callable[[np.ndarray], np.ndarray] | None = None):
    self.study = study
    self.directory = directory
    self.runs = runs_of(study)
    self.eval_config = self.runs[0].config
    self.eval_config.eval.reference_stats = os.path.join(directory, REFERENCE_FILE)
    for run in self.runs:
      run.config.eval.reference_stats = self.eval_config.eval.reference_stats
    self._feature_extractor = feature_extractor
    self.timing = {}

  def workdir(self, run: Run) -> str:
    return os.path.join(self.directory, RUNS_DIR, run.name)

  def feature_extractor(self):
    if self._feature_extractor is None:
      self._feature_extractor = evaluation.make_feature_extractor(self.eval_config)
    return self._feature_extractor

  def run(self) -> dict:
    """Trains and evaluates every run, then writes tables.md, figure.png and results.json."""
    os.makedirs(self.directory, exist_ok=True)
    self.timing = _read_json(os.path.join(self.directory, TIMING_FILE))
    reference = self._reference()
    real = self._evaluate(None, os.path.join(self.directory, REAL_DIR), reference, 'real data')
    records = {}
    for number, run in enumerate(self.runs, 1):
      label = f'run {number} of {len(self.runs)} ({run.name})'
      self._train(run, label)
      records[run.name] = self._evaluate(run, self.workdir(run), reference, label)
    return self._write_outputs(records, real)

  def _timed(self, key: str, action: Callable[[], object]) -> object:
    start = time.perf_counter()
    result = action()
    self.timing[key] = self.timing.get(key, 0.0) + time.perf_counter() - start
    evaluation.write_json(os.path.join(self.directory, TIMING_FILE), self.timing)
    return result

  def _reference(self) -> evaluation.Reference:
    config = self.eval_config
    try:
      return evaluation.load_reference(config)
    except evaluation.EvaluationError:
      _say(f'reference statistics of {config.eval.split} at {config.model.image_size}px')
      self._timed('reference_seconds', lambda: evaluation.compute_reference_stats(
          config, feature_extractor=self.feature_extractor()))
      return evaluation.load_reference(config)

  def _train(self, run: Run, label: str) -> None:
    done = f'trained/{run.name}'
    if self.timing.get(done):
      _say(f'{label}: trained ({_minutes(self.timing[f"train_seconds/{run.name}"])}), skipped')
      return
    _say(f'{label}: training {run.config.model.name} / {run.config.objective.name} in '
         f'{self.workdir(run)}')
    self._timed(f'train_seconds/{run.name}', lambda: train.train_and_evaluate(
        run.config, self.workdir(run), description=label))
    self.timing[done] = True
    evaluation.write_json(os.path.join(self.directory, TIMING_FILE), self.timing)

  def _evaluate(self, run: Run | None, workdir: str, reference, label: str) -> dict:
    config = self.eval_config if run is None else run.config
    parts = ('real',) if run is None else evaluation.MODEL_PARTS
    evaluator = evaluation.Evaluator(config, self.feature_extractor(), reference)
    key = f'eval_seconds/{run.name if run else REAL_DIR}'

    def evaluate():
      model = None if run is None else api.load(workdir)
      for _ in evaluator.run(model, workdir, parts):
        pass
    _say(f'{label}: evaluating {", ".join(parts)}')
    self._timed(key, evaluate)
    return evaluation.read_metrics(workdir, parts)

  def _write_outputs(self, records: dict[str, dict], real: dict) -> dict:
    labels = {run.name: f'{run.config.model.name} ({run.config.objective.name}, seed {run.seed})'
              for run in self.runs}
    header = [f'# Study `{self.study.name}`, preset `{self.study.preset}`', '',
              f'Command: `{self.study.command}`', '', self.study.description, '']
    tables = evaluation.compare_tables(records, real, labels)
    with open(os.path.join(self.directory, 'tables.md'), 'w') as file:
      file.write('\n'.join(header) + '\n' + tables)
    figures.save_study_figure(os.path.join(self.directory, 'figure.png'), [
        evaluation.figure_row(self.workdir(run), f'{run.name}: {run.config.model.name} / '
                              f'{run.config.objective.name}', run.config) for run in self.runs])
    results = {
        'study': self.study.to_dict(),
        'machine': {'platform': platform.platform(), 'processor': platform.processor(),
                    'cpu_count': os.cpu_count(), 'jax': jax.__version__,
                    'devices': [str(device) for device in jax.devices()]},
        'reference': {'path': self.eval_config.eval.reference_stats,
                      'seconds': self.timing.get('reference_seconds')},
        'real': {'metrics': real, 'eval_seconds': self.timing.get(f'eval_seconds/{REAL_DIR}')},
        'runs': [{'name': run.name, 'experiment': run.experiment, 'seed': run.seed,
                  'config': run.config.to_dict(), 'metrics': records[run.name],
                  'train_seconds': self.timing.get(f'train_seconds/{run.name}'),
                  'eval_seconds': self.timing.get(f'eval_seconds/{run.name}')}
                 for run in self.runs],
    }
    evaluation.write_json(os.path.join(self.directory, 'results.json'), results)
    _say(f'wrote {", ".join(os.path.join(self.directory, name) for name in ("tables.md", "figure.png", "results.json"))}')
    return results


def run_study(study: ml_collections.ConfigDict, directory: str,
              feature_extractor: Callable[[np.ndarray], np.ndarray] | None = None) -> dict:
  """Runs (or resumes) the study in `directory`; returns what it writes to results.json."""
  return Study(study, directory, feature_extractor).run()
