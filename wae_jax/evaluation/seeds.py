"""Several seeds of a study: each model's scores as mean ± SD over seeds, and paired differences
(runs of one seed share data order, initialisation and samples), judged by the rule ESTABLISHED."""

import dataclasses

import numpy as np
from scipy import stats

from wae_jax.evaluation.scores import SCORES
from wae_jax.evaluation.tables import ARROWS, format_value, part_scores, tabled_parts


ESTABLISHED = ("A pair's difference is established when the paired t-test over seeds gives p < 0.05 "
               "and every seed's difference has the same sign; otherwise it is 'not established'. "
               "With n seeds the exact sign test cannot go below p = 2^(1-n) (0.25 for 3 seeds).")
SIGNIFICANCE = 0.05


def sign_test(favour_a: int, favour_b: int) -> float:
  """The exact two-sided sign test's p-value of seeds favouring A against B (ties left out)."""
  if favour_a + favour_b == 0:
    return 1.0
  return float(stats.binomtest(favour_a, favour_a + favour_b, 0.5).pvalue)


def paired_t_test(values_a: list[float], values_b: list[float]) -> float | None:
  """The paired t-test's two-sided p-value; None where it is undefined (under 2 seeds, or
  differences that do not vary)."""
  differences = np.subtract(values_a, values_b)
  if len(differences) < 2 or np.all(differences == differences[0]):
    return None
  return float(stats.ttest_rel(values_a, values_b).pvalue)


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


@dataclasses.dataclass(frozen=True)
class LatentColumn:
  """A column of the latent table, formatted as a Score's values are (digits, scale)."""
  name: str
  heading: str
  digits: int = 1
  scale: float = 1.0


LATENT_COLUMNS = (LatentColumn('total_variance', "codes' total variance (share of the prior's)", 2),
                  LatentColumn('mean_norm', "norm of the codes' mean", 2),
                  LatentColumn('log_density_prior', 'mean log-density, prior'),
                  LatentColumn('log_density_gmm', 'mean log-density, gmm'))


def latent_table(members: list[Member], records: dict[str, dict], prior_variance: dict[str, float]) -> str:
  """Markdown: the latent diagnostics of each model's held-out codes, mean ± SD over seeds, the
  total variance also as a share of its prior's (`prior_variance` by group label: d sigma_z^2)."""
  lines = ['### Held-out codes (latent part): mean ± SD over seeds', '',
           '| Model | ' + ' | '.join(column.heading for column in LATENT_COLUMNS) + ' | seeds |',
           '|---|' + '---:|' * (len(LATENT_COLUMNS) + 1)]
  for label, by_seed in _groups(members).items():
    results = [records[member.name]['parts']['latent'] for member in by_seed.values()]
    cells = [_mean_sd([result[column.name] for result in results], column) if column.name in results[0]
             else '-' for column in LATENT_COLUMNS]
    share = np.mean([result['total_variance'] for result in results]) / prior_variance[label]
    cells[0] += f' ({share:.0%})'
    lines.append(f'| {label} | {" | ".join(cells)} | {len(results)} |')
  return '\n'.join(lines) + '\n'


def summary_tables(members: list[Member], records: dict[str, dict]) -> str:
  """Markdown: per part, each model's every score as mean ± SD (sample SD) over its seeds."""
  groups = _groups(members)
  sections = []
  for part, title in tabled_parts(records):
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
  """For each pair (A, B) present, grid point, part and score: the per-seed differences A - B, their
  mean and SD, the seeds favouring A, the verdict, the sign test's and t-test's p and ESTABLISHED."""
  groups = _groups(members)
  rows = []
  for a, b in pairs:
    points = {tuple(member.point.items()): member.point for member in members if member.experiment == a}
    for point in points.values():
      runs_a, runs_b = groups.get(group_label(a, point), {}), groups.get(group_label(b, point), {})
      seeds = sorted(set(runs_a) & set(runs_b))
      if not seeds:
        continue
      for part, _ in tabled_parts(records):
        for score in part_scores(part, records):
          if score.name not in records[runs_a[seeds[0]].name]['parts'][part]:
            continue
          values_a = [records[runs_a[seed].name]['parts'][part][score.name] for seed in seeds]
          values_b = [records[runs_b[seed].name]['parts'][part][score.name] for seed in seeds]
          differences = [value_a - value_b for value_a, value_b in zip(values_a, values_b)]
          sign = -1.0 if score.better == 'lower' else 1.0  # > 0: A better
          favour_a = sum(sign * difference > 0 for difference in differences)
          favour_b = sum(sign * difference < 0 for difference in differences)
          verdict = a if favour_a == len(seeds) else b if favour_b == len(seeds) else None
          p_t = paired_t_test(values_a, values_b)
          rows.append({
              'a': group_label(a, point), 'b': group_label(b, point), 'part': part, 'score': score.name,
              'seeds': seeds, 'differences': differences, 'mean': float(np.mean(differences)),
              'sd': float(np.std(differences, ddof=1)) if len(seeds) > 1 else None,
              'favour_a': int(favour_a), 'favour_b': int(favour_b), 'verdict': verdict,
              'p_sign_test': sign_test(int(favour_a), int(favour_b)), 'p_t_test': p_t,
              'established': verdict is not None and p_t is not None and p_t < SIGNIFICANCE})
  return rows


def paired_tables(rows: list[dict]) -> str:
  """Markdown: the rule (ESTABLISHED), then one table per pair, a row per part and score."""
  by_score = {score.name: score for score in SCORES}
  sections = []
  for pair in dict.fromkeys((row['a'], row['b']) for row in rows):
    lines = [f'### {pair[0]} - {pair[1]}, per seed', '',
             '| Part | Score | ' + ' | '.join(f'seed {seed}' for seed in rows[0]['seeds'])
             + ' | mean ± SD | seeds favouring ' + pair[0] + ' | winner | p (sign test) | p (t-test) | verdict |',
             '|---|---|' + '---:|' * (len(rows[0]['seeds']) + 2) + '---|---:|---:|---|']
    for row in rows:
      if (row['a'], row['b']) != pair:
        continue
      score = by_score[row['score']]
      spread = '' if row['sd'] is None else f' ± {format_value(score, row["sd"])}'
      lines.append(f'| {row["part"]} | {score.heading} {ARROWS[score.better]} | '
                   + ' | '.join(format_value(score, d) for d in row['differences'])
                   + f' | {format_value(score, row["mean"])}{spread} | {row["favour_a"]} of '
                   f'{len(row["seeds"])} | {row["verdict"] or "none"} | {_p_value(row["p_sign_test"])} | '
                   f'{_p_value(row["p_t_test"])} | {"established" if row["established"] else "not established"} |')
    sections.append('\n'.join(lines))
  note = ('A - B per seed (for lower-is-better scores a negative difference favours A); the winner '
          'is the model every seed favours, else "none"; p-values are two-sided.')
  return ESTABLISHED + '\n\n' + '\n\n'.join(sections) + '\n\n' + note + '\n'


PLATEAU = ("A model's sample FID has reached a plateau when its mean over seeds moves by less than "
           "5% over the last doubling of the budget (between the last two points scored).")
PLATEAU_CHANGE = 0.05
ORDERING = ("A pair's ordering holds over the budget when its mean difference has the same sign at "
            "every point and is established at the last; it turns when established differences of "
            "opposite signs occur at two points; otherwise it is not established.")


def sample_fid_curves(members: list[Member], by_step: dict[int, dict[str, dict]]) -> dict[str, list[list[float]]]:
  """{model: its seeds' sample FIDs at each step of `by_step` ({step: records})}."""
  return {label: [[records[member.name]['parts']['samples']['fid'] for member in by_seed.values()]
                  for records in by_step.values()] for label, by_seed in _groups(members).items()}


def ordering(rows: list[dict]) -> str:
  """The ORDERING verdict of one pair and score from its paired rows, one per step in order."""
  established = {np.sign(row['mean']) for row in rows if row['established']}
  if len(established) > 1:
    return 'turns'
  if len({np.sign(row['mean']) for row in rows}) == 1 and rows[-1]['established']:
    return f'holds: {rows[-1]["verdict"]}'
  return 'not established'


def curve_tables(members: list[Member], by_step: dict[int, dict[str, dict]],
                 differences: dict[int, list[dict]]) -> str:
  """Markdown: each model's sample FID at every step with the PLATEAU reading, then each pair's
  sample scores at every step (mean difference, t-test p) with the ORDERING reading."""
  steps, by_score = list(by_step), {score.name: score for score in SCORES}
  lines = ['### Sample FID over the budget: mean ± SD over seeds', '', PLATEAU, '',
           '| Model | ' + ' | '.join(f'step {step:,}' for step in steps) + ' | change over the last doubling | plateau |',
           '|---|' + '---:|' * (len(steps) + 1) + '---|']
  for label, values in sample_fid_curves(members, by_step).items():
    change = np.mean(values[-1]) / np.mean(values[-2]) - 1
    lines.append(f'| {label} | ' + ' | '.join(_mean_sd(at_step, by_score['fid']) for at_step in values)
                 + f' | {change:+.1%} | {"yes" if abs(change) < PLATEAU_CHANGE else "no"} |')
  keys = dict.fromkeys((row['a'], row['b'], row['score']) for row in differences.get(steps[-1], [])
                       if row['part'] == 'samples')
  if not keys:
    return '\n'.join(lines) + '\n'
  lines += ['', '### Paired sample scores over the budget', '', ORDERING, '',
            '| Pair | Score | ' + ' | '.join(f'step {step:,}' for step in steps) + ' | ordering |',
            '|---|---|' + '---:|' * len(steps) + '---|']
  for a, b, name in keys:
    rows = [next(row for row in differences[step] if (row['a'], row['b'], row['part'], row['score'])
                 == (a, b, 'samples', name)) for step in steps]
    cells = [f'{format_value(by_score[name], row["mean"])} (p {_p_value(row["p_t_test"])}'
             f'{", established" if row["established"] else ""})' for row in rows]
    lines.append(f'| {a} - {b} | {by_score[name].heading} | ' + ' | '.join(cells) + f' | {ordering(rows)} |')
  return '\n'.join(lines) + '\n'


def _p_value(p: float | None) -> str:
  return '-' if p is None else f'{p:.3g}'
