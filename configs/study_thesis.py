"""The thesis's comparison (its Tables 4.3-4.5): VAE, VAE-ResNet, WAE and WAE-ResNet trained on
the same data with the same image budget, then scored on the same images.

  python launch.py --mode=study --config=configs/study_thesis.py:tiny --workdir=studies/tiny
  python launch.py --mode=study --config=configs/study_thesis.py:cpu --workdir=studies/cpu
  python launch.py --mode=study --config=configs/study_thesis.py:gpu --workdir=studies/gpu
  python launch.py --mode=study --config=configs/study_thesis.py:gpu128 --workdir=studies/gpu128
  python launch.py --mode=study --config=configs/study_thesis.py:full --workdir=studies/full

Presets:
- tiny: the bundled demo digits at 32x32, 1/8 widths, latent 8, 40 steps of 32; 64 images per
  part. Minutes on 2 CPU cores; what the test suite runs (with a stand-in FID network).
- cpu: the CelebA sample in ../shared/data/celeba_sample/ (elsewhere: --config.overrides.data.path
  and --config.overrides.data.split_file): the
  4,560 full-size and 10,000 half-size train images, evaluated on the 1,440 val + test images;
  64x64, 1/4 widths, 400 steps of 64 images (25,600 images, ~1.8 epochs) for every model; about
  1.5 hours on a 2-core CPU, half of it scoring 1,440 images per part (docs/results.md).
- gpu: the same data at full width, 64x64, bfloat16, 6,250 steps of 64 (400,000 images); gpu128:
  128x128 on the 4,560 full-size images, 3,900 steps of 64. Sized for minutes on one H100.
- full: the thesis: all of CelebA (data.path as for any CelebA run), 128x128, 100 epochs,
  10,000 images per part, the official test split as the reference.

Every preset follows the thesis's protocol where it speaks: a constant learning rate, no encoder
pre-training, cost 0.05 x ||x - y||^2 on pixels in [0, 1] (see config_defaults.py for the
official WAE code's alternatives), the models' own latent sizes, priors and learning rates.
"""

import os

import ml_collections

CONFIGS_DIR = os.path.dirname(os.path.abspath(__file__))
CELEBA_SAMPLE = os.path.join(CONFIGS_DIR, '..', '..', 'shared', 'data', 'celeba_sample')
MODELS = ['vae', 'vae_resnet', 'wae', 'wae_resnet']


def _celeba_sample(data_dir: str, half_size: bool) -> dict:
  zips = ['img_align_celeba.zip'] + (['img_align_celeba_89x109.zip'] if half_size else [])
  return {'source': 'celeba', 'path': ','.join(os.path.join(data_dir, name) for name in zips),
          'split_file': os.path.join(data_dir, 'list_eval_partition.txt')}


def _eval(num_images: int, split: str, interpolation_pairs: int) -> dict:
  return {'split': split, 'real_split': 'train', 'num_samples': num_images,
          'num_reconstructions': num_images, 'num_interpolations': interpolation_pairs,
          'interpolation_steps': 10}


def _overrides(preset: str, data_dir: str) -> dict:
  if preset == 'tiny':
    return {'model': {'image_size': 32, 'width': 0.125, 'latent_dim': 8},
            'data': {'source': 'mnist_demo', 'crop': 0, 'workers': 0},
            'train': {'batch_size': 32, 'num_steps': 40, 'log_every': 20, 'image_every': 40,
                      'checkpoint_every': 20},
            'eval': {**_eval(64, 'test', 8), 'batch_size': 32}}
  train = {'batch_size': 64, 'log_every': 25}
  if preset == 'sweep':
    return {'model': {'image_size': 64, 'width': 0.25}, 'data': _celeba_sample(data_dir, True),
            'train': {**train, 'num_steps': 150, 'image_every': 150, 'checkpoint_every': 150},
            'eval': _eval(780, 'val', 40)}
  if preset == 'cpu':
    return {'model': {'image_size': 64, 'width': 0.25}, 'data': _celeba_sample(data_dir, True),
            'train': {**train, 'num_steps': 400, 'image_every': 200, 'checkpoint_every': 100},
            'eval': _eval(1440, 'val+test', 180)}
  if preset in ('gpu', 'gpu128'):
    size, steps = (64, 6250) if preset == 'gpu' else (128, 3900)
    return {'model': {'image_size': size}, 'dtype': 'bfloat16',
            'data': _celeba_sample(data_dir, preset == 'gpu'),
            'train': {**train, 'num_steps': steps, 'image_every': 1000, 'checkpoint_every': 1000},
            'eval': _eval(1440, 'val+test', 180)}
  if preset == 'full':
    return {'train': {'num_epochs': 100}, 'eval': _eval(10_000, 'test', 1250)}
  raise ValueError(f'unknown preset {preset!r}: use tiny, cpu, gpu, gpu128 or full')


def get_config(preset: str = 'tiny') -> ml_collections.ConfigDict:
  study = ml_collections.ConfigDict()
  study.name = 'thesis'
  study.preset = preset
  study.description = __doc__.split('\n\n')[0].replace('\n', ' ')
  study.command = (f'python launch.py --mode=study --config=configs/study_thesis.py:{preset} '
                   f'--workdir=studies/{preset}')
  study.configs_dir = CONFIGS_DIR
  study.experiments = tuple(MODELS)
  study.seeds = (0,)
  if preset == 'sweep':
    study.experiments = ('vae', 'wae')
    study.grid = {'objective': {'cost_scale': (0.05, 0.2, 1.0, 5.0)}}
  # Shared by every experiment; any field can be changed on the command line, e.g.
  # --config.overrides.train.num_steps=800 or --config.overrides.data.path=A.zip,B.zip
  study.overrides = _overrides(preset, os.path.normpath(CELEBA_SAMPLE))
  return study
