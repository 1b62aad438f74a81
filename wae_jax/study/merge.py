"""One report from studies run apart (seeds on other machines, or in sessions that cannot hold
the whole study): their results.json files give the runs, configs and records, and the report is
written as the study would write it, without figure.png (that decodes from checkpoints).

  python -m wae_jax.study.merge OUT_DIR STUDY_A/results.json STUDY_B/results.json ...
"""

import argparse
import json
import os
import sys

import ml_collections

from wae_jax.errors import ConfigError
from wae_jax.study.plan import PRIOR, REAL_DIR, Run, make_plan, variant_name
from wae_jax.study.report import write_report

# The study fields that may differ between the parts of one study.
MAY_DIFFER = ('seeds', 'configs_dir')
# Data overrides that name files: parts from other checkouts or machines find the same files in
# other folders, so only the files' names must agree (and the real images' protocol, below).
DATA_FILES = ('path', 'split_file')


def merge(paths: list[str], directory: str, command: str) -> dict:
  """Writes the report of the runs of every results.json in `paths` to `directory`; returns its
  results. ConfigError where they are not parts of one study: another preset or settings, another
  data protocol, a run twice, or a results.json written before records were kept whole."""
  sources = [_read(path) for path in paths]
  study = _one_study(paths, sources)
  entries = sorted(((path, entry) for path, results in zip(paths, sources) for entry in results['runs']),
                   key=lambda item: item[1]['seed'])  # seeds in order, each study's order within
  seen = set()
  for path, entry in entries:
    if entry['name'] in seen:
      raise ConfigError(f'{path}: run {entry["name"]} is in another of the files too: give each run once')
    seen.add(entry['name'])
  runs, records, terms, timing = [], {}, {}, {}
  for _, entry in entries:
    name = entry['name']
    runs.append(Run(name, entry['experiment'], entry['seed'], ml_collections.ConfigDict(entry['config']),
                    entry['point']))
    records[name] = _by_step(entry['metrics'])
    for sampler, by_step in entry['metrics_by_sampler'].items():
      records[variant_name(name, sampler)] = _by_step(by_step)
    if entry['loss_terms']:
      terms[name] = entry['loss_terms']
    timing[f'train_seconds/{name}'] = entry['train_seconds']
    for key, seconds in entry['eval_seconds'].items():
      step, _, sampler = key.partition('+')
      timing[f'eval_seconds/{variant_name(name, sampler or PRIOR)}/step{step}'] = seconds
  timing['reference_seconds'] = sources[0]['reference']['seconds']
  timing[f'eval_seconds/{REAL_DIR}'] = sources[0]['real']['eval_seconds']
  study.seeds = tuple(sorted({run.seed for run in runs}))
  plan = make_plan(study, directory, runs)
  for run in runs:
    if list(records[run.name]) != plan.steps[run.name]:
      raise ConfigError(f'run {run.name} was scored at steps {list(records[run.name])}, its study at '
                        f'{plan.steps[run.name]}: rerun its study command to score the missing ones')
  os.makedirs(directory, exist_ok=True)
  return write_report(plan, records, sources[0]['real']['metrics'], timing, command, terms, sources=[
      {'results': path, 'command': results['command'], 'machine': results['machine']}
      for path, results in zip(paths, sources)])


def _read(path: str) -> dict:
  try:
    with open(path) as file:
      results = json.load(file)
  except (OSError, json.JSONDecodeError) as error:
    raise ConfigError(f'{path}: no study results to merge ({error})') from None
  if any('metrics_by_sampler' not in entry for entry in results.get('runs', [{}])):
    raise ConfigError(f'{path}: written by an older wae-jax, without every sampler\'s records; '
                      'rerun its study command (it trains and scores nothing again) to rewrite it')
  return results


def _one_study(paths: list[str], sources: list[dict]) -> ml_collections.ConfigDict:
  """The first file's study config, once every file's study and data protocol agree with it."""
  def settings(results):
    study = {key: value for key, value in results['study'].items() if key not in MAY_DIFFER}
    data = study.get('overrides', {}).get('data', {})
    files = {field: [os.path.basename(path) for path in str(data[field]).split(',')]
             for field in DATA_FILES if field in data}
    if files:
      study['overrides'] = {**study['overrides'], 'data': {**data, **files}}
    return study

  def protocol(results):
    return results['real']['metrics']['protocol']
  for path, results in zip(paths[1:], sources[1:]):
    if settings(results) != settings(sources[0]):
      differ = sorted(key for key in settings(results).keys() | settings(sources[0]).keys()
                      if settings(results).get(key) != settings(sources[0]).get(key))
      raise ConfigError(f'{path}: another study than {paths[0]} (study fields {", ".join(differ)} '
                        'differ): merge the parts of one study, which differ only in their seeds')
    if protocol(results) != protocol(sources[0]):
      raise ConfigError(f'{path}: scored under another protocol (data, FID network or scores) than '
                        f'{paths[0]}: one study, one reference set')
  return ml_collections.ConfigDict(sources[0]['study'])


def _by_step(metrics: dict[str, dict]) -> dict[int, dict]:
  return {int(step): record for step, record in metrics.items()}


def main(argv: list[str] | None = None) -> None:
  parser = argparse.ArgumentParser(prog='python -m wae_jax.study.merge', description=__doc__.split('\n\n')[0])
  parser.add_argument('directory', help='where the merged tables.md, curve.png and results.json go')
  parser.add_argument('results', nargs='+', help="each part's results.json (every run in one of them)")
  args = parser.parse_args(argv)
  command = ' '.join(['python -m wae_jax.study.merge'] + (sys.argv[1:] if argv is None else argv))
  try:
    merge(args.results, args.directory, command)
  except ConfigError as error:
    sys.exit(f'error: {error}')


if __name__ == '__main__':
  main()
