"""Batches for training (shuffled per epoch, resumable, one slice per host) and evaluation (file order).

Grain decodes a `MapDataset` of positions through our `Decoder`: in spawned processes for
training, in threads for evaluation (scripts and notebooks may lack a __main__ guard). Epoch `e`
visits the permutation drawn from (seed, e); host `h` of `P` decodes its slice of each global
batch, so a checkpoint stores a position, not Grain's state (see docs/data.md).
"""

import dataclasses
import functools
import logging
import os
import signal
import threading
import time
from collections.abc import Iterator

import grain
import numpy as np
from absl import flags as absl_flags
from PIL import Image

from wae_jax.data.errors import DataError
from wae_jax.data.files import DECODE_ERRORS, describe_decode_error
from wae_jax.data.preprocess import REFERENCE_WIDTH, RESAMPLE_NAME, Preprocess, preprocess_into
from wae_jax.data.sources import Source, open_source

logger = logging.getLogger(__name__)

# Corrupt files named in one warning; the count is always complete.
MAX_NAMED_IN_WARNING = 20
# The end of an endless training order (Grain's ranges are finite).
ENDLESS = 2**62


@dataclasses.dataclass(frozen=True)
class EpochOrder:
  """Which permutation (and flips) a training epoch uses."""
  seed: int
  epoch: int
  flip: bool


def epoch_order(order: EpochOrder, size: int) -> tuple[np.ndarray, np.ndarray | None]:
  """The permutation of `size` images and, with flips, one flip decision per position."""
  rng = np.random.default_rng([order.seed, order.epoch])
  permutation = rng.permutation(size)
  return permutation, (rng.random(size) < 0.5 if order.flip else None)


@dataclasses.dataclass
class Decoded:
  """Preprocessed images of a run of positions, and what went wrong on the way."""
  images: np.ndarray  # [k, size, size, 3] uint8
  corrupt: list[tuple[str, str]]  # (location, error) of each file that failed to decode
  upscaled: int
  crop_clipped: int


class Decoder:
  """Decodes runs of positions of one source; Grain's map, one copy per worker process."""

  def __init__(self, source: Source, spec: Preprocess):
    self.source = source
    self.spec = spec
    self._order = None
    self._permutation = self._flips = None

  def decode(self, start: int, stop: int, order: EpochOrder | None) -> Decoded:
    """Positions [start, stop) of epoch `order`'s permutation (a corrupt image replaced by the
    next readable one), or of file order when None (a corrupt image skipped)."""
    size = self.spec.image_size
    images = np.empty((stop - start, size, size, 3), np.uint8)
    decoded = Decoded(images, [], 0, 0)
    count = 0
    if order is None:
      for position in range(start, stop):
        count += self._decode_one(position, images[count], False, decoded)
    else:
      if order != self._order:
        self._order = order
        self._permutation, self._flips = epoch_order(order, len(self.source))
      total = len(self.source)
      for position in range(start, stop):
        flip = self._flips is not None and bool(self._flips[position])
        if not any(self._decode_one(int(self._permutation[(position + k) % total]), images[count], flip, decoded)
                   for k in range(total)):
          raise DataError(f'{self.source.origin}: no image of the split can be decoded')
        count += 1
    decoded.images = images[:count]
    return decoded

  def __call__(self, where: tuple[int, EpochOrder | None]) -> Decoded:
    """(position, order) -> the Decoded of that one image."""
    position, order = where
    return self.decode(position, position + 1, order)

  def __getstate__(self) -> dict:  # sent to workers without the cached permutation
    return {**self.__dict__, '_order': None, '_permutation': None, '_flips': None}

  def _decode_one(self, index: int, out: np.ndarray, flip: bool, decoded: Decoded) -> bool:
    try:
      flags = preprocess_into(self.source.open(index), self.spec, out, flip)
    except DECODE_ERRORS as error:
      decoded.corrupt.append((self.source.location(index), describe_decode_error(error)))
      return False
    decoded.upscaled += flags.upscaled
    decoded.crop_clipped += flags.crop_clipped
    return True


def _merge(parts: list[Decoded]) -> Decoded:
  """One Decoded of several (a batch of single-image runs), in order."""
  size = parts[0].images.shape[1:]
  images = [part.images for part in parts if len(part.images)]
  return Decoded(np.concatenate(images) if images else np.empty((0, *size), np.uint8),
                 [item for part in parts for item in part.corrupt],
                 sum(part.upscaled for part in parts), sum(part.crop_clipped for part in parts))


def _train_position(seed: int, flip: bool, steps_per_epoch: int, global_batch: int,
                    host_batch: int, host_offset: int, i: int) -> tuple[int, EpochOrder]:
  """The i-th image this host decodes in the endless training order: (its position in the
  epoch's permutation, the epoch's order); host h of P decodes the h-th slice of each batch."""
  step, within = divmod(int(i), host_batch)
  epoch, step = divmod(step, steps_per_epoch)
  return step * global_batch + host_offset + within, EpochOrder(seed, epoch, flip)


def _file_position(i: int) -> tuple[int, EpochOrder | None]:
  """The i-th image of evaluation: file order."""
  return int(i), None


def _exit_with_parent(parent: int) -> None:
  """Ends this worker once its parent is gone (killed before it could stop its workers)."""
  while os.getppid() == parent:
    time.sleep(1.0)
  os._exit(0)


def _watch_parent(parent: int, _worker_index: int, _worker_count: int) -> None:
  """Grain's worker_init_fn (with `parent` bound in the parent): `parent` is passed rather than
  read here, since a worker still starting when its parent is killed is already an orphan.
  Ignores SIGINT: Ctrl-C reaches the terminal's whole process group, and the parent decides."""
  signal.signal(signal.SIGINT, signal.SIG_IGN)
  threading.Thread(target=_exit_with_parent, args=(parent,), daemon=True).start()


class _DecodedBatches:
  """Decoded batches of images first .. stop - 1 (None: endless) of `position`, through Grain:
  decoded by `workers` spawned processes, or threads where not `processes` (0: in this
  process), `prefetch` batches ahead."""

  def __init__(self, source: Source, spec: Preprocess, position, first: int, stop: int | None,
               batch: int, workers: int, prefetch: int, processes: bool):
    if not absl_flags.FLAGS.is_parsed():  # Grain reads absl flags: defaults in notebooks, tests
      absl_flags.FLAGS.mark_as_parsed()
    threads = (grain.ReadOptions(num_threads=0) if processes or workers == 0
               else grain.ReadOptions(num_threads=workers, prefetch_buffer_size=max(1, prefetch)))
    dataset = (grain.MapDataset.range(first, stop if stop is not None else ENDLESS).map(position)
               .map(Decoder(source, spec)).batch(batch, batch_fn=_merge).to_iter_dataset(threads))
    if processes and workers > 0:
      options = grain.MultiprocessingOptions(num_workers=workers,
                                             per_worker_buffer_size=max(1, -(-prefetch // workers)))
      dataset = dataset.mp_prefetch(options,
                                    worker_init_fn=functools.partial(_watch_parent, os.getpid()))
    self._iterator = iter(dataset)

  def __iter__(self) -> '_DecodedBatches':
    return self

  def __next__(self) -> Decoded:
    try:
      return next(self._iterator)
    except (StopIteration, DataError):
      raise
    except RuntimeError as error:  # Grain's report of a worker that died
      raise DataError(f'a decoding worker process failed ({error}); rerun with '
                      '--config.data.workers=0 to see the error in this process') from None

  def close(self) -> None:
    close = getattr(self._iterator, 'close', None)
    if close is not None:
      close()


def _to_float(images: np.ndarray) -> np.ndarray:
  """uint8 images as float32 in [0, 1]."""
  return np.multiply(images, np.float32(1 / 255), dtype=np.float32)


def _warn_corrupt(corrupt: dict[str, str], where: str) -> None:
  named = ', '.join(f'{location} ({error})' for location, error in list(corrupt.items())[:MAX_NAMED_IN_WARNING])
  more = f' and {len(corrupt) - MAX_NAMED_IN_WARNING} more' if len(corrupt) > MAX_NAMED_IN_WARNING else ''
  logger.warning('%d corrupt image(s) skipped in %s: %s%s', len(corrupt), where, named, more)


def _check_strict(decoded: Decoded, strict: bool) -> None:
  if strict:
    for location, error in decoded.corrupt:
      raise DataError(f'{location}: corrupt image ({error}); replace or delete it, or set '
                      'config.data.strict=False to skip corrupt images')


def _preprocess_for(source: Source, data_config, image_size: int) -> Preprocess:
  return Preprocess(image_size, data_config.crop if source.uses_crop else 0)


class BatchIterator:
  """Endless training batches of this host, float32 [global_batch_size // process_count, H, W, 3] in [0, 1].

  Epochs drop the remainder. `get_state()` (JSON, for the checkpoint) and `set_state` resume at
  exactly the next batch, with the counts and corrupt files met so far (`corrupt_files`, which
  the caller reports). Close it (or use `with`) to stop the worker processes.
  """

  def __init__(self, source: Source, spec: Preprocess, global_batch_size: int, seed: int,
               process_index: int, process_count: int, data_config):
    if global_batch_size <= 0 or global_batch_size % process_count:
      raise ValueError(f'global batch size {global_batch_size} must be a positive multiple of the '
                       f'process count {process_count}')
    if len(source) < global_batch_size:
      raise DataError(f'{source.origin}: the train split has {len(source)} images, fewer than one batch of '
                      f'{global_batch_size}; lower config.train.batch_size')
    self.source = source
    self.global_batch_size = global_batch_size
    self.seed = seed
    self.steps_per_epoch = len(source) // global_batch_size
    self._host_batch = global_batch_size // process_count
    self._position = functools.partial(_train_position, seed, bool(data_config.flip),
                                       self.steps_per_epoch, global_batch_size, self._host_batch,
                                       process_index * self._host_batch)
    self._spec = spec
    self._strict = bool(data_config.strict)
    self._workers, self._prefetch = data_config.workers, data_config.prefetch
    self._decoded: _DecodedBatches | None = None
    self._corrupt: dict[str, str] = {}
    self._counts = {'upscaled': 0, 'crop_clipped': 0}
    self._start(0, 0)

  def _start(self, epoch: int, step: int) -> None:
    if self._decoded is not None:
      self._decoded.close()
    self._epoch, self._step = epoch, step
    first = (epoch * self.steps_per_epoch + step) * self._host_batch
    self._decoded = _DecodedBatches(self.source, self._spec, self._position, first, None,
                                    self._host_batch, self._workers, self._prefetch, processes=True)

  def __iter__(self) -> 'BatchIterator':
    return self

  def __next__(self) -> np.ndarray:
    decoded = next(self._decoded)
    _check_strict(decoded, self._strict)
    self._corrupt.update(decoded.corrupt)
    self._counts['upscaled'] += decoded.upscaled
    self._counts['crop_clipped'] += decoded.crop_clipped
    self._epoch, self._step = divmod(self._epoch * self.steps_per_epoch + self._step + 1,
                                     self.steps_per_epoch)
    return _to_float(decoded.images)

  @property
  def stats(self) -> dict[str, int]:
    """Counters for the metrics: distinct corrupt files met so far, images upscaled / crop-clipped."""
    return {'corrupt': len(self._corrupt), **self._counts}

  @property
  def corrupt_files(self) -> dict[str, str]:
    """{location: why it could not be decoded} of every corrupt file met so far, in order met."""
    return dict(self._corrupt)

  def get_state(self) -> dict:
    """Position of the next batch, with what it is only valid for, and the counts so far."""
    return {'epoch': self._epoch, 'step': self._step, 'seed': self.seed,
            'num_images': len(self.source), 'global_batch_size': self.global_batch_size,
            'corrupt': dict(self._corrupt), 'counts': dict(self._counts)}

  def set_state(self, state: dict) -> None:
    """Continues from `state` (from `get_state`): the next batch is the one that followed it."""
    expected = {'seed': self.seed, 'num_images': len(self.source), 'global_batch_size': self.global_batch_size}
    mismatched = {key: (state.get(key), value) for key, value in expected.items() if state.get(key) != value}
    if mismatched:
      raise DataError(f'{self.source.origin}: the saved data position does not fit this run '
                      f'({", ".join(f"{k}: saved {s}, now {n}" for k, (s, n) in mismatched.items())}); '
                      'resume with the same data, seed and batch size')
    self._corrupt = dict(state.get('corrupt', {}))  # absent in checkpoints of older versions
    self._counts.update(state.get('counts', {}))
    self._start(int(state['epoch']), int(state['step']))

  def close(self) -> None:
    """Stops the worker processes."""
    self._decoded.close()

  def __enter__(self) -> 'BatchIterator':
    return self

  def __exit__(self, *exc_info) -> None:
    self.close()


def train_batches(data_config, image_size: int, global_batch_size: int, seed: int,
                  process_index: int = 0, process_count: int = 1) -> BatchIterator:
  """Endless shuffled batches of the train split for this host (see `BatchIterator`)."""
  source = open_source(data_config, 'train')
  return BatchIterator(source, _preprocess_for(source, data_config, image_size), global_batch_size, seed,
                       process_index, process_count, data_config)


def eval_batches(data_config, split: str, image_size: int, batch_size: int,
                 max_images: int = -1, start: int = 0) -> Iterator[np.ndarray]:
  """`max_images` (-1: all) images of `split` from image `start` on (one host's share), in file
  order, unflipped, as float32 batches of `batch_size` (the last may be smaller). Corrupt images
  are skipped and named in one warning at the end, or fatal with config.data.strict."""
  source = open_source(data_config, split)
  total = len(source) if max_images < 0 else min(start + max_images, len(source))
  decoded_batches = _DecodedBatches(source, _preprocess_for(source, data_config, image_size),
                                    _file_position, start, total, batch_size, data_config.workers,
                                    data_config.prefetch, processes=False)
  corrupt: dict[str, str] = {}
  ready: list[np.ndarray] = []
  try:
    for decoded in decoded_batches:
      _check_strict(decoded, data_config.strict)
      corrupt.update(decoded.corrupt)
      ready.append(decoded.images)
      while sum(len(part) for part in ready) >= batch_size:
        images = np.concatenate(ready)
        ready = [images[batch_size:]]
        yield _to_float(images[:batch_size])
    if sum(len(part) for part in ready):
      yield _to_float(np.concatenate(ready))
    if corrupt:
      _warn_corrupt(corrupt, f'split {split} ({source.origin})')
  finally:
    decoded_batches.close()


def num_images(data_config, split: str) -> int:
  """Number of images in `split` (corrupt files included: they are only found by decoding)."""
  return len(open_source(data_config, split))


def protocol(data_config, split: str, image_size: int) -> dict:
  """What determines the pixels of `split` at `image_size` (JSON), for FID-statistics metadata:
  equal dicts, same pixels. Several paths give the native size and draft decoding of each."""
  source = open_source(data_config, split)
  spec = _preprocess_for(source, data_config, image_size)
  firsts = [_first_image(part) for part in getattr(source, 'parts', [source])]
  sizes = [list(first.size) for first in firsts]
  drafts = [first.format == 'JPEG' and spec.draft_request(*first.size) is not None for first in firsts]
  return {
      'dataset': source.dataset,
      'split': split,
      'num_images': len(source),
      'source_size': sizes[0] if len(sizes) == 1 else sizes,
      'crop': spec.crop,  # 0: the largest centred square
      'crop_reference_width': REFERENCE_WIDTH,
      'resolution': image_size,
      'resize': RESAMPLE_NAME,
      'jpeg_draft': drafts[0] if len(drafts) == 1 else drafts,
  }


def _first_image(source: Source) -> Image.Image:
  """The first image whose header reads (its size is the source's native resolution)."""
  for index in range(len(source)):
    try:
      return source.open(index)
    except DECODE_ERRORS:
      continue
  raise DataError(f'{source.origin}: no image can be decoded')
