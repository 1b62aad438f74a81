"""A positive control for precision / recall at N = 1,000: real images, degraded on purpose.

    python scripts/precision_recall_control.py docs/results/pr_control

The cpu study's protocol (CelebA sample at 64x64, the 1,440 val + test images as the reference,
1,000 train images scored): the real images as they are, then blurred (Gaussian, sigma in
pixels) and noised (Gaussian, SD on [0, 1] pixels) at growing strengths, each scored with FID,
precision and recall against the reference. If the two scores fall from the real images' values
as FID rises, they can move at this N; where they are 0 for every model, the models are past
the strongest degradation here. Writes control.json and control.md in the output folder.
"""

import argparse
import json
import os
import sys

import numpy as np
from scipy import ndimage

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from wae_jax import config_defaults, data, evaluation, fid  # noqa: E402
from wae_jax.fid.stats import frechet_distance  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SAMPLE = os.path.normpath(os.path.join(REPO, '..', 'shared', 'data', 'celeba_sample'))
BLUR = (0.5, 1.0, 2.0, 4.0)
NOISE = (0.05, 0.1, 0.2, 0.4)


def config_of():
  config = config_defaults.load_config_file(os.path.join(REPO, 'configs', 'wae.py'))
  config.model.image_size = 64
  config.data.path = ','.join(os.path.join(SAMPLE, name) for name in
                              ('img_align_celeba.zip', 'img_align_celeba_89x109.zip'))
  config.data.split_file = os.path.join(SAMPLE, 'list_eval_partition.txt')
  config.data.workers = 0
  config.eval.batch_size = 100
  config.eval.split = 'val+test'
  return config


def images_of(config, split: str, max_images: int = -1) -> np.ndarray:
  return np.concatenate(list(data.eval_batches(config.data, split, config.model.image_size,
                                               config.eval.batch_size, max_images=max_images)))


def to_uint8(images: np.ndarray) -> np.ndarray:
  return np.round(np.clip(images, 0, 1) * 255).astype(np.uint8)


def scores(extract, images: np.ndarray, reference: np.ndarray) -> dict:
  features = np.concatenate([extract(to_uint8(images[i:i + 100])) for i in range(0, len(images), 100)])
  features = np.asarray(features, np.float64)
  precision, recall = fid.precision_recall(features, reference)
  distance = frechet_distance(features.mean(0), np.cov(features, rowvar=False),
                              reference.mean(0), np.cov(reference, rowvar=False))
  return {'fid': float(distance), 'precision': precision, 'recall': recall}


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument('output')
  parser.add_argument('--num_images', type=int, default=1000)
  args = parser.parse_args()
  config = config_of()
  extract = evaluation.make_feature_extractor(config)
  reference_images = images_of(config, config.eval.split)
  reference = np.concatenate([extract(to_uint8(reference_images[i:i + 100]))
                              for i in range(0, len(reference_images), 100)]).astype(np.float64)
  real = images_of(config, 'train', args.num_images)
  rng = np.random.default_rng(0)
  rows = [{'degradation': 'none', 'strength': 0.0, **scores(extract, real, reference)}]
  print(rows[-1], flush=True)
  for sigma in BLUR:
    blurred = ndimage.gaussian_filter(real, sigma=(0, sigma, sigma, 0))
    rows.append({'degradation': 'blur', 'strength': sigma, **scores(extract, blurred, reference)})
    print(rows[-1], flush=True)
  for sd in NOISE:
    noised = real + rng.normal(0.0, sd, real.shape).astype(np.float32)
    rows.append({'degradation': 'noise', 'strength': sd, **scores(extract, noised, reference)})
    print(rows[-1], flush=True)
  os.makedirs(args.output, exist_ok=True)
  result = {'command': f'python scripts/precision_recall_control.py {args.output}',
            'scored_images': len(real), 'reference_images': len(reference), 'rows': rows}
  with open(os.path.join(args.output, 'control.json'), 'w') as file:
    json.dump(result, file, indent=2)
  lines = ['| degradation | strength | FID | precision | recall |', '|---|---:|---:|---:|---:|']
  lines += [f'| {r["degradation"]} | {r["strength"]:g} | {r["fid"]:.1f} | {r["precision"]:.3f} | '
            f'{r["recall"]:.3f} |' for r in rows]
  with open(os.path.join(args.output, 'control.md'), 'w') as file:
    file.write('\n'.join(lines) + '\n')
  print('\n'.join(lines))


if __name__ == '__main__':
  main()
