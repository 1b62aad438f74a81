"""Evaluation of a trained model (thesis §4.4): FID and sharpness of random samples, of test-split
reconstructions, of latent interpolations and of the real test images; figures; comparison tables.

    python launch.py --config=configs/wae_resnet.py --mode=stats            # reference statistics
    python launch.py --config=configs/wae_resnet.py --workdir=DIR --mode=eval
    python launch.py --mode=compare --compare=DIR1,DIR2 --output=tables.md

Protocol (also written into metrics.json and under every table):
- Every image scored is uint8: generated images are quantised with round(255 x), as saving a PNG
  does; real images come from the data pipeline at the model's resolution (already on that grid).
- FID: features of wae_jax.fid (the TF 2015-12-05 Inception-v3) against reference statistics of
  config.eval.split at config.model.image_size, made by `--mode=stats` under the same data protocol.
- Sharpness: both scores of wae_jax.metrics (the thesis's gradient score and the WAE paper's
  Laplacian variance).
- Interpolations: consecutive test images (0, 1), (2, 3), ... are encoded; their codes are
  decoded at `interpolation_steps` evenly spaced points t = 0 ... 1; the two ends are
  reconstructions (scored in the reconstruction part), so only the steps - 2 images strictly
  between them are scored, like the thesis's "interpolated images" (Table 4.3).
- Real images: the same test images that are reconstructed, scored as they are (their FID is
  ~0 when they are the whole split the reference statistics were made from).
Everything streams batch by batch: memory is flat in the number of images.
"""

import itertools
import json
import os
from collections.abc import Callable, Iterator

import ml_collections
import numpy as np
import tqdm

from wae_jax import api, data, fid, figures, metrics
from wae_jax.errors import UserError

FID_NETWORK = 'Inception-v3, TF graph 2015-12-05, pool3 (2048-d) features (wae_jax.fid)'
QUANTISATION = 'uint8, round(255 x) for generated images'
PARTS = ('samples', 'reconstructions', 'interpolations', 'real')
METRICS_FILE = 'metrics.json'
EVAL_DIR = 'eval'
# Figures: how many images of each part they show.
SAMPLE_GRID_IMAGES, GRID_COLS = 64, 8
PAIR_IMAGES = 32
INTERPOLATION_ROWS = 8
STATS_COMMAND = 'python launch.py --config=<your config> --mode=stats'


class EvaluationError(UserError):
  """Missing or mismatched reference statistics, or missing evaluation results; one line, no traceback."""


def default_reference_stats_path(config: ml_collections.ConfigDict) -> str:
  """<data dir>/fid_stats_<split>_<size>.npz: the folder of the images (of the zip where
  config.data.path is one), $CELEBA_DIR or data/celeba for CelebA, the TFDS data dir for
  'tfds', data/<source> for sources without a path."""
  source = config.data.source
  if source == 'tfds':
    folder = config.data.tfds_data_dir or os.path.join('data', 'tfds')
  elif config.data.path:
    folder = config.data.path
  elif source == 'celeba':
    folder = os.environ.get('CELEBA_DIR') or os.path.join('data', 'celeba')
  else:
    folder = os.path.join('data', source)
  if os.path.isfile(folder):
    folder = os.path.dirname(os.path.abspath(folder))
  return os.path.join(folder, f'fid_stats_{config.eval.split}_{config.model.image_size}.npz')


def reference_stats_path(config: ml_collections.ConfigDict) -> str:
  return config.eval.reference_stats or default_reference_stats_path(config)


def data_protocol(config: ml_collections.ConfigDict) -> dict:
  """The data protocol of the evaluation split at the model's resolution (FID-statistics metadata)."""
  return data.protocol(config.data, config.eval.split, config.model.image_size)


def load_reference_stats(config: ml_collections.ConfigDict) -> tuple[np.ndarray, np.ndarray]:
  """(mean, covariance) of the config's reference statistics, refused if made under another protocol."""
  path = reference_stats_path(config)
  if not os.path.isfile(path):
    raise EvaluationError(f'{path}: no FID reference statistics; make them with `{STATS_COMMAND}` '
                          '(the same data settings as this run)')
  try:
    mean, covariance, _, _ = fid.load_statistics(path, expected_protocol=data_protocol(config))
  except fid.FIDError as error:
    raise EvaluationError(f'{error} Remake them with `{STATS_COMMAND}`') from None
  return mean, covariance


def make_feature_extractor(config: ml_collections.ConfigDict) -> fid.FeatureExtractor:
  return fid.FeatureExtractor(weights_path=config.eval.fid_weights or None,
                              batch_size=config.eval.batch_size)


class ImageScores:
  """FID statistics and both sharpness scores of a stream of uint8 image batches."""

  def __init__(self, feature_extractor: Callable[[np.ndarray], np.ndarray]):
    self._feature_extractor = feature_extractor
    self._features = fid.RunningStatistics()
    self._sharpness = metrics.SharpnessAccumulator()

  def update(self, images: np.ndarray) -> None:
    self._features.update(self._feature_extractor(images))
    self._sharpness.update(images)

  def result(self, reference: tuple[np.ndarray, np.ndarray]) -> dict[str, float]:
    """{'count', 'fid', 'sharpness', 'laplacian_sharpness'} of every image seen."""
    mean, covariance = self._features.mean_and_covariance()
    return {'count': self._sharpness.count, 'fid': fid.frechet_distance(mean, covariance, *reference),
            **self._sharpness.result()}


class FirstImages:
  """Copies of the first `limit` images of a stream, for a figure; memory bounded by `limit`."""

  def __init__(self, limit: int):
    self.limit = limit
    self._parts = []
    self._count = 0

  @property
  def missing(self) -> int:
    return self.limit - self._count

  def add(self, images: np.ndarray) -> None:
    taken = images[:self.missing]
    if len(taken):
      self._parts.append(taken.copy())
      self._count += len(taken)

  def get(self) -> np.ndarray:
    return np.concatenate(self._parts)


def batch_seed(seed: int, index: int) -> int:
  """The prior-sampling seed of batch `index`: distinct per batch, reproducible from `seed`."""
  return int(np.random.SeedSequence([seed, index]).generate_state(1)[0])


def interpolation_codes(z: np.ndarray, steps: int) -> np.ndarray:
  """Codes [2P, d] of pairs (0, 1), (2, 3), ... -> [P, steps, d] evenly spaced from each first
  code to its second (t = 0 ... 1), like `Model.interpolate` for every pair at once."""
  t = np.linspace(0.0, 1.0, steps, dtype=np.float32)[None, :, None]
  return (1.0 - t) * z[0::2, None] + t * z[1::2, None]


def _progress(total: int, part: str) -> tqdm.tqdm:
  return tqdm.tqdm(total=total, desc=f'eval {part}', unit='img', dynamic_ncols=True, leave=False)


class Evaluator:
  """FID and sharpness of a model's samples, reconstructions and interpolations, and of real images.

  Loads the reference statistics and the FID network once; `run` evaluates a model, and
  `fid_of_samples` is the cheap check the training loop calls every `config.train.fid_every` steps.
  Tests inject `feature_extractor` (images -> features) and `reference_stats` ((mean, covariance)).
  """

  def __init__(self, config: ml_collections.ConfigDict,
               feature_extractor: Callable[[np.ndarray], np.ndarray] | None = None,
               reference_stats: tuple[np.ndarray, np.ndarray] | None = None):
    self.config = config
    self.reference = reference_stats if reference_stats is not None else load_reference_stats(config)
    self.feature_extractor = feature_extractor or make_feature_extractor(config)

  def _scores(self) -> ImageScores:
    return ImageScores(self.feature_extractor)

  def _sample_batches(self, model, n: int) -> Iterator[np.ndarray]:
    size = self.config.eval.batch_size
    for index, start in enumerate(range(0, n, size)):
      yield figures.to_uint8(model.sample(min(size, n - start), seed=batch_seed(self.config.seed, index)))

  def fid_of_samples(self, model, n: int) -> float:
    """FID of n random samples (the seeds of `run`, so the same codes at every call)."""
    scores = self._scores()
    for images in self._sample_batches(model, n):
      scores.update(images)
    return scores.result(self.reference)['fid']

  def settings(self) -> dict[str, dict]:
    """What each part's result depends on besides the checkpoint and the data protocol."""
    config = self.config.eval
    split_size = data.num_images(self.config.data, config.split)
    test_images = split_size if config.num_reconstructions < 0 else min(config.num_reconstructions,
                                                                        split_size)
    if config.interpolation_steps < 3:
      raise EvaluationError(f'config.eval.interpolation_steps = {config.interpolation_steps}: need >= 3 '
                            '(the two ends are reconstructions; the images between them are scored)')
    pairs = min(config.num_interpolations, split_size // 2)
    if min(config.num_samples, test_images, pairs * (config.interpolation_steps - 2)) < 2:
      raise EvaluationError(f'FID needs at least 2 images per part: config.eval.num_samples = '
                            f'{config.num_samples}, {test_images} test images, {pairs} interpolation pairs')
    return {
        'samples': {'num_images': config.num_samples, 'seed': self.config.seed},
        'reconstructions': {'num_images': test_images},
        'interpolations': {'pairs': pairs, 'steps': config.interpolation_steps},
        'real': {'num_images': test_images},
    }

  def run(self, model, workdir: str | None = None) -> Iterator[tuple[str, float]]:
    """Evaluates `model`, yielding ('<part>/<score>', value) as each part finishes.

    With `workdir`, writes <workdir>/eval/metrics.json after every part and the figures
    samples.png, reconstructions.png and interpolations.png; parts already in metrics.json for
    the same checkpoint step, protocol and settings are not recomputed (evaluation resumes).
    """
    directory = os.path.join(workdir, EVAL_DIR) if workdir else None
    settings = self.settings()
    record = {
        'step': int(model.step), 'model': model.config.model.name,
        'objective': model.config.objective.name, 'sigma_z': model.config.objective.sigma_z,
        'protocol': {'data': data_protocol(self.config), 'fid_network': FID_NETWORK,
                     'quantisation': QUANTISATION, 'sharpness': metrics.SHARPNESS_DEFINITION,
                     'laplacian_sharpness': metrics.LAPLACIAN_DEFINITION},
        'parts': {},
    }
    done = _reusable_parts(directory, record, settings)
    todo = [part for part in PARTS if part not in done]
    for part, result in itertools.chain(done.items(), self._compute(model, settings, todo, directory)):
      record['parts'][part] = {**result, 'settings': settings[part]}
      if directory:
        _write_json(os.path.join(directory, METRICS_FILE), record)
      for name, value in result.items():
        if name != 'settings':
          yield f'{part}/{name}', value

  def _compute(self, model, settings: dict, todo: list[str],
               directory: str | None) -> Iterator[tuple[str, dict]]:
    """(part, result) of each part in `todo`, as each finishes."""
    if 'samples' in todo:
      yield 'samples', self._evaluate_samples(model, settings['samples'], directory)
    test_parts = [part for part in ('reconstructions', 'real') if part in todo]
    if test_parts:
      yield from self._evaluate_test_images(model, settings['real']['num_images'], test_parts,
                                            directory).items()
    if 'interpolations' in todo:
      yield 'interpolations', self._evaluate_interpolations(model, settings['interpolations'],
                                                            directory)

  def _evaluate_samples(self, model, settings: dict, directory: str | None) -> dict:
    n = settings['num_images']
    scores = self._scores()
    shown = FirstImages(SAMPLE_GRID_IMAGES)
    with _progress(n, 'samples') as progress:
      for images in self._sample_batches(model, n):
        shown.add(images)
        scores.update(images)
        progress.update(len(images))
    if directory:
      figures.save_grid(os.path.join(directory, 'samples.png'), shown.get(), GRID_COLS)
    return scores.result(self.reference)

  def _evaluate_test_images(self, model, n: int, parts: list[str], directory: str | None) -> dict:
    """One pass over the first n test images: their reconstructions and/or the images themselves."""
    config = self.config
    scores = {part: self._scores() for part in parts}
    batches = data.eval_batches(config.data, config.eval.split, config.model.image_size,
                                config.eval.batch_size, max_images=n)
    shown_originals, shown_reconstructions = FirstImages(PAIR_IMAGES), FirstImages(PAIR_IMAGES)
    with _progress(n, 'test images') as progress:
      for batch in batches:
        originals = figures.to_uint8(batch)
        if 'real' in scores:
          scores['real'].update(originals)
        if 'reconstructions' in scores:
          reconstructions = figures.to_uint8(model.reconstruct(batch))
          scores['reconstructions'].update(reconstructions)
          shown_originals.add(originals)
          shown_reconstructions.add(reconstructions)
        progress.update(len(batch))
    if 'reconstructions' in scores and directory:
      figures.save_pairs(os.path.join(directory, 'reconstructions.png'), shown_originals.get(),
                         shown_reconstructions.get(), GRID_COLS)
    return {part: part_scores.result(self.reference) for part, part_scores in scores.items()}

  def _evaluate_interpolations(self, model, settings: dict, directory: str | None) -> dict:
    """Pairs of consecutive test images, `steps` decodes each, the steps - 2 between the ends scored.
    A data batch holds as many pairs as make about one evaluation batch of decoded images."""
    config = self.config
    pairs, steps = settings['pairs'], settings['steps']
    pairs_per_batch = max(1, config.eval.batch_size // steps)
    scores = self._scores()
    batches = data.eval_batches(config.data, config.eval.split, config.model.image_size,
                                2 * pairs_per_batch, max_images=2 * pairs)
    shown = FirstImages(INTERPOLATION_ROWS)
    with _progress(pairs * (steps - 2), 'interpolations') as progress:
      for batch in batches:
        originals = figures.to_uint8(batch[:len(batch) - len(batch) % 2])
        codes = interpolation_codes(model.encode(batch[:len(originals)]), steps)
        decoded = model.decode(codes.reshape(-1, codes.shape[-1]))
        rows = figures.to_uint8(decoded).reshape(codes.shape[:2] + originals.shape[1:])
        scores.update(rows[:, 1:-1].reshape((-1,) + originals.shape[1:]))
        if shown.missing:  # figure rows: original a, the decodes from a to b, original b
          shown.add(np.concatenate([originals[0::2, None], rows, originals[1::2, None]], axis=1))
        progress.update(len(rows) * (steps - 2))
    if directory:
      figures.save_interpolations(os.path.join(directory, 'interpolations.png'), shown.get())
    return scores.result(self.reference)


def _reusable_parts(directory: str | None, record: dict, settings: dict) -> dict:
  """Parts of an earlier metrics.json that hold for this step, protocol and settings."""
  path = os.path.join(directory, METRICS_FILE) if directory else None
  if not path or not os.path.isfile(path):
    return {}
  try:
    with open(path) as file:
      earlier = json.load(file)
  except (OSError, json.JSONDecodeError):
    return {}
  same_run = all(earlier.get(key) == record[key] for key in ('step', 'model', 'objective'))
  if not same_run or earlier.get('protocol') != json.loads(json.dumps(record['protocol'])):
    return {}
  return {part: result for part, result in earlier.get('parts', {}).items()
          if part in settings and result.get('settings') == settings[part]}


def _write_json(path: str, content: dict) -> None:
  """Writes JSON atomically (a crash never leaves half a file)."""
  os.makedirs(os.path.dirname(path), exist_ok=True)
  temporary = f'{path}.tmp'
  with open(temporary, 'w') as file:
    json.dump(content, file, indent=2)
  os.replace(temporary, path)


def evaluate(config: ml_collections.ConfigDict | None, workdir: str) -> dict:
  """Evaluates the latest checkpoint in `workdir` (config: the eval/data settings; None: the
  checkpoint's own); returns what it writes to <workdir>/eval/metrics.json."""
  model = api.load(workdir)
  config = config or model.config
  if config.model.image_size != model.config.model.image_size:
    raise EvaluationError(f'{workdir}: the checkpoint makes {model.config.model.image_size}px images but '
                          f'the config says {config.model.image_size}; evaluate with its own config')
  evaluator = Evaluator(config)
  for name, value in evaluator.run(model, workdir):
    tqdm.tqdm.write(f'{name} = {value:.6g}')
  with open(os.path.join(workdir, EVAL_DIR, METRICS_FILE)) as file:
    return json.load(file)


def compute_reference_stats(config: ml_collections.ConfigDict, output_path: str | None = None,
                            feature_extractor: Callable[[np.ndarray], np.ndarray] | None = None) -> str:
  """Streams config.eval.split at config.model.image_size through the FID network and saves the
  feature statistics with the data protocol; returns the path (default: `reference_stats_path`)."""
  path = output_path or reference_stats_path(config)
  protocol = data_protocol(config)
  extractor = feature_extractor or make_feature_extractor(config)
  statistics = fid.RunningStatistics()
  batches = data.eval_batches(config.data, config.eval.split, config.model.image_size,
                              config.eval.batch_size)
  with _progress(protocol['num_images'], f'FID statistics of {config.eval.split}') as progress:
    for batch in batches:
      statistics.update(extractor(figures.to_uint8(batch)))
      progress.update(len(batch))
  mean, covariance = statistics.mean_and_covariance()
  fid.save_statistics(path, mean, covariance, statistics.count, protocol)
  return path


# compare: one table per part, in the form of the thesis's Tables 4.3, 4.4 and 4.5.
TABLES = (
    ('interpolations', 'Table 4.3: Sharpness (larger is better) of interpolated images'),
    ('samples', 'Table 4.4: FID (smaller is better) and sharpness (larger is better) of random samples'),
    ('reconstructions', 'Table 4.5: FID (smaller is better) and sharpness (larger is better) of '
                        'reconstructed test images'),
)


def read_metrics(workdir: str) -> dict:
  path = os.path.join(workdir, EVAL_DIR, METRICS_FILE)
  try:
    with open(path) as file:
      record = json.load(file)
  except FileNotFoundError:
    raise EvaluationError(f'{path} not found: evaluate first with '
                          f'`python launch.py --workdir={workdir} --mode=eval`') from None
  except (OSError, json.JSONDecodeError) as error:
    raise EvaluationError(f'{path}: unreadable ({error}); re-run --mode=eval') from None
  missing = [part for part in PARTS if part not in record.get('parts', {})]
  if missing:
    raise EvaluationError(f'{path}: no results for {", ".join(missing)} (evaluation interrupted?); '
                          f'resume it with `python launch.py --workdir={workdir} --mode=eval`')
  return record


def _row(label: str, result: dict, run: str) -> str:
  return (f'| {label} | {result["fid"]:.3f} | {result["sharpness"]:.3f} | '
          f'{result["laplacian_sharpness"]:.4g} | {result["count"]:,} | {run} |')


def _part_protocol(part: str, settings: dict) -> str:
  if part == 'samples':
    return (f'{settings["num_images"]:,} random samples, z ~ N(0, sigma_z^2 I) of each model '
            f'(seed {settings["seed"]})')
  if part == 'reconstructions':
    return f'reconstructions of the first {settings["num_images"]:,} images of the split'
  return (f'{settings["pairs"]:,} pairs of consecutive images of the split, {settings["steps"]} images '
          f'decoded per pair at evenly spaced t in [0, 1]; the {settings["steps"] - 2} strictly between '
          'the two end reconstructions are scored')


def _protocol_note(part: str, records: dict[str, dict]) -> list[str]:
  """What the table's numbers mean, from the first run; runs that differ from it are named."""
  first = next(iter(records.values()))
  protocol, images = first['protocol'], first['protocol']['data']
  lines = [
      f'Protocol: {images["dataset"]} {images["split"]} split ({images["num_images"]:,} images), '
      f'{images["resolution"]}x{images["resolution"]} (crop {images["crop"]}, {images["resize"]} resize); '
      f'{_part_protocol(part, first["parts"][part]["settings"])}; images {protocol["quantisation"]}.',
      f'FID: {protocol["fid_network"]}, against the reference statistics of the whole split. '
      f'Sharpness: {protocol["sharpness"]}. Laplacian sharpness: {protocol["laplacian_sharpness"]}. '
      'Real test images: the reconstructed images themselves.',
  ]
  differing = [workdir for workdir, record in records.items()
               if record['protocol'] != protocol or record['parts'][part]['settings'] !=
               first['parts'][part]['settings']]
  if differing:
    lines.append(f'**Not comparable:** {", ".join(differing)} used another protocol or other settings '
                 'than the first run (see their metrics.json).')
  return lines


def compare_tables(records: dict[str, dict]) -> str:
  """Markdown tables 4.3-4.5 of {workdir: metrics.json content}, one row per run plus real images."""
  real = next(iter(records.values()))['parts']['real']
  sections = []
  for part, title in TABLES:
    lines = [f'## {title}', '', '| Model | FID | Sharpness | Laplacian sharpness | N images | Run |',
             '|---|---:|---:|---:|---:|---|']
    for workdir, record in records.items():
      label = f'{record["model"]} ({record["objective"]})'
      run = f'{os.path.basename(os.path.normpath(workdir))} @ step {record["step"]:,}'
      lines.append(_row(label, record['parts'][part], run))
    lines.append(_row('real test images', real, 'reference'))
    sections.append('\n'.join(lines + [''] + _protocol_note(part, records)))
  return '\n\n'.join(sections) + '\n'


def compare(workdirs: list[str], output_path: str) -> str:
  """Writes the Markdown tables of the runs' eval/metrics.json to output_path; returns the path."""
  tables = compare_tables({workdir: read_metrics(workdir) for workdir in workdirs})
  directory = os.path.dirname(os.path.abspath(output_path))
  os.makedirs(directory, exist_ok=True)
  with open(output_path, 'w') as file:
    file.write(tables)
  return output_path
