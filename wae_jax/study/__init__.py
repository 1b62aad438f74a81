"""Studies: several experiments trained, evaluated and tabulated by one resumable command
(`--mode=study`): plan.py (the runs, plain data), execute.py (training and evaluation,
resumable), report.py (tables.md, figure.png and results.json from the records), merge.py
(one report from studies run apart, by their results.json)."""

from collections.abc import Callable

import ml_collections
import numpy as np

from wae_jax.study.execute import TIMING_FILE, Execution, say
from wae_jax.study.plan import (
    Plan, Run, eval_dir, eval_steps, load_config_file, make_plan, runs_of, samplers_of, variant_name)
from wae_jax.study.report import loss_terms, save_figure, write_report

__all__ = ['TIMING_FILE', 'Execution', 'Plan', 'Run', 'eval_dir', 'eval_steps', 'load_config_file',
           'loss_terms', 'make_plan', 'run_study', 'runs_of', 'samplers_of', 'save_figure', 'variant_name',
           'write_report']


def run_study(study: ml_collections.ConfigDict, directory: str,
              feature_extractor: Callable[[np.ndarray], np.ndarray] | None = None,
              command: str | None = None) -> dict:
  """Runs (or resumes) the study in `directory`; returns what it writes to results.json.
  `command`: the command line that ran it, for the tables' header."""
  plan = make_plan(study, directory)
  execution = Execution(plan, feature_extractor)
  records, real = execution.run()
  command = command or f'wae_jax.study.run_study() of preset {study.preset!r} in {directory}'
  results = write_report(plan, records, real, execution.timing, command, loss_terms(plan))
  say(f'wrote {save_figure(plan)}')
  return results
