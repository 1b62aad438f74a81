"""Several seeds of a study: each model's scores as mean ± SD over seeds, and paired differences.

A pair (A, B), e.g. WAE-ResNet against WAE, is compared seed by seed: the runs of one seed share
the seed of the data order, the initialisation and the evaluation's samples, so A - B of each
score is one paired difference per seed. A model "wins" a score only where every seed's
difference favours it; with 3 seeds that is a sign test at p = 1/8 for one side, evidence of a
consistent direction at this budget, not of its size or of significance.
"""

import dataclasses

import numpy as np

from wae_jax.evaluation.scores import SCORES
from wae_jax.evaluation.tables import ARROWS, TABLES, format_value, part_scores


@dataclasses.dataclass(frozen=True)
class Member:
  """What the seed tables need of a study run: its name, experiment, grid point and seed."""
  name: str
  experiment: str
  point: dict
  seed: int


def group_label(experiment: str, point: dict) -> str:
  """'wae' or 'vae (cost_scale 0.2)': an experiment at one grid point, over its seeds."""
  if not point:
    return experiment
  values = ', '.join(f'{field.rsplit(".", 1)[-1]} {value}' for field, value in point.items())
  return f'{experiment} ({values})'


def _groups(members: list[Member]) -> dict[str, dict[int, Member]]:
  groups: dict[str, dict[int, Member]] = {}
  for member in members:
    groups.setdefault(group_label(member.experiment, member.point), {})[member.seed] = member
  return groups


def _mean_sd(values: list[float], score) -> str:
  if len(values) == 1:
    return format_value(score, values[0])
  return f'{format_value(score, float(np.mean(values)))} ± {format_value(score, float(np.std(values, ddof=1)))}'


def summary_tables(members: list[Member], records: dict[str, dict]) -> str:
  """Markdown: per part, each model's every score as mean ± SD (sample SD) over its seeds."""
  groups = _groups(members)
  sections = []
  for part, title in TABLES:
    scores = part_scores(part, records)
    lines = [f'### {title.split(":")[0]}: mean ± SD over seeds', '',
             '| Model | ' + ' | '.join(f'{score.heading} {ARROWS[score.better]}' for score in scores)
             + ' | seeds |', '|---|' + '---:|' * (len(scores) + 1)]
    for label, by_seed in groups.items():
      results = [records[member.name]['parts'][part] for member in by_seed.values()]
      cells = [_mean_sd([result[score.name] for result in results], score) if score.name in results[0]
               else '-' for score in scores]
      lines.append(f'| {label} | {" | ".join(cells)} | {len(results)} |')
    sections.append('\n'.join(lines))
  return '\n\n'.join(sections) + '\n'


def paired_differences(members: list[Member], records: dict[str, dict],
                       pairs: list[tuple[str, str]]) -> list[dict]:
  """For each pair (A, B) of experiments present, each grid point, part and score: the per-seed
  differences A - B over the seeds both have, their mean and SD, how many seeds favour A (by the
  score's direction), and the verdict: A or B where every seed agrees, else None."""
  groups = _groups(members)
  rows = []
  for a, b in pairs:
    points = {tuple(member.point.items()): member.point for member in members if member.experiment == a}
    for point in points.values():
      runs_a, runs_b = groups.get(group_label(a, point), {}), groups.get(group_label(b, point), {})
      seeds = sorted(set(runs_a) & set(runs_b))
      if not seeds:
        continue
      for part, _ in TABLES:
        for score in part_scores(part, records):
          if score.name not in records[runs_a[seeds[0]].name]['parts'][part]:
            continue
          differences = [records[runs_a[seed].name]['parts'][part][score.name]
                         - records[runs_b[seed].name]['parts'][part][score.name] for seed in seeds]
          sign = -1.0 if score.better == 'lower' else 1.0  # > 0: A better
          favour_a = sum(sign * difference > 0 for difference in differences)
          favour_b = sum(sign * difference < 0 for difference in differences)
          verdict = a if favour_a == len(seeds) else b if favour_b == len(seeds) else None
          rows.append({
              'a': group_label(a, point), 'b': group_label(b, point), 'part': part, 'score': score.name,
              'seeds': seeds, 'differences': differences, 'mean': float(np.mean(differences)),
              'sd': float(np.std(differences, ddof=1)) if len(seeds) > 1 else None,
              'favour_a': int(favour_a), 'favour_b': int(favour_b), 'verdict': verdict})
  return rows


def paired_tables(rows: list[dict]) -> str:
  """Markdown: one table per pair, a row per part and score."""
  by_score = {score.name: score for score in SCORES}
  sections = []
  for pair in dict.fromkeys((row['a'], row['b']) for row in rows):
    lines = [f'### {pair[0]} - {pair[1]}, per seed', '',
             '| Part | Score | ' + ' | '.join(f'seed {seed}' for seed in rows[0]['seeds'])
             + ' | mean ± SD | seeds favouring ' + pair[0] + ' | winner |',
             '|---|---|' + '---:|' * (len(rows[0]['seeds']) + 2) + '---|']
    for row in rows:
      if (row['a'], row['b']) != pair:
        continue
      score = by_score[row['score']]
      spread = '' if row['sd'] is None else f' ± {format_value(score, row["sd"])}'
      lines.append(f'| {row["part"]} | {score.heading} {ARROWS[score.better]} | '
                   + ' | '.join(format_value(score, d) for d in row['differences'])
                   + f' | {format_value(score, row["mean"])}{spread} | {row["favour_a"]} of '
                   f'{len(row["seeds"])} | {row["verdict"] or "none"} |')
    sections.append('\n'.join(lines))
  note = ('A - B per seed (for lower-is-better scores a negative difference favours A). A model '
          'wins a score only where every seed favours it, else "none" (seeds disagree or tie); '
          'with n seeds, all agreeing by chance has probability 2 x 2^-n (1/4 for 3 seeds), so '
          'a win shows a consistent direction at this budget, not significance or size.')
  return '\n\n'.join(sections) + '\n\n' + note + '\n'
