"""Batches for training (shuffled per epoch, resumable, one slice per host) and evaluation (file order).

Decoding runs in `config.data.workers` spawned processes (0: in this process). Workers get runs of
positions, open the zip once each, and return uint8 arrays; the consumer converts to float32.
`config.data.prefetch` whole batches are decoding ahead at any time.

Training order: epoch `e` visits the split in the permutation drawn from (seed, e); global batch
`s` holds positions [s*B, (s+1)*B) of it, and host `h` of `P` decodes only its contiguous slice
[s*B + h*B/P, s*B + (h+1)*B/P). A corrupt image is replaced by the next readable image of the
permutation, so shapes never change and the global batch does not depend on the number of hosts.
"""

import collections
import concurrent.futures
import dataclasses
import functools
import logging
import multiprocessing
import os
import threading
import time
import weakref
import zipfile
import zlib
from collections.abc import Iterator

import numpy as np
from PIL import Image

from wae_jax.data.errors import DataError
from wae_jax.data.files import EmptyFileError
from wae_jax.data.preprocess import REFERENCE_WIDTH, RESAMPLE_NAME, Preprocess, preprocess_into
from wae_jax.data.sources import Source, open_source

logger = logging.getLogger(__name__)

# What decoding a broken file raises (PIL, zip CRC checks, zlib inside PNG).
DECODE_ERRORS = (OSError, ValueError, SyntaxError, EOFError, Image.DecompressionBombError,
                 zipfile.BadZipFile, zlib.error)
# Corrupt files named in one warning; the count is always complete.
MAX_NAMED_IN_WARNING = 20


def describe_decode_error(error: Exception) -> str:
  """Why a file could not be decoded, in a few words."""
  if isinstance(error, EmptyFileError):
    return str(error)
  if isinstance(error, Image.UnidentifiedImageError):  # its message names an in-memory buffer
    return 'not an image format PIL can read'
  return f'{type(error).__name__}: {error}'


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
  """Decodes runs of positions of one source; one per worker process."""

  def __init__(self, source: Source, spec: Preprocess):
    self.source = source
    self.spec = spec
    self._order = None
    self._permutation = self._flips = None

  def decode(self, start: int, stop: int, order: EpochOrder | None) -> Decoded:
    """Positions [start, stop) of epoch `order`'s permutation, or of file order when None.

    In an epoch, a corrupt image is replaced by the next readable one of the permutation; in
    file order it is skipped.
    """
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

  def _decode_one(self, index: int, out: np.ndarray, flip: bool, decoded: Decoded) -> bool:
    try:
      flags = preprocess_into(self.source.open(index), self.spec, out, flip)
    except DECODE_ERRORS as error:
      decoded.corrupt.append((self.source.location(index), describe_decode_error(error)))
      return False
    decoded.upscaled += flags.upscaled
    decoded.crop_clipped += flags.crop_clipped
    return True


_worker_decoder: Decoder | None = None


def _exit_with_parent(parent: int) -> None:
  """Ends this worker once its parent is gone (killed before it could shut the pool down)."""
  while os.getppid() == parent:
    time.sleep(1.0)
  os._exit(0)


def _init_worker(source: Source, spec: Preprocess, parent: int) -> None:
  global _worker_decoder
  _worker_decoder = Decoder(source, spec)
  threading.Thread(target=_exit_with_parent, args=(parent,), daemon=True).start()


def _decode_in_worker(start: int, stop: int, order: EpochOrder | None) -> Decoded:
  return _worker_decoder.decode(start, stop, order)


class _Inline:
  """A deferred call with the `result()` of a future: decoding in this process."""

  def __init__(self, call):
    self._call = call

  def result(self) -> Decoded:
    return self._call()

  def cancel(self) -> bool:
    return True


class _Workers:
  """`workers` spawned decoding processes (spawn: safe after JAX has started threads), or none."""

  def __init__(self, source: Source, spec: Preprocess, workers: int):
    self._decoder = None
    self._executor = None
    if workers > 0:
      self._executor = concurrent.futures.ProcessPoolExecutor(
          workers, mp_context=multiprocessing.get_context('spawn'),
          initializer=_init_worker, initargs=(source, spec, os.getpid()))
      self._finalizer = weakref.finalize(self, self._executor.shutdown, cancel_futures=True)
    else:
      self._decoder = Decoder(source, spec)

  def submit(self, start: int, stop: int, order: EpochOrder | None):
    if self._executor is None:
      return _Inline(functools.partial(self._decoder.decode, start, stop, order))
    return self._executor.submit(_decode_in_worker, start, stop, order)

  def close(self) -> None:
    if self._executor is not None:
      self._finalizer()


def _result(future) -> Decoded:
  try:
    return future.result()
  except concurrent.futures.process.BrokenProcessPool as error:
    raise DataError(f'a decoding worker process died ({error}); rerun with --config.data.workers=0 '
                    'to see the error in this process') from None


class _Prefetcher:
  """Keeps `depth` batches decoding; yields each batch's key and its chunks' results, in order.

  A batch is split into one chunk per worker so that all workers share even a single batch.
  """

  def __init__(self, workers: _Workers, batches: Iterator, depth: int, chunks: int):
    self._workers = workers
    self._batches = batches  # of (key, start, stop, order)
    self._depth = max(1, depth)
    self._chunks = max(1, chunks)
    self._pending = collections.deque()
    self._fill()

  def _fill(self) -> None:
    while len(self._pending) < self._depth:
      batch = next(self._batches, None)
      if batch is None:
        return
      key, start, stop, order = batch
      bounds = np.linspace(start, stop, min(self._chunks, stop - start) + 1).round().astype(int)
      self._pending.append((key, [self._workers.submit(int(a), int(b), order)
                                  for a, b in zip(bounds[:-1], bounds[1:])]))

  def __iter__(self):
    return self

  def __next__(self) -> tuple[object, list[Decoded]]:
    if not self._pending:
      raise StopIteration
    key, futures = self._pending.popleft()
    self._fill()
    return key, [_result(future) for future in futures]

  def cancel(self) -> None:
    for _, futures in self._pending:
      for future in futures:
        future.cancel()
    self._pending.clear()


def _to_float(parts: list[np.ndarray]) -> np.ndarray:
  """Concatenated uint8 images as float32 in [0, 1]."""
  out = np.empty((sum(len(part) for part in parts), *parts[0].shape[1:]), np.float32)
  offset = 0
  for part in parts:
    np.multiply(part, np.float32(1 / 255), out=out[offset:offset + len(part)])
    offset += len(part)
  return out


def _warn_corrupt(corrupt: dict[str, str], where: str) -> None:
  named = ', '.join(f'{location} ({error})' for location, error in list(corrupt.items())[:MAX_NAMED_IN_WARNING])
  more = f' and {len(corrupt) - MAX_NAMED_IN_WARNING} more' if len(corrupt) > MAX_NAMED_IN_WARNING else ''
  logger.warning('%d corrupt image(s) skipped in %s: %s%s', len(corrupt), where, named, more)


def _check_strict(decoded: list[Decoded], strict: bool) -> None:
  if strict:
    for part in decoded:
      for location, error in part.corrupt:
        raise DataError(f'{location}: corrupt image ({error}); replace or delete it, or set '
                        'config.data.strict=False to skip corrupt images')


def _preprocess_for(source: Source, data_config, image_size: int) -> Preprocess:
  return Preprocess(image_size, data_config.crop if source.uses_crop else 0)


class BatchIterator:
  """Endless training batches of this host, float32 [global_batch_size // process_count, H, W, 3] in [0, 1].

  Epochs are shuffled by (seed, epoch) and drop the remainder. `get_state()` is the position and
  the counts so far (JSON-serialisable, for the checkpoint); `set_state` resumes at exactly the
  next batch an uninterrupted iterator would give, with the counts and the corrupt files it had
  met. Corrupt files are skipped and collected in `corrupt_files`; the caller reports them.
  Close it (or use `with`) to stop the worker processes.
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
    self._host_offset = process_index * self._host_batch
    self._flip = bool(data_config.flip)
    self._strict = bool(data_config.strict)
    self._depth = data_config.prefetch
    self._chunks = data_config.workers
    self._workers = _Workers(source, spec, data_config.workers)
    self._corrupt: dict[str, str] = {}
    self._counts = {'upscaled': 0, 'crop_clipped': 0}
    self._start(0, 0)

  def _start(self, epoch: int, step: int) -> None:
    self._epoch, self._step = epoch, step
    self._prefetcher = _Prefetcher(self._workers, self._batch_ranges(epoch, step), self._depth, self._chunks)

  def _batch_ranges(self, epoch: int, step: int) -> Iterator:
    while True:
      order = EpochOrder(self.seed, epoch, self._flip)
      for step in range(step, self.steps_per_epoch):
        start = step * self.global_batch_size + self._host_offset
        yield (epoch, step), start, start + self._host_batch, order
      epoch, step = epoch + 1, 0

  def __iter__(self) -> 'BatchIterator':
    return self

  def __next__(self) -> np.ndarray:
    (epoch, step), decoded = next(self._prefetcher)
    _check_strict(decoded, self._strict)
    for part in decoded:
      self._corrupt.update(part.corrupt)
      self._counts['upscaled'] += part.upscaled
      self._counts['crop_clipped'] += part.crop_clipped
    self._epoch, self._step = (epoch, step + 1) if step + 1 < self.steps_per_epoch else (epoch + 1, 0)
    return _to_float([part.images for part in decoded])

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
    self._prefetcher.cancel()
    self._corrupt = dict(state.get('corrupt', {}))  # absent in checkpoints of older versions
    self._counts.update(state.get('counts', {}))
    self._start(int(state['epoch']), int(state['step']))

  def close(self) -> None:
    """Stops the worker processes."""
    self._prefetcher.cancel()
    self._workers.close()

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
  """`max_images` (-1: all) images of `split` from image `start` on, in file order, unflipped, as
  float32 batches (one host's share of a split: `start` at its first image).

  Every batch has `batch_size` images except the last. Corrupt images are skipped (the batch is
  filled from the next ones) and named in one warning at the end, or fatal with config.data.strict.
  """
  source = open_source(data_config, split)
  total = len(source) if max_images < 0 else min(start + max_images, len(source))
  workers = _Workers(source, _preprocess_for(source, data_config, image_size), data_config.workers)
  ranges = (((start,), start, min(start + batch_size, total), None) for start in range(start, total, batch_size))
  prefetcher = _Prefetcher(workers, ranges, data_config.prefetch, data_config.workers)
  corrupt: dict[str, str] = {}
  ready: list[np.ndarray] = []
  try:
    for _, decoded in prefetcher:
      _check_strict(decoded, data_config.strict)
      for part in decoded:
        corrupt.update(part.corrupt)
        ready.append(part.images)
      while sum(len(part) for part in ready) >= batch_size:
        images = np.concatenate(ready)
        ready = [images[batch_size:]]
        yield _to_float([images[:batch_size]])
    if sum(len(part) for part in ready):
      yield _to_float(ready)
    if corrupt:
      _warn_corrupt(corrupt, f'split {split} ({source.origin})')
  finally:
    prefetcher.cancel()
    workers.close()


def num_images(data_config, split: str) -> int:
  """Number of images in `split` (corrupt files included: they are only found by decoding)."""
  return len(open_source(data_config, split))


def protocol(data_config, split: str, image_size: int) -> dict:
  """What determines the pixels of `split` at `image_size`, for FID-statistics metadata.

  Equal dicts mean the same images, preprocessed the same way. JSON-serialisable. A source
  read from several paths gives the native size (and draft decoding) of each, in order.
  """
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
