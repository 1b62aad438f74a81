"""A study's report from its records: tables.md (means ± SD over seeds, paired differences, Tables
4.3-4.5 per run), figure.png, curve.png (several points) and results.json (every number, config
and wall time)."""

import os
import platform

import jax

from wae_jax import atomic_files, evaluation, figures, hooks, models, objectives, train_state
from wae_jax.study.execute import say
from wae_jax.study.plan import REAL_DIR, Plan, variant_name


def models_table(plan: Plan) -> tuple[str, dict[str, dict]]:
  """Markdown: each experiment (and grid point) as run, with its parameter counts."""
  counts, lines = {}, ['| Model | objective | encoder params | decoder params | critic params | '
                       'latent | cost_scale | image | width |', '|---|---|---:|---:|---:|---:|---:|---:|---:|']
  for run in plan.runs:
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


def loss_terms(plan: Plan) -> dict[str, dict]:
  """Each run's loss terms in its last logged window (its TensorBoard scalars): value, weight
  and share of the loss, by run name; runs whose objective names no terms are left out."""
  terms = {}
  for run in plan.runs:
    objective = objectives.get(run.config.objective.name)
    logged = {tag[len('train/'):]: points[-1][1]
              for tag, points in hooks.read_scalars(plan.workdir(run)).items() if tag.startswith('train/')}
    weights = (objective.terms or dict)(run.config.objective)
    if not weights or not all(name in logged for name in weights):
      continue
    shares = objectives.loss_shares(objective, run.config.objective, logged)
    terms[run.name] = {name: {'value': logged[name], 'weight': weight, 'share': shares[name]}
                       for name, weight in weights.items()}
  return terms


def loss_terms_table(plan: Plan, terms: dict[str, dict]) -> str:
  """Markdown: each run's weighted loss terms and their shares."""
  lines = ['| Run | objective | weighted terms (share of the loss) |', '|---|---|---|']
  for run in plan.runs:
    if run.name in terms:
      cells = ', '.join(f'{name} {term["weight"] * term["value"]:.4g} ({term["share"]:.1%})'
                        for name, term in terms[run.name].items())
      lines.append(f'| {run.name} | {run.config.objective.name} | {cells} |')
  return '\n'.join(lines) + '\n'


def save_figure(plan: Plan) -> str:
  """figure.png: a band per run and sampler, decoded from each run's last scored checkpoint."""
  path, labels = os.path.join(plan.directory, 'figure.png'), _labels(plan)
  figures.save_study_figure(path, [
      evaluation.figure_row(plan.workdir(run), labels[variant_name(run.name, sampler)], run.config,
                            sampler=sampler) for run, sampler in plan.variants()])
  return path


def _labels(plan: Plan) -> dict[str, str]:
  """Each variant's label in tables and figure: 'wae+gmm (wae_gan, seed 0)'."""
  return {variant_name(run.name, sampler):
          f'{evaluation.group_label(variant_name(run.experiment, sampler), run.point)} '
          f'({run.config.objective.name}, seed {run.seed})' for run, sampler in plan.variants()}


def write_report(plan: Plan, records: dict[str, dict[int, dict]], real: dict, timing: dict,
                 command: str, terms: dict[str, dict], sources: list[dict] | None = None) -> dict:
  """Writes tables.md, curve.png (when scored at several points) and results.json to the plan's
  directory; returns the results. `sources`: where the records come from studies run apart, each
  one's results.json, command and machine."""
  study, runs = plan.study, plan.runs
  labels = _labels(plan)
  members = [evaluation.Member(variant_name(run.name, sampler), variant_name(run.experiment, sampler),
                               run.point, run.seed) for run, sampler in plan.variants()]
  table, counts = models_table(plan)
  last = {variant_name(run.name, sampler): plan.steps[run.name][-1] for run, sampler in plan.variants()}
  prior_variance = {evaluation.group_label(member.experiment, member.point):
                    run.config.model.latent_dim * run.config.objective.sigma_z ** 2
                    for member, (run, _) in zip(members, plan.variants())}
  lines = [f'# Study `{study.name}`, preset `{study.preset}`', '', f'Command: `{command}`', '',
           study.description, '', '## Models as run', '', table,
           '## Loss terms at the end of training (the last logged window, mean over its steps)', '',
           loss_terms_table(plan, terms)]
  differences, at_steps, scores = {}, {}, []
  for index, _ in enumerate(plan.steps[runs[0].name]):
    at = {name: by_step[list(by_step)[index]] for name, by_step in records.items()}
    step = next(iter(at.values()))['step']
    at_steps[step] = at
    when = 'the end of training' if all(record['step'] == last[name] for name, record in at.items()) \
        else f'{step / runs[0].config.train.num_steps:.0%} of the training'
    scores += [f'## Scores at step {step:,} ({when})', '']
    if len(study.seeds) > 1 or plan.pairs:
      scores += [evaluation.summary_tables(members, at)]
    if 'latent' in plan.parts:
      scores += [evaluation.latent_table(members, at, prior_variance)]
    if plan.pairs:
      differences[step] = evaluation.paired_differences(members, at, plan.pairs)
      scores += [evaluation.paired_tables(differences[step])]
    scores += ['### Every run', '', evaluation.compare_tables(at, real, labels).replace('\n## ', '\n#### ')
               .replace('## Table', '#### Table', 1)]
  if len(at_steps) > 1:
    lines += ['## Over the budget', '', evaluation.curve_tables(members, at_steps, differences)]
    figures.save_curve(os.path.join(plan.directory, 'curve.png'), list(at_steps),
                       evaluation.sample_fid_curves(members, at_steps),
                       'sample FID against the training step: mean and ± 1 SD over seeds')
  atomic_files.write_text(os.path.join(plan.directory, 'tables.md'), '\n'.join(lines + scores))
  results = {
      'study': study.to_dict(),
      'command': command,
      'machine': this_machine(),
      'reference': {'path': plan.eval_config.eval.reference_stats, 'seconds': timing.get('reference_seconds')},
      'real': {'metrics': real, 'eval_seconds': timing.get(f'eval_seconds/{REAL_DIR}')},
      'models': counts,
      'paired_differences': {str(step): rows for step, rows in differences.items()},
      'runs': [_run_result(plan, run, records, timing, terms) for run in runs],
  }
  if sources is not None:
    results['merged_from'] = sources
  atomic_files.write_json(os.path.join(plan.directory, 'results.json'), results)
  written = ('tables.md',) + (('curve.png',) if len(at_steps) > 1 else ()) + ('results.json',)
  say(f'wrote {", ".join(os.path.join(plan.directory, name) for name in written)}')
  return results


def this_machine() -> dict:
  """Where the report was written: platform, CPU, JAX and its devices."""
  return {'platform': platform.platform(), 'processor': platform.processor(),
          'cpu_count': os.cpu_count(), 'jax': jax.__version__,
          'devices': [str(device) for device in jax.devices()]}


def _run_result(plan: Plan, run, records: dict[str, dict[int, dict]], timing: dict,
                terms: dict[str, dict]) -> dict:
  """A run's entry of results.json: its config, metrics by step (with the prior, then by further
  sampler), loss terms and times."""
  return {'name': run.name, 'experiment': run.experiment, 'seed': run.seed, 'point': run.point,
          'loss_terms': terms.get(run.name),
          'config': run.config.to_dict(),
          'metrics': {str(step): record for step, record in records[run.name].items()},
          'metrics_by_sampler': {
              sampler: {str(step): record for step, record in records[variant_name(run.name, sampler)].items()}
              for sampler in plan.samplers[1:]},
          'train_seconds': timing.get(f'train_seconds/{run.name}'),
          'eval_seconds': {
              variant_name(str(step), sampler):
              timing.get(f'eval_seconds/{variant_name(run.name, sampler)}/step{step}')
              for step in plan.steps[run.name] for sampler in plan.samplers}}
