"""Markdown tables in the form of the thesis's Tables 4.3-4.5 (`--mode=compare`): a column per
score, a row per run plus the real-data row, and the protocol under each table."""

import os

from wae_jax.errors import WorkdirError
from wae_jax.evaluation import figure
from wae_jax.evaluation.results import IMAGE_PARTS, read_metrics
from wae_jax.evaluation.scores import SCORES

TABLES = (
    ('interpolations', 'Table 4.3: Sharpness (larger is better) of interpolated images'),
    ('samples', 'Table 4.4: FID (smaller is better) and sharpness (larger is better) of random samples'),
    ('reconstructions', 'Table 4.5: FID (smaller is better) and sharpness (larger is better) of '
                        'reconstructed test images'),
)


ARROWS = {'lower': '↓', 'higher': '↑'}


def format_value(score, value: float) -> str:
  return f'{value * score.scale:.{score.digits}f}'


def _cell(score, result: dict) -> str:
  if score.name not in result:
    return '-'
  value = format_value(score, result[score.name])
  spread = result.get(f'{score.name}_std')
  return value if spread is None else f'{value} ± {format_value(score, spread)}'


def _count(result: dict) -> str:
  """N through the Inception network, and all images where the pixel scores saw more."""
  images = result.get('images', result['count'])
  return f'{result["count"]:,}' if images == result['count'] else f'{result["count"]:,} of {images:,}'


def _row(label: str, result: dict, run: str, scores) -> str:
  cells = [_cell(score, result) for score in scores]
  return f'| {label} | {" | ".join(cells)} | {_count(result)} | {run} |'


def _header(scores) -> list[str]:
  headings = [f'{score.heading} {ARROWS[score.better]}' for score in scores]
  return [f'| Model | {" | ".join(headings)} | N images | Run |',
          '|---|' + '---:|' * (len(scores) + 1) + '---|']


def tabled_parts(records: dict[str, dict]) -> list[tuple[str, str]]:
  """The (part, title) of TABLES that every record has (a study may score some parts only)."""
  return [(part, title) for part, title in TABLES
          if all(part in record['parts'] for record in records.values())]


def part_scores(part: str, records: dict[str, dict]) -> list:
  """The scores of SCORES that some run reports for `part` (paired scores: reconstructions)."""
  return [score for score in SCORES
          if any(score.name in record['parts'][part] for record in records.values())]


def _part_protocol(part: str, settings: dict) -> str:
  if part == 'samples':
    sampler = settings.get('sampler', 'prior')  # metrics written before samplers existed: the prior
    codes = 'z ~ N(0, sigma_z^2 I) of each model' if sampler == 'prior' else f'codes of the {sampler}'
    return f'{settings["num_images"]:,} random samples, {codes} (seed {settings["seed"]})'
  if part == 'reconstructions':
    return (f'reconstructions of the first {settings["num_images"]:,} images of the split, scored '
            'against the reference statistics of those very images (perfect reconstructions '
            'would score FID 0, so the real-data row, other images, is not this table\'s floor); '
            'MSE and PSNR against each original')
  return (f'{settings["pairs"]:,} pairs of consecutive images of the split, {settings["steps"]} images '
          f'decoded per pair at evenly spaced t in [0, 1]; the {settings["steps"] - 2} strictly between '
          'the two end reconstructions are scored')


def _protocol_note(part: str, records: dict[str, dict], real: dict) -> list[str]:
  """What the table's numbers mean, from the first run; runs that differ from it are named."""
  first = next(iter(records.values()))
  protocol, images = first['protocol'], first['protocol']['data']
  real_settings = real['parts']['real']['settings']
  lines = [
      f'Protocol: reference = {images["dataset"]} {images["split"]} split ({images["num_images"]:,} '
      f'images), {images["resolution"]}x{images["resolution"]} (crop {images["crop"]}, {images["resize"]} '
      f'resize); {_part_protocol(part, first["parts"][part]["settings"])}; images {protocol["quantisation"]}. '
      f'Real data: the first {real_settings["num_images"]:,} images of the {real_settings["split"]} split, '
      'which are not in the reference set. "N images": through the Inception network (FID, KID, '
      'precision / recall), and "of M" where sharpness, MSE and PSNR saw all M. BatchNorm '
      f'statistics: {first["parts"][part]["settings"].get("batch_stats", "running averages of training")}.',
      f'Scores ({protocol["fid_network"]} for the feature scores): ' +
      '; '.join(f'{score.heading}: {score.definition}' for score in SCORES) + '.',
  ]
  def comparable(settings: dict) -> dict:  # each run samples with its own seed: that is fine
    return {key: value for key, value in settings.items() if key != 'seed'}
  differing = [workdir for workdir, record in records.items()
               if record['protocol'] != protocol or comparable(record['parts'][part]['settings']) !=
               comparable(first['parts'][part]['settings'])]
  if differing:
    lines.append(f'**Not comparable:** {", ".join(differing)} used another protocol or other settings '
                 'than the first run (see their metrics.json).')
  return lines


def run_label(workdir: str, record: dict) -> str:
  return f'{os.path.basename(os.path.normpath(workdir))} @ step {record["step"]:,}'


def compare_tables(records: dict[str, dict], real: dict | None = None,
                   labels: dict[str, str] | None = None) -> str:
  """Tables 4.3-4.5 of {workdir: metrics.json}: a row per run (`labels`, default 'model
  (objective)') and the real-data row of `real` (default: the first run's)."""
  real = real or next(iter(records.values()))
  labels = labels or {workdir: f'{record["model"]} ({record["objective"]})'
                      for workdir, record in records.items()}
  sections = []
  for part, title in tabled_parts(records):
    scores = part_scores(part, records)
    lines = [f'## {title}', ''] + _header(scores)
    for workdir, record in records.items():
      lines.append(_row(labels[workdir], record['parts'][part], run_label(workdir, record), scores))
    lines.append(_row('real data', real['parts']['real'], 'reference', scores))
    sections.append('\n'.join(lines + [''] + _protocol_note(part, records, real)))
  return '\n\n'.join(sections) + '\n'


def compare(workdirs: list[str], output_path: str) -> list[str]:
  """Writes the runs' tables to output_path and their figure beside it (.png, where the
  checkpoints are still there); returns the paths written."""
  records = {workdir: read_metrics(workdir, IMAGE_PARTS) for workdir in workdirs}
  real = next((record for record in records.values() if 'real' in record['parts']), None)
  if real is None:
    read_metrics(workdirs[0], ('real',))  # raises, naming the missing part
  tables = compare_tables(records, real)
  directory = os.path.dirname(os.path.abspath(output_path))
  os.makedirs(directory, exist_ok=True)
  with open(output_path, 'w') as file:
    file.write(tables)
  figure_path = os.path.splitext(output_path)[0] + '.png'
  labels = {workdir: f'{run_label(workdir, record)}: {record["model"]} / {record["objective"]}'
            for workdir, record in records.items()}
  try:
    figure.save_comparison_figure(figure_path, labels,
                                  {workdir: record['step'] for workdir, record in records.items()})
  except WorkdirError as error:
    print(f'no figure: {error}')
    return [output_path]
  return [output_path, figure_path]
