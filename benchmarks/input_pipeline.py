"""Images/s of the training input pipeline (ready float32 batches), and where the time goes.

  python benchmarks/input_pipeline.py [--data=PATH] [--source=celeba] [--loaders=ours,grain] [--json]

PATH defaults to the shared sample's full-size zip (../shared/data/celeba_sample/img_align_celeba.zip
from the repository root). Pipeline throughput: `train_batches` with config.data.workers processes,
the median over --rounds rounds, each a fresh iterator timed over --steps batches after --warmup
untimed ones (which include starting the workers). The profile splits one image's CPU time in
a single process into stages; `naive` is a plain PIL loop (read from the zip, decode, crop,
resize, to float) for comparison.
With --json the last line is one JSON object.

--loaders=ours,grain also times the same pipeline on Grain (`grain` from PyPI; not a dependency):
the same positions, permutation, corrupt-image replacement, decoding and host slice, as a
`grain.MapDataset` of global positions, mapped through our decoder, batched, and decoded in
`--workers` Grain processes (`mp_prefetch`). The loaders alternate round by round (each alone
while timed), so a busy machine slows both alike.
"""

import argparse
import io
import json
import os
import pathlib
import pickle
import statistics
import time

import numpy as np
from PIL import Image

from wae_jax import data
from wae_jax.config_defaults import base_config
from wae_jax.data import pipeline, preprocess, sources

DEFAULT_DATA = pathlib.Path(__file__).resolve().parents[1].parent / 'shared/data/celeba_sample/img_align_celeba.zip'


def per_image_seconds(function, items, rounds: int = 3) -> float:
  """Best-of-rounds CPU seconds per item of `function(item)` in this process."""
  best = float('inf')
  for _ in range(rounds):
    start = time.process_time()
    for item in items:
      function(item)
    best = min(best, (time.process_time() - start) / len(items))
  return best


def profile(source: sources.FileSource, size: int, crop: int, batch_size: int, count: int = 300) -> dict[str, float]:
  """Microseconds of CPU per image by stage, in one process.

  The stages of each image are timed back to back (read; decode with draft where the pipeline
  uses it; decode + crop + resize), so a busy machine slows them alike.
  """
  spec = preprocess.Preprocess(size, crop)
  out = np.empty((size, size, 3), np.uint8)
  totals = {'read': 0.0, 'decode': 0.0, 'decode+crop+resize': 0.0}
  indices = range(min(count, len(source)))
  for index in indices:
    start = time.process_time()
    encoded = source.files.read(index)
    read = time.process_time()
    image = Image.open(io.BytesIO(encoded))
    request = spec.draft_request(*image.size)
    if request is not None:
      image.draft('RGB', request)
    image.load()
    decoded = time.process_time()
    preprocess.preprocess_into(Image.open(io.BytesIO(encoded)), spec, out, False)
    totals['read'] += read - start
    totals['decode'] += decoded - read
    totals['decode+crop+resize'] += time.process_time() - decoded
  stages = {stage: seconds / len(indices) for stage, seconds in totals.items()}
  stages['crop+resize'] = stages.pop('decode+crop+resize') - stages['decode']
  batch = np.zeros((batch_size, size, size, 3), np.uint8)
  stages['ipc (pickle both ways)'] = per_image_seconds(
      lambda _: pickle.loads(pickle.dumps(batch, protocol=5)), range(20)) / batch_size
  stages['to float32'] = per_image_seconds(
      lambda _: np.multiply(batch, np.float32(1 / 255), dtype=np.float32), range(20)) / batch_size
  return {stage: seconds * 1e6 for stage, seconds in stages.items()}


def naive_images_per_s(source: sources.Source, size: int, crop: int, count: int = 300) -> float:
  """A plain single-process loop: read, decode at full size, crop, resize, to float."""
  left, top = (178 - crop) // 2, (218 - crop) // 2
  start = time.perf_counter()
  for index in range(min(count, len(source))):
    image = source.open(index).convert('RGB').crop((left, top, left + crop, top + crop))
    np.asarray(image.resize((size, size), preprocess.RESAMPLE), np.float32) / 255
  return min(count, len(source)) / (time.perf_counter() - start)


class DecodePosition:
  """Grain map: a global position of the endless training order -> (uint8 image, corrupt files),
  with our decoder (one per worker process, made on first use)."""

  def __init__(self, source: sources.Source, spec: preprocess.Preprocess, seed: int,
               epoch_positions: int):
    self.source, self.spec, self.seed, self.epoch_positions = source, spec, seed, epoch_positions
    self._decoder = None

  def __call__(self, position: int) -> tuple[np.ndarray, list]:
    if self._decoder is None:
      self._decoder = pipeline.Decoder(self.source, self.spec)
    epoch, within = divmod(int(position), self.epoch_positions)
    decoded = self._decoder.decode(within, within + 1, pipeline.EpochOrder(self.seed, epoch, False))
    return decoded.images[0], decoded.corrupt


def stack_batch(items: list) -> tuple[np.ndarray, list]:
  return np.stack([image for image, _ in items]), [c for _, corrupt in items for c in corrupt]


def grain_dataset(data_config, size: int, batch_size: int, seed: int, process_index: int = 0,
                  process_count: int = 1):
  """Our training order as a Grain IterDataset of (uint8 host batch, corrupt files)."""
  import grain  # only this benchmark needs it
  from absl import flags
  if not flags.FLAGS.is_parsed():
    flags.FLAGS.mark_as_parsed()  # Grain reads absl flags; outside absl.app nobody parsed them
  source = sources.open_source(data_config, 'train')
  spec = preprocess.Preprocess(size, data_config.crop if source.uses_crop else 0)
  steps_per_epoch = len(source) // batch_size
  host_batch = batch_size // process_count
  epoch_positions = steps_per_epoch * batch_size

  def host_position(i: int) -> int:  # this host's i-th image: its slice of each global batch
    step, j = divmod(i, host_batch)
    epoch, step = divmod(step, steps_per_epoch)
    return epoch * epoch_positions + step * batch_size + process_index * host_batch + j

  return (grain.MapDataset.range(10**12).map(host_position)
             .map(DecodePosition(source, spec, seed, epoch_positions))
             .batch(host_batch, batch_fn=stack_batch)
             .to_iter_dataset(grain.ReadOptions(num_threads=0))
             .mp_prefetch(grain.MultiprocessingOptions(
                 num_workers=data_config.workers,  # the same batches in flight as ours:
                 per_worker_buffer_size=-(-data_config.prefetch // max(1, data_config.workers)))))


def grain_train_batches(data_config, size: int, batch_size: int, seed: int):
  """Endless (float32 batch, corrupt files) from `grain_dataset`."""
  for images, corrupt in grain_dataset(data_config, size, batch_size, seed):
    yield np.multiply(images, np.float32(1 / 255), dtype=np.float32), corrupt


def pipeline_images_per_s(data_config, size: int, batch_size: int, warmup: int, rounds: int,
                          steps: int, loaders: list[str]) -> dict[str, tuple[float, float]]:
  """{loader: (median images/s over rounds, the consumer's CPU microseconds per image)}.

  Each round runs every loader in turn, alone: a fresh iterator, --warmup untimed batches (the
  workers' start), then --steps timed batches, then it is closed.
  """
  make = {'ours': lambda: data.train_batches(data_config, size, batch_size, seed=0),
          'grain': lambda: grain_train_batches(data_config, size, batch_size, seed=0)}
  rates = {name: [] for name in loaders}
  consumer_cpu = {name: [] for name in loaders}
  for _ in range(rounds):
    for name in loaders:
      batches = make[name]()
      for _ in range(warmup):
        next(batches)
      start, cpu = time.perf_counter(), time.process_time()
      for _ in range(steps):
        next(batches)
      rates[name].append(steps * batch_size / (time.perf_counter() - start))
      consumer_cpu[name].append((time.process_time() - cpu) / (steps * batch_size) * 1e6)
      batches.close()
  return {name: (statistics.median(rates[name]), statistics.median(consumer_cpu[name]))
          for name in loaders}


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument('--data', default=str(DEFAULT_DATA), help='CelebA zip/folder, or any images with --source=folder')
  parser.add_argument('--source', default='celeba', choices=sorted(sources.SOURCES))
  parser.add_argument('--sizes', default='64,128')
  parser.add_argument('--batch_size', type=int, default=64)
  parser.add_argument('--workers', type=int, default=base_config().data.workers)
  parser.add_argument('--prefetch', type=int, default=base_config().data.prefetch)
  parser.add_argument('--warmup', type=int, default=5)
  parser.add_argument('--rounds', type=int, default=5)
  parser.add_argument('--steps', type=int, default=20)
  parser.add_argument('--loaders', default='ours', help='comma-separated: ours, grain')
  parser.add_argument('--json', action='store_true', help='print one JSON object as the last line')
  args = parser.parse_args()
  loaders = args.loaders.split(',')

  data_config = base_config().data
  data_config.update({'source': args.source, 'path': args.data, 'workers': args.workers,
                      'prefetch': args.prefetch})
  source = sources.open_source(data_config, 'train')
  crop = data_config.crop if source.uses_crop else 0
  results = {'images_per_s': {}, 'naive_images_per_s': {}, 'consumer_cpu_us_per_image': {},
             'profile_us_per_image': {}}
  for size in map(int, args.sizes.split(',')):
    key = str(size)
    measured = pipeline_images_per_s(data_config, size, args.batch_size, args.warmup, args.rounds,
                                     args.steps, loaders)
    rate, consumer = measured['ours'] if 'ours' in measured else next(iter(measured.values()))
    results['images_per_s'][key] = round(rate)
    results['consumer_cpu_us_per_image'][key] = round(consumer, 1)
    if len(measured) > 1:
      results.setdefault('loaders_images_per_s', {})[key] = {
          name: round(r) for name, (r, _) in measured.items()}
    results['naive_images_per_s'][key] = round(naive_images_per_s(source, size, crop))
    if isinstance(source, sources.FileSource):
      results['profile_us_per_image'][key] = {stage: round(us, 1) for stage, us in
                                              profile(source, size, crop, args.batch_size).items()}

  print(f'input pipeline on {args.data} ({args.source}, train split, {len(source)} images): '
        f'batch {args.batch_size}, {args.workers} workers, prefetch {args.prefetch}, {os.cpu_count()} CPUs')
  print(f'median of {args.rounds} rounds x {args.steps} batches after {args.warmup} warm-up batches\n')
  print(f'{"size":>5} {"pipeline img/s":>15} {"naive img/s":>12} {"consumer us/img":>16}')
  for key, rate in results['images_per_s'].items():
    print(f'{key:>5} {rate:>15} {results["naive_images_per_s"][key]:>12} '
          f'{results["consumer_cpu_us_per_image"][key]:>16}')
  for key, rates in results.get('loaders_images_per_s', {}).items():
    print(f'{key:>5} ' + ', '.join(f'{name} {rate} img/s' for name, rate in rates.items())
          + ' (loaders alternating)')
  if results['profile_us_per_image']:
    print('\nsingle-process CPU per image (us):')
    stages = list(next(iter(results['profile_us_per_image'].values())))
    print(f'{"size":>5} ' + ' '.join(f'{stage:>22}' for stage in stages))
    for key, profiled in results['profile_us_per_image'].items():
      print(f'{key:>5} ' + ' '.join(f'{profiled[stage]:>22}' for stage in stages))
  if args.json:
    results.update({'data': args.data, 'source': args.source, 'batch_size': args.batch_size,
                    'workers': args.workers, 'prefetch': args.prefetch, 'cpus': os.cpu_count()})
    print(json.dumps(results))


if __name__ == '__main__':
  main()
