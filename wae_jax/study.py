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

from wae_jax import api, evaluation, figures, models, samplers, train, train_state
from wae_jax.config_defaults import flat_fields
from wae_jax.errors import ConfigError

RUNS_DIR = 'runs'
REAL_DIR = 'real_data'
REFERENCE_FILE = 'reference_stats.npz'
TIMING_FILE = 'study_timing.json'
PRIOR = 'prior'


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


def _listed(entries) -> list[str]:
  """A tuple of names, where one string 'a,b' (as `--config.experiments=a,b` gives) counts as two."""
  return [name.strip() for entry in entries for name in str(entry).split(',') if name.strip()]


def experiments_of(study: ml_collections.ConfigDict) -> list[str]:
  """study.experiments, where `--config.experiments=wae,wae_resnet` (one string) counts as two."""
  return _listed(study.experiments)


def samplers_of(study: ml_collections.ConfigDict) -> list[str]:
  """study.samplers (default: the prior alone), the prior first: every run's random samples are
  also scored with each further sampler (wae_jax/samplers.py), which needs no retraining."""
  names = _listed(study.get('samplers', (PRIOR,)))
  for name in names:
    samplers.check_sampler(name)
  return [PRIOR] + [name for name in dict.fromkeys(names) if name != PRIOR]


def variant_name(name: str, sampler: str) -> str:
  """A run or experiment name with its sampler: 'wae' (the prior) or 'wae+gmm'."""
  return name if sampler == PRIOR else f'{name}+{sampler}'


def runs_of(study: ml_collections.ConfigDict) -> list[Run]:
  """Every (seed, grid point, experiment) of the study with its complete experiment config:
  the shared overrides, then the grid point. Ordered by seed, then grid point, experiment last,
  so an interrupted study holds complete pairs (WAE s0, WAE-ResNet s0, WAE s1, ...)."""
  runs = []
  for seed in study.seeds:
    for point in grid_points(study):
      for experiment in experiments_of(study):
        config = load_config_file(os.path.join(study.configs_dir, f'{experiment}.py'))
        apply_overrides(config, study.overrides.to_dict())
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


def eval_steps(study: ml_collections.ConfigDict, run: Run) -> list[int]:
  """The checkpoint steps a run is scored at: study.eval_at's fractions of its steps (default:
  the last). Each must be a checkpoint the run keeps until the study evaluates it."""
  train = run.config.train
  if train.num_steps <= 0:
    raise ConfigError(f'study run {run.name}: a study needs train.num_steps > 0 (an image budget)')
  steps = sorted({int(round(fraction * train.num_steps)) for fraction in study.get('eval_at', (1.0,))})
  for step in steps:
    if not 0 < step <= train.num_steps:
      raise ConfigError(f'study eval_at: {step / train.num_steps:g} is no fraction in (0, 1] of the '
                        f'{train.num_steps} steps')
    if step < train.num_steps and step % train.checkpoint_every:
      raise ConfigError(f'study eval_at gives step {step}, which is no checkpoint (train.checkpoint_every '
                        f'= {train.checkpoint_every}): choose fractions at multiples of it')
    latest = (train.num_steps - step) // train.checkpoint_every + 1  # its rank from the end
    if train.keep_checkpoints < latest and not (train.keep_every > 0 and step % train.keep_every == 0):
      raise ConfigError(f'study eval_at needs the checkpoint of step {step} kept until the run ends: '
                        f'set overrides.train.keep_every={step} (or keep_checkpoints >= {latest})')
  return steps


def eval_dir(step: int, last: int, sampler: str = PRIOR) -> str:
  """eval/ for the last step (what --mode=eval and --mode=compare read), eval_step<k>/ before;
  another sampler's samples beside them: eval_gmm/ (as --mode=eval writes), eval_step<k>_gmm/."""
  directory = evaluation.EVAL_DIR if step == last else f'{evaluation.EVAL_DIR}_step{step}'
  return directory if sampler == PRIOR else f'{directory}_{sampler}'


class Study:
  """Runs a study config in a directory; every stage is skipped when already done."""

  def __init__(self, study: ml_collections.ConfigDict, directory: str,
               feature_extractor: Callable[[np.ndarray], np.ndarray] | None = None,
               command: str | None = None):
    self.study = study
    self.directory = directory
    self.command = command or f'wae_jax.study.run_study() of preset {study.preset!r} in {directory}'
    self.runs = runs_of(study)
    self.samplers = samplers_of(study)
    self.steps = {run.name: eval_steps(study, run) for run in self.runs}
    # Reference and real images: one protocol for every run (runs_of applies the same overrides).
    self.eval_config = self.runs[0].config
    self.eval_config.eval.reference_stats = os.path.join(directory, REFERENCE_FILE)
    for run in self.runs:
      run.config.eval.reference_stats = self.eval_config.eval.reference_stats
      if evaluation.data_protocol(run.config) != evaluation.data_protocol(self.eval_config):
        raise ConfigError(f'study run {run.name} evaluates under another data protocol than '
                          f'{self.runs[0].name}: one study, one reference set')
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
    records: dict[str, dict] = {}  # by run name, and by variant_name(run, sampler) past the prior
    for number, run in enumerate(self.runs, 1):
      label = f'run {number} of {len(self.runs)} ({run.name})'
      self._train(run, label)
      for sampler in self.samplers:
        records[variant_name(run.name, sampler)] = {
            step: self._evaluate(run, self.workdir(run), reference, label, step, sampler)
            for step in self.steps[run.name]}
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

  def _evaluate(self, run: Run | None, workdir: str, reference, label: str,
                step: int | None = None, sampler: str = PRIOR) -> dict:
    """The metrics of the real images (run None), or of a run's checkpoint of `step`: every part
    with the prior; with another sampler only its samples, the other parts the prior's."""
    config = self.eval_config if run is None else run.config.copy_and_resolve_references()
    parts = ('real',) if run is None else evaluation.MODEL_PARTS if sampler == PRIOR else ('samples',)
    directory = evaluation.EVAL_DIR if run is None else eval_dir(step, run.config.train.num_steps, sampler)
    config.eval.sampler = sampler
    evaluator = evaluation.Evaluator(config, self.feature_extractor(), reference)
    key = (f'eval_seconds/{REAL_DIR}' if run is None
           else f'eval_seconds/{variant_name(run.name, sampler)}/step{step}')

    def evaluate():
      model = None if run is None else api.load(workdir, step)
      for _ in evaluator.run(model, workdir, parts, directory):
        pass
    at = '' if run is None else f' at step {step}' + ('' if sampler == PRIOR else f' ({sampler} sampler)')
    _say(f'{label}: evaluating {", ".join(parts)}{at}')
    self._timed(key, evaluate)
    record = evaluation.read_metrics(workdir, parts, directory)
    if sampler == PRIOR:
      return record
    with_prior = evaluation.read_metrics(workdir, evaluation.MODEL_PARTS, eval_dir(step, run.config.train.num_steps))
    return {**with_prior, 'parts': {**with_prior['parts'], 'samples': record['parts']['samples']}}

  def _models_table(self) -> tuple[str, dict[str, dict]]:
    """Markdown: each experiment (and grid point) as run, with its parameter counts."""
    counts, lines = {}, ['| Model | objective | encoder params | decoder params | critic params | '
                         'latent | cost_scale | image | width |', '|---|---|---:|---:|---:|---:|---:|---:|---:|']
    for run in self.runs:
      label = evaluation.group_label(run.experiment, run.point)
      if label in counts:
        continue
      config = run.config
      counts[label] = train_state.parameter_counts(config, models.build_for(config))
      lines.append(f'| {label} | {config.objective.name} | {counts[label]["encoder"]:,} | '
                   f'{counts[label]["decoder"]:,} | {counts[label]["discriminator"]:,} | '
                   f'{config.model.latent_dim} | {config.objective.cost_scale:g} | '
                   f'{config.model.image_size} | {config.model.width:g} |')
    return '\n'.join(lines) + '\n', counts

  def _write_outputs(self, records: dict[str, dict[int, dict]], real: dict) -> dict:
    variants = [(run, sampler) for run in self.runs for sampler in self.samplers]
    labels = {variant_name(run.name, sampler):
              f'{evaluation.group_label(variant_name(run.experiment, sampler), run.point)} '
              f'({run.config.objective.name}, seed {run.seed})' for run, sampler in variants}
    members = [evaluation.Member(variant_name(run.name, sampler), variant_name(run.experiment, sampler),
                                 run.point, run.seed) for run, sampler in variants]
    known = {variant_name(experiment, sampler) for experiment in experiments_of(self.study)
             for sampler in self.samplers}
    pairs = [tuple(pair) for pair in self.study.get('pairs', ())
             if all(experiment in known for experiment in pair)]
    models_table, counts = self._models_table()
    last = {variant_name(run.name, sampler): self.steps[run.name][-1] for run, sampler in variants}
    lines = [f'# Study `{self.study.name}`, preset `{self.study.preset}`', '',
             f'Command: `{self.command}`', '', self.study.description, '',
             '## Models as run', '', models_table]
    differences = {}
    for index, _ in enumerate(self.steps[self.runs[0].name]):
      at = {name: by_step[list(by_step)[index]] for name, by_step in records.items()}
      step = next(iter(at.values()))['step']
      when = 'the end of training' if all(record['step'] == last[name] for name, record in at.items()) \
          else f'{step / self.runs[0].config.train.num_steps:.0%} of the training'
      lines += [f'## Scores at step {step:,} ({when})', '']
      if len(self.study.seeds) > 1 or pairs:
        lines += [evaluation.summary_tables(members, at)]
      if pairs:
        differences[step] = evaluation.paired_differences(members, at, pairs)
        lines += [evaluation.paired_tables(differences[step])]
      lines += ['### Every run', '', evaluation.compare_tables(at, real, labels).replace('\n## ', '\n#### ')
                .replace('## Table', '#### Table', 1)]
    with open(os.path.join(self.directory, 'tables.md'), 'w') as file:
      file.write('\n'.join(lines))
    figures.save_study_figure(os.path.join(self.directory, 'figure.png'), [
        evaluation.figure_row(self.workdir(run), labels[variant_name(run.name, sampler)], run.config,
                              sampler=sampler) for run, sampler in variants])
    results = {
        'study': self.study.to_dict(),
        'command': self.command,
        'machine': {'platform': platform.platform(), 'processor': platform.processor(),
                    'cpu_count': os.cpu_count(), 'jax': jax.__version__,
                    'devices': [str(device) for device in jax.devices()]},
        'reference': {'path': self.eval_config.eval.reference_stats,
                      'seconds': self.timing.get('reference_seconds')},
        'real': {'metrics': real, 'eval_seconds': self.timing.get(f'eval_seconds/{REAL_DIR}')},
        'models': counts,
        'paired_differences': {str(step): rows for step, rows in differences.items()},
        'runs': [{'name': run.name, 'experiment': run.experiment, 'seed': run.seed, 'point': run.point,
                  'config': run.config.to_dict(),
                  'metrics': {str(step): record for step, record in records[run.name].items()},
                  'samples_by_sampler': {
                      sampler: {str(step): record['parts']['samples']
                                for step, record in records[variant_name(run.name, sampler)].items()}
                      for sampler in self.samplers[1:]},
                  'train_seconds': self.timing.get(f'train_seconds/{run.name}'),
                  'eval_seconds': {
                      variant_name(str(step), sampler):
                      self.timing.get(f'eval_seconds/{variant_name(run.name, sampler)}/step{step}')
                      for step in self.steps[run.name] for sampler in self.samplers}}
                 for run in self.runs],
    }
    evaluation.write_json(os.path.join(self.directory, 'results.json'), results)
    _say(f'wrote {", ".join(os.path.join(self.directory, name) for name in ("tables.md", "figure.png", "results.json"))}')
    return results


def run_study(study: ml_collections.ConfigDict, directory: str,
              feature_extractor: Callable[[np.ndarray], np.ndarray] | None = None,
              command: str | None = None) -> dict:
  """Runs (or resumes) the study in `directory`; returns what it writes to results.json.
  `command`: the command line that ran it, for the tables' header."""
  return Study(study, directory, feature_extractor, command).run()
