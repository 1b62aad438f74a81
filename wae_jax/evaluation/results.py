"""metrics.json, one per evaluation directory: {'schema', 'step', 'model', 'objective', 'sigma_z',
'protocol', 'parts': {part: {score: value, ..., 'settings': {...}}}}. Records of older schemas
are upgraded by `migrate` when read, so their parts are still reused and tabulated."""

import copy
import json
import os

from wae_jax.evaluation.evaluators import KINDS
from wae_jax.evaluation.reference import EvaluationError

SCHEMA = 2  # 1 (no 'schema' key): samples' settings had no 'sampler' (it was the prior)
METRICS_FILE = 'metrics.json'
EVAL_DIR = 'eval'
PRIOR = 'prior'
PARTS = tuple(KINDS)  # the parts of the default config.evals, in their order
MODEL_PARTS = tuple(part for part in PARTS if part != 'real')  # a model's evaluation
IMAGE_PARTS = ('samples', 'reconstructions', 'interpolations')  # the tables' parts


def eval_dir(step: int | None = None, last: int | None = None, sampler: str = PRIOR) -> str:
  """Where an evaluation is written: eval/ for the last step (what --mode=eval and --mode=compare
  read), eval_step<k>/ before it; another sampler's beside them: eval_gmm/, eval_step<k>_gmm/."""
  directory = EVAL_DIR if step == last else f'{EVAL_DIR}_step{step}'
  return directory if sampler == PRIOR else f'{directory}_{sampler}'


def migrate(record: dict) -> dict:
  """`record` upgraded to SCHEMA (a copy)."""
  record = copy.deepcopy(record)
  if record.get('schema', 1) < 2 and 'samples' in record.get('parts', {}):
    record['parts']['samples'].setdefault('settings', {}).setdefault('sampler', PRIOR)
  record['schema'] = SCHEMA
  return record


def reusable_parts(directory: str | None, record: dict, settings: dict) -> dict:
  """{part: scores} of an earlier metrics.json in `directory` that hold for this record's step,
  model and protocol and for the part's `settings`."""
  path = os.path.join(directory, METRICS_FILE) if directory else None
  if not path or not os.path.isfile(path):
    return {}
  try:
    with open(path) as file:
      earlier = migrate(json.load(file))
  except (OSError, json.JSONDecodeError):
    return {}
  same_run = all(earlier.get(key) == record[key] for key in ('step', 'model', 'objective'))
  if not same_run or earlier.get('protocol') != json.loads(json.dumps(record['protocol'])):
    return {}
  return {part: {name: value for name, value in result.items() if name != 'settings'}
          for part, result in earlier.get('parts', {}).items()
          if part in settings and result.get('settings') == json.loads(json.dumps(settings[part]))}


def read_metrics(workdir: str, parts: tuple[str, ...] = PARTS, eval_dir: str = EVAL_DIR) -> dict:
  """<workdir>/<eval_dir>/metrics.json (migrated), which must hold `parts`."""
  path = os.path.join(workdir, eval_dir, METRICS_FILE)
  try:
    with open(path) as file:
      record = migrate(json.load(file))
  except FileNotFoundError:
    raise EvaluationError(f'{path} not found: evaluate first with '
                          f'`python launch.py --workdir={workdir} --mode=eval`') from None
  except (OSError, json.JSONDecodeError) as error:
    raise EvaluationError(f'{path}: unreadable ({error}); re-run --mode=eval') from None
  missing = [part for part in parts if part not in record.get('parts', {})]
  if missing:
    raise EvaluationError(f'{path}: no results for {", ".join(missing)} (evaluation interrupted?); '
                          f'resume it with `python launch.py --workdir={workdir} --mode=eval`')
  return record
