"""Images/s of the training input pipeline (ready float32 batches), and where the time goes.

  python benchmarks/input_pipeline.py [--data=PATH] [--source=celeba] [--json]

PATH defaults to the shared sample's full-size zip (../shared/data/celeba_sample/img_align_celeba.zip
from the repository root). Pipeline throughput: `train_batches` with config.data.workers processes,
the median over --rounds rounds, each a fresh iterator timed over --steps batches after --warmup
untimed ones (which include starting the workers). The profile splits one image's CPU time in
a single process into stages; `naive` is a plain PIL loop (read from the zip, decode, crop,
resize, to float) for comparison.
With --json the last line is one JSON object.
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
from wae_jax.data import preprocess, sources

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


def pipeline_images_per_s(data_config, size: int, batch_size: int, warmup: int, rounds: int,
                          steps: int) -> tuple[float, float]:
  """Median images/s over rounds, and the consumer's CPU microseconds per image.

  Each round is a fresh iterator: --warmup untimed batches (the workers' start), then --steps
  timed batches.
  """
  rates, consumer_cpu = [], []
  for _ in range(rounds):
    with data.train_batches(data_config, size, batch_size, seed=0) as batches:
      for _ in range(warmup):
        next(batches)
      start, cpu = time.perf_counter(), time.process_time()
      for _ in range(steps):
        next(batches)
      rates.append(steps * batch_size / (time.perf_counter() - start))
      consumer_cpu.append((time.process_time() - cpu) / (steps * batch_size) * 1e6)
  return statistics.median(rates), statistics.median(consumer_cpu)


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
  parser.add_argument('--json', action='store_true', help='print one JSON object as the last line')
  args = parser.parse_args()

  data_config = base_config().data
  data_config.update({'source': args.source, 'path': args.data, 'workers': args.workers,
                      'prefetch': args.prefetch})
  source = sources.open_source(data_config, 'train')
  crop = data_config.crop if source.uses_crop else 0
  results = {'images_per_s': {}, 'naive_images_per_s': {}, 'consumer_cpu_us_per_image': {},
             'profile_us_per_image': {}}
  for size in map(int, args.sizes.split(',')):
    key = str(size)
    rate, consumer = pipeline_images_per_s(data_config, size, args.batch_size, args.warmup,
                                           args.rounds, args.steps)
    results['images_per_s'][key] = round(rate)
    results['consumer_cpu_us_per_image'][key] = round(consumer, 1)
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
