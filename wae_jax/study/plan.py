"""A study's plan: its runs (experiments x seeds x grid points, each with its own config), the
steps scored, the samplers, the pairs and the evaluation's config; built once, never changed."""

import dataclasses
import itertools
import os

import ml_collections

from wae_jax import config_defaults, evaluation, samplers
from wae_jax.config_defaults import flat_fields
from wae_jax.errors import ConfigError
from wae_jax.evaluation import eval_dir  # noqa: F401  (the study's name for it)

RUNS_DIR = 'runs'
REAL_DIR = 'real_data'
REFERENCE_FILE = 'reference_stats.npz'
PRIOR = 'prior'
SAMPLER_PARTS = ('samples', 'latent')  # the parts a further sampler changes


@dataclasses.dataclass(frozen=True)
class Run:
  """One experiment of a study with one seed."""
  name: str
  experiment: str
  seed: int
  config: ml_collections.ConfigDict
  point: dict = dataclasses.field(default_factory=dict)  # the grid fields' values ({} without a grid)


@dataclasses.dataclass(frozen=True)
class Plan:
  """What a study trains, scores and compares in `directory`."""
  study: ml_collections.ConfigDict
  directory: str
  runs: list[Run]
  samplers: list[str]  # the prior first
  steps: dict[str, list[int]]  # by run name: the checkpoint steps scored
  parts: tuple[str, ...]  # the parts scored with the prior (further samplers: those in SAMPLER_PARTS)
  pairs: list[tuple[str, str]]  # the study's pairs whose variants it has
  eval_config: ml_collections.ConfigDict  # the reference and real data's (a copy of the first run's)

  def workdir(self, run: Run) -> str:
    return os.path.join(self.directory, RUNS_DIR, run.name)

  def variants(self) -> list[tuple[Run, str]]:
    """Every (run, sampler): the prior's variant of a run, then its other samplers'."""
    return [(run, sampler) for run in self.runs for sampler in self.samplers]


def load_config_file(path: str) -> ml_collections.ConfigDict:
  """get_config() of an experiment config file."""
  if not os.path.isfile(path):
    raise ConfigError(f'{path}: no such experiment config file (study config: experiments and '
                      'configs_dir)')
  return config_defaults.load_config_file(path)


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
  return _listed(study.experiments)


def samplers_of(study: ml_collections.ConfigDict) -> list[str]:
  """study.samplers (default: the prior alone), the prior first: every run's random samples are
  also scored with each further sampler (wae_jax/samplers/), which needs no retraining."""
  names = _listed(study.get('samplers', (PRIOR,)))
  for name in names:
    samplers.check(name)
  return [PRIOR] + [name for name in dict.fromkeys(names) if name != PRIOR]


def parts_of(study: ml_collections.ConfigDict) -> tuple[str, ...]:
  """study.parts (default: every part of a model's evaluation); samples always among them."""
  parts = tuple(_listed(study.get('parts', evaluation.MODEL_PARTS)))
  unknown = [part for part in parts if part not in evaluation.MODEL_PARTS]
  if unknown or 'samples' not in parts:
    raise ConfigError(f'study parts {",".join(parts)}: use samples and any of '
                      f'{", ".join(part for part in evaluation.MODEL_PARTS if part != "samples")}')
  return parts


def variant_name(name: str, sampler: str) -> str:
  """A run or experiment name with its sampler: 'wae' (the prior) or 'wae+gmm'."""
  return name if sampler == PRIOR else f'{name}+{sampler}'


def runs_of(study: ml_collections.ConfigDict, reference_stats: str | None = None) -> list[Run]:
  """Every (seed, grid point, experiment) with its own complete config, ordered by seed, then
  grid point, experiment last, so an interrupted study holds complete pairs."""
  repeated = sorted({int(seed) for seed in study.seeds if list(study.seeds).count(seed) > 1})
  if repeated:
    raise ConfigError(f'study seeds {",".join(map(str, study.seeds))}: seed {repeated[0]} more than once '
                      '(a repeated --config.seeds flag adds to the seeds; give them in one)')
  runs = []
  for seed in study.seeds:
    for point in grid_points(study):
      for experiment in experiments_of(study):
        config = load_config_file(os.path.join(study.configs_dir, f'{experiment}.py'))
        apply_overrides(config, study.overrides.to_dict())
        for field, value in point.items():
          apply_overrides(config, _nested(field, value), 'grid')
        config.seed = int(seed)
        if reference_stats is not None:
          config.eval.reference_stats = reference_stats
        runs.append(Run(run_name(experiment, point, int(seed)), experiment, int(seed), config, point))
  return runs


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


def make_plan(study: ml_collections.ConfigDict, directory: str, runs: list[Run] | None = None) -> Plan:
  """The plan of `study` in `directory`. `runs`: given (studies run apart, merged by their
  records), or else the study's own, which must share one data protocol (one reference)."""
  if runs is None:
    runs = runs_of(study, os.path.join(directory, REFERENCE_FILE))
    _check_one_protocol(runs)
  sampler_names = samplers_of(study)
  steps = {run.name: eval_steps(study, run) for run in runs}
  known = {variant_name(experiment, sampler) for experiment in experiments_of(study)
           for sampler in sampler_names}
  pairs = [pair for pair in _pairs_per_sampler(study.get('pairs', ()), sampler_names)
           if all(name in known for name in pair)]
  return Plan(study, directory, runs, sampler_names, steps, parts_of(study), pairs,
              runs[0].config.copy_and_resolve_references())


def _check_one_protocol(runs: list[Run]) -> None:
  """ConfigError where a run evaluates under another data protocol than the first."""
  first = evaluation.data_protocol(runs[0].config)
  for run in runs[1:]:
    if evaluation.data_protocol(run.config) != first:
      raise ConfigError(f'study run {run.name} evaluates under another data protocol than '
                        f'{runs[0].name}: one study, one reference set')


def _pairs_per_sampler(pairs, sampler_names: list[str]) -> list[tuple[str, str]]:
  """The study's pairs, and each pair of two experiments again with every further sampler:
  ('wae_resnet', 'wae') with gmm also gives ('wae_resnet+gmm', 'wae+gmm')."""
  expanded = []
  for a, b in pairs:
    variants = [PRIOR] if any('+' in name for name in (a, b)) else sampler_names
    expanded += [(variant_name(a, sampler), variant_name(b, sampler)) for sampler in variants]
  return list(dict.fromkeys(expanded))
