"""The evaluator (thesis §4.4): every score of `scores.SCORES` for a model's random samples,
test-split reconstructions and latent interpolations, and for real images that are not in the
reference set (the floor a model is judged against).

Protocol (also written into metrics.json and under every table):
- Every image scored is uint8: generated images are quantised with round(255 x), as saving a PNG
  does; real images come from the data pipeline at the model's resolution (already on that grid).
- The reference: features of config.eval.split at config.model.image_size, made by
  `--mode=stats` under the same data protocol (`reference.py`).
- Interpolations: consecutive test images (0, 1), (2, 3), ... are encoded; their codes are
  decoded at `interpolation_steps` evenly spaced points t = 0 ... 1; the two ends are
  reconstructions (scored in the reconstruction part), so only the steps - 2 images strictly
  between them are scored, like the thesis's "interpolated images" (Table 4.3).
- Real images: as many images of config.eval.real_split (default train) as are reconstructed,
  in file order: real data scored like a model's images.
- config.eval.feature_images caps the images per part that go through the Inception network
  (the first ones); sharpness and the paired scores of reconstructions (MSE, PSNR against the
  originals) use every image.
- config.eval.recompute_batch_stats > 0 re-estimates the model's BatchNorm statistics with its
  final weights over that many batches of the first train images before scoring
  (`Model.with_recomputed_batch_stats`); 0 scores with the running averages of training.
Images stream batch by batch; only their features are kept (KID and precision / recall need them).
With several processes each scores a contiguous share of every part's images (process 0 the
first ones, which the figures show), the features are gathered in image order, and process 0
writes metrics.json and the figures: the scores equal one process's.
"""

import itertools
import json
import os
from collections.abc import Callable, Iterator

import jax
import ml_collections
import numpy as np
import tqdm

from wae_jax import api, data, figures, multiprocess, samplers
from wae_jax.evaluation import reference as reference_stats
from wae_jax.evaluation.reference import EvaluationError, data_protocol, progress_bar
from wae_jax.evaluation.scores import FID_NETWORK, ImageScores, Reference, SCORES

QUANTISATION = 'uint8, round(255 x) for generated images'
PARTS = ('samples', 'reconstructions', 'interpolations', 'real')
MODEL_PARTS = PARTS[:3]
METRICS_FILE = 'metrics.json'
EVAL_DIR = 'eval'
# Figures: how many images of each part they show.
PAIR_IMAGES = 32
INTERPOLATION_ROWS = 8


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


class ImageFile:
  """The scored images of one part as a uint8 .npy [N, H, W, 3], written as they stream
  (`config.eval.save_images`), so they can be rescored with another FID implementation."""

  def __init__(self, path: str | None, count: int, image_size: int):
    self._array = None if path is None else np.lib.format.open_memmap(
        path, mode='w+', dtype=np.uint8, shape=(count, image_size, image_size, 3))
    self._position = 0

  def add(self, images: np.ndarray) -> None:
    if self._array is not None:
      self._array[self._position:self._position + len(images)] = images
      self._position += len(images)

  def close(self) -> None:
    if self._array is not None:
      self._array.flush()
      self._array = None


def batch_seed(seed: int, index: int) -> int:
  """The prior-sampling seed of batch `index`: distinct per batch, reproducible from `seed`."""
  return int(np.random.SeedSequence([seed, index]).generate_state(1)[0])


def interpolation_codes(z: np.ndarray, steps: int) -> np.ndarray:
  """Codes [2P, d] of pairs (0, 1), (2, 3), ... -> [P, steps, d] evenly spaced from each first
  code to its second (t = 0 ... 1), like `Model.interpolate` for every pair at once."""
  t = np.linspace(0.0, 1.0, steps, dtype=np.float32)[None, :, None]
  return (1.0 - t) * z[0::2, None] + t * z[1::2, None]


class Evaluator:
  """Scores of a model's samples, reconstructions and interpolations, and of real images.

  Loads the reference and the FID network once; `run` evaluates a model, and `fid_of_samples`
  is the cheap check the training loop calls every `config.train.fid_every` steps. Tests inject
  `feature_extractor` (uint8 images -> features) and `reference`.
  """

  def __init__(self, config: ml_collections.ConfigDict,
               feature_extractor: Callable[[np.ndarray], np.ndarray] | None = None,
               reference: Reference | None = None):
    self.config = config
    self.reference = reference if reference is not None else reference_stats.load_reference(config)
    self.feature_extractor = feature_extractor or reference_stats.make_feature_extractor(config)

  def _scores(self, first: int, paired: bool = False) -> ImageScores:
    """Scores of a part's images from image `first` on (this host's share starts there)."""
    limit = self.config.eval.feature_images
    return ImageScores(self.feature_extractor, None if limit < 0 else max(0, limit - first), paired)

  def _host_first_sample(self, n: int) -> int:
    return multiprocess.share(-(-n // self.config.eval.batch_size)).start * self.config.eval.batch_size

  def sampler_protocol(self) -> str:
    return samplers.get(self.config.eval.sampler).describe(self.config)

  def batch_stats_protocol(self) -> str:
    batches = self.config.eval.recompute_batch_stats
    if batches <= 0:
      return 'running averages of training'
    return (f'recomputed with the final weights over {batches} batches of {self.config.train.batch_size} '
            f'{self.config.eval.batch_stats_split} images')

  def _sample_batches(self, model, n: int) -> Iterator[np.ndarray]:
    size = self.config.eval.batch_size
    for index in multiprocess.share(-(-n // size)):  # this host's batches
      start = index * size
      yield figures.to_uint8(model.sample(min(size, n - start), seed=batch_seed(self.config.seed, index),
                                          sampler=self.config.eval.sampler, config=self.config))

  def fid_of_samples(self, model, n: int) -> float:
    """FID of n random samples (the seeds of `run`, so the same codes at every call)."""
    scores = ImageScores(self.feature_extractor)
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
    if min(config.num_samples, test_images, pairs * (config.interpolation_steps - 2)) < 4:
      raise EvaluationError(f'the scores need at least 4 images per part: config.eval.num_samples = '
                            f'{config.num_samples}, {test_images} test images, {pairs} interpolation pairs')
    real_images = min(test_images, data.num_images(self.config.data, config.real_split))
    if config.save_images and jax.process_count() > 1:
      raise EvaluationError('config.eval.save_images needs one process: evaluate with '
                            '`python launch.py --mode=eval ...` alone to save the scored images')
    def common(num_images: int) -> dict:
      featured = num_images if config.feature_images < 0 else min(config.feature_images, num_images)
      return {'feature_images': featured, 'save_images': bool(config.save_images)}
    model_parts = {'batch_stats': self.batch_stats_protocol()}
    return {
        'samples': {'num_images': config.num_samples, 'seed': self.config.seed, **model_parts,
                    'sampler': self.sampler_protocol(), **common(config.num_samples)},
        'reconstructions': {'num_images': test_images, **model_parts, **common(test_images)},
        'interpolations': {'pairs': pairs, 'steps': config.interpolation_steps, **model_parts,
                           **common(pairs * (config.interpolation_steps - 2))},
        'real': {'num_images': real_images, 'split': config.real_split, **common(real_images)},
    }

  def run(self, model, workdir: str | None = None, parts: tuple[str, ...] = PARTS,
          eval_dir: str = EVAL_DIR) -> Iterator[tuple[str, float]]:
    """Evaluates `parts` of `model` (None where parts is ('real',)), yielding
    ('<part>/<score>', value) as each part finishes.

    With `workdir`, writes <workdir>/<eval_dir>/metrics.json after every part, the figures
    samples.png, reconstructions.png and interpolations.png, and with config.eval.save_images
    the scored images as <part>.npy; parts already in metrics.json for the same checkpoint
    step, protocol and settings are not recomputed (evaluation resumes).
    """
    directory = os.path.join(workdir, eval_dir) if workdir else None
    if directory:
      os.makedirs(directory, exist_ok=True)
    writes = directory if jax.process_index() == 0 else None  # one writer: process 0
    settings = self.settings()
    record = {
        'step': None if model is None else int(model.step),
        'model': 'real data' if model is None else model.config.model.name,
        'objective': None if model is None else model.config.objective.name,
        'sigma_z': None if model is None else model.config.objective.sigma_z,
        'protocol': {'data': data_protocol(self.config), 'fid_network': FID_NETWORK,
                     'quantisation': QUANTISATION,
                     'scores': {score.name: score.definition for score in SCORES}},
        'parts': {},
    }
    done = _reusable_parts(directory, record, settings)
    todo = [part for part in parts if part not in done]
    if model is not None and any(part in MODEL_PARTS for part in todo):
      model = with_configured_batch_stats(model, self.config)
    for part, result in itertools.chain(done.items(), self._compute(model, settings, todo, directory)):
      record['parts'][part] = {**result, 'settings': settings[part]}
      if writes:
        write_json(os.path.join(writes, METRICS_FILE), record)
      for name, value in result.items():
        yield f'{part}/{name}', value

  def _compute(self, model, settings: dict, todo: list[str],
               directory: str | None) -> Iterator[tuple[str, dict]]:
    """(part, result) of each part in `todo`, as each finishes."""
    evaluate = {'samples': self._evaluate_samples, 'reconstructions': self._evaluate_reconstructions,
                'interpolations': self._evaluate_interpolations, 'real': self._evaluate_real}
    if jax.process_index() != 0:
      directory = None  # figures and saved images: process 0
    for part in todo:
      yield part, evaluate[part](model, settings[part], directory)

  def _image_file(self, directory: str | None, part: str, count: int) -> ImageFile:
    path = os.path.join(directory, f'{part}.npy') if directory and self.config.eval.save_images else None
    return ImageFile(path, count, self.config.model.image_size)

  def _evaluate_samples(self, model, settings: dict, directory: str | None) -> dict:
    n = settings['num_images']
    scores, saved = self._scores(self._host_first_sample(n)), self._image_file(directory, 'samples', n)
    shown = FirstImages(figures.GRID_IMAGES)
    with progress_bar(n, 'eval samples') as progress:
      for images in self._sample_batches(model, n):
        shown.add(images)
        scores.update(images)
        saved.add(images)
        progress.update(len(images))
    saved.close()
    if directory:
      figures.save_grid(os.path.join(directory, 'samples.png'), shown.get(), figures.GRID_COLS)
    return scores.result(self.reference)

  def _split_batches(self, split: str, batch_size: int, n: int,
                     unit: int = 1) -> tuple[int, Iterator[np.ndarray]]:
    """(index of this host's first image, its batches): this host's share of the first n images
    of `split` (split in whole `unit`s, e.g. pairs)."""
    mine, batches = reference_stats.host_split_batches(self.config, split, batch_size, n, unit)
    return mine.start, batches

  def _evaluate_reconstructions(self, model, settings: dict, directory: str | None) -> dict:
    n = settings['num_images']
    first, batches = self._split_batches(self.config.eval.split, self.config.eval.batch_size, n)
    scores = self._scores(first, paired=True)
    saved = self._image_file(directory, 'reconstructions', n)
    shown_originals, shown_reconstructions = FirstImages(PAIR_IMAGES), FirstImages(PAIR_IMAGES)
    with progress_bar(n, 'eval reconstructions') as progress:
      for batch in batches:
        reconstructions = figures.to_uint8(model.reconstruct(batch))
        originals = figures.to_uint8(batch)
        scores.update(reconstructions, originals)
        saved.add(reconstructions)
        shown_originals.add(originals)
        shown_reconstructions.add(reconstructions)
        progress.update(len(batch))
    saved.close()
    if directory:
      figures.save_pairs(os.path.join(directory, 'reconstructions.png'), shown_originals.get(),
                         shown_reconstructions.get(), figures.GRID_COLS)
    return scores.result(self.reference)

  def _evaluate_real(self, model, settings: dict, directory: str | None) -> dict:
    del model  # real images need none
    n = settings['num_images']
    first, batches = self._split_batches(settings['split'], self.config.eval.batch_size, n)
    scores, saved = self._scores(first), self._image_file(directory, 'real', n)
    with progress_bar(n, f'eval real {settings["split"]} images') as progress:
      for batch in batches:
        images = figures.to_uint8(batch)
        scores.update(images)
        saved.add(images)
        progress.update(len(batch))
    saved.close()
    return scores.result(self.reference)

  def _evaluate_interpolations(self, model, settings: dict, directory: str | None) -> dict:
    """Pairs of consecutive test images, `steps` decodes each, the steps - 2 between the ends scored.
    A data batch holds as many pairs as make about one evaluation batch of decoded images."""
    pairs, steps = settings['pairs'], settings['steps']
    pairs_per_batch = max(1, self.config.eval.batch_size // steps)
    first, batches = self._split_batches(self.config.eval.split, 2 * pairs_per_batch, 2 * pairs, unit=2)
    scores = self._scores(first // 2 * (steps - 2))
    saved = self._image_file(directory, 'interpolations', pairs * (steps - 2))
    shown = FirstImages(INTERPOLATION_ROWS)
    with progress_bar(pairs * (steps - 2), 'eval interpolations') as progress:
      for batch in batches:
        originals = figures.to_uint8(batch[:len(batch) - len(batch) % 2])
        codes = interpolation_codes(model.encode(batch[:len(originals)]), steps)
        decoded = model.decode(codes.reshape(-1, codes.shape[-1]))
        rows = figures.to_uint8(decoded).reshape(codes.shape[:2] + originals.shape[1:])
        between = rows[:, 1:-1].reshape((-1,) + originals.shape[1:])
        scores.update(between)
        saved.add(between)
        if shown.missing:  # figure rows: original a, the decodes from a to b, original b
          shown.add(np.concatenate([originals[0::2, None], rows, originals[1::2, None]], axis=1))
        progress.update(len(rows) * (steps - 2))
    saved.close()
    if directory:
      figures.save_interpolations(os.path.join(directory, 'interpolations.png'), shown.get())
    return scores.result(self.reference)


def with_configured_batch_stats(model, config: ml_collections.ConfigDict):
  """`model` with the BatchNorm statistics config.eval.recompute_batch_stats asks for: re-estimated
  over that many batches of the first config.eval.batch_stats_split images, or (0) as trained."""
  batches = config.eval.recompute_batch_stats
  if batches <= 0:
    return model
  size = config.train.batch_size
  images = data.eval_batches(config.data, config.eval.batch_stats_split, config.model.image_size, size,
                             max_images=batches * size)
  # The codes depend on the statistics, so the samplers' fits are kept apart (a tag in their names).
  return model.with_recomputed_batch_stats(images, seed=config.seed, tag=f'batch_stats{batches}x{size}')


# Settings added since metrics.json files were first written, with the value they had before.
ADDED_SETTINGS = {'sampler': 'prior'}


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
  return {part: {name: value for name, value in result.items() if name != 'settings'}
          for part, result in earlier.get('parts', {}).items()
          if part in settings and _with_added(result.get('settings', {}), settings[part]) == settings[part]}


def _with_added(earlier: dict, now: dict) -> dict:
  """Earlier settings with the ADDED_SETTINGS they lack (and `now` has) at their old value."""
  return {**{name: value for name, value in ADDED_SETTINGS.items() if name in now}, **earlier}


def write_json(path: str, content: dict) -> None:
  """Writes JSON atomically (a crash never leaves half a file)."""
  os.makedirs(os.path.dirname(path), exist_ok=True)
  temporary = f'{path}.tmp'
  with open(temporary, 'w') as file:
    json.dump(content, file, indent=2)
  os.replace(temporary, path)


def read_metrics(workdir: str, parts: tuple[str, ...] = PARTS, eval_dir: str = EVAL_DIR) -> dict:
  """<workdir>/<eval_dir>/metrics.json, which must hold `parts`."""
  path = os.path.join(workdir, eval_dir, METRICS_FILE)
  try:
    with open(path) as file:
      record = json.load(file)
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


def evaluate(config: ml_collections.ConfigDict | None, workdir: str) -> dict:
  """Evaluates the latest checkpoint in `workdir` (config: the eval/data settings; None: the
  checkpoint's own); returns what it writes to <workdir>/eval/metrics.json (eval_gmm/ with
  config.eval.sampler='gmm', so the prior's scores stay)."""
  model = api.load(workdir)
  config = config or model.config
  if config.model.image_size != model.config.model.image_size:
    raise EvaluationError(f'{workdir}: the checkpoint makes {model.config.model.image_size}px images but '
                          f'the config says {config.model.image_size}; evaluate with its own config')
  samplers.check(config.eval.sampler)
  eval_dir = EVAL_DIR if config.eval.sampler == 'prior' else f'{EVAL_DIR}_{config.eval.sampler}'
  for name, value in Evaluator(config).run(model, workdir, eval_dir=eval_dir):
    if jax.process_index() == 0:
      tqdm.tqdm.write(f'{name} = {value:.6g}')
  multiprocess.barrier('metrics written')  # by process 0
  return read_metrics(workdir, eval_dir=eval_dir)
