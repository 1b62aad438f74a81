"""A trained model for notebooks and the evaluator: `wae_jax.load(workdir)` -> Model, whose methods
(encode, decode, sample, reconstruct, interpolate) take and return checked numpy arrays and run
jitted in chunks of config.eval.batch_size; bad inputs raise InputError saying what was expected."""

import copy
from collections.abc import Iterable
from typing import Any, Callable

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from wae_jax import models, objectives, samplers
from wae_jax.models.blocks import BN_MOMENTUM
from wae_jax.checkpoint import Checkpointer, config_from_meta
from wae_jax.errors import InputError, WorkdirError


class Model:
  """Encoder and decoder of an auto-encoder state, with the prior it was trained against."""

  def __init__(self, config: ml_collections.ConfigDict, variables: dict, step: int = 0,
               autoencoder: models.AutoEncoder | None = None, workdir: str | None = None):
    """`autoencoder`: the built networks of `config`, if the caller has them; `workdir`: where the
    samplers keep their fits (None: in memory), named with `batch_stats_tag`."""
    self.config = config
    self.variables = variables
    self.step = step
    self.workdir = workdir
    self.batch_stats_tag = ''
    self.fits: dict[str, Any] = {}
    self.latent_dim = config.model.latent_dim
    if autoencoder is None:
      autoencoder = models.build_for(config).autoencoder
    self._autoencoder = autoencoder
    self._encode = jax.jit(lambda v, x: autoencoder.apply(v, x, method='encode')['mean'])
    self._decode = jax.jit(lambda v, z: autoencoder.apply(v, z, method='decode'))

  @classmethod
  def from_state(cls, config: ml_collections.ConfigDict, ae_state: Any,
                 autoencoder: models.AutoEncoder | None = None) -> 'Model':
    """The model of a live train state (e.g. inside the training loop)."""
    return cls(config, _variables(ae_state), int(ae_state.step), autoencoder)

  def with_state(self, ae_state: Any) -> 'Model':
    """This model's networks, compiled once, with the variables of another train state."""
    return self._with_variables(_variables(ae_state), int(ae_state.step))

  def _with_variables(self, variables: dict, step: int, batch_stats_tag: str | None = None) -> 'Model':
    """A copy with other variables, whose samplers fit anew: in memory, or with a
    `batch_stats_tag` in this model's workdir."""
    model = copy.copy(self)
    model.variables, model.step, model.fits = variables, step, {}
    model.batch_stats_tag = batch_stats_tag or ''
    model.workdir = self.workdir if batch_stats_tag else None
    return model

  def with_recomputed_batch_stats(self, batches: Iterable[np.ndarray], seed: int = 0,
                                  tag: str | None = None) -> 'Model':
    """This model with every BatchNorm layer's statistics re-estimated with its current weights:
    training-mode batch moments (noise from `seed`) averaged over `batches`, which replace the
    running averages that lag the weights early in training. `tag` names them in fit files."""
    @jax.jit
    def batch_moments(variables, images, noise):
      # From zero running statistics, one training-mode update leaves (1 - m) x the batch's own.
      zeros = jax.tree.map(jnp.zeros_like, variables['batch_stats'])
      _, updated = self._autoencoder.apply({'params': variables['params'], 'batch_stats': zeros},
                                           images, noise, train=True, mutable=['batch_stats'])
      return jax.tree.map(lambda x: x / (1.0 - BN_MOMENTUM), updated['batch_stats'])

    total, count = None, 0
    for index, batch in enumerate(batches):
      images = jnp.asarray(self._checked_images(batch))
      noise = jax.random.normal(jax.random.fold_in(jax.random.key(seed), index),
                                (len(images), self.latent_dim), jnp.float32)
      moments = batch_moments(self.variables, images, noise)
      total = moments if total is None else jax.tree.map(jnp.add, total, moments)
      count += 1
    if not count:
      raise InputError('with_recomputed_batch_stats needs at least one batch of images')
    return self._with_variables({'params': self.variables['params'],
                                 'batch_stats': jax.tree.map(lambda x: np.asarray(x / count), total)},
                                self.step, tag)

  @property
  def image_shape(self) -> tuple[int, int, int]:
    size = self.config.model.image_size
    return size, size, 3

  def _chunked(self, fn: Callable, inputs: np.ndarray, output_shape: tuple[int, ...]) -> np.ndarray:
    """Applies fn to float32 `inputs` in fixed-size chunks (the last one padded), so shapes compile
    once; `output_shape` is one output's shape (what an empty input gives)."""
    size = self.config.eval.batch_size
    outputs = [np.zeros((0,) + output_shape, np.float32)]
    for start in range(0, len(inputs), size):
      chunk = inputs[start:start + size]
      padded = np.concatenate([chunk, np.zeros((size - len(chunk),) + chunk.shape[1:], chunk.dtype)])
      outputs.append(np.asarray(fn(self.variables, padded))[:len(chunk)])
    return np.concatenate(outputs)

  def _checked_images(self, images: np.ndarray) -> np.ndarray:
    """`images` as float32 [N, S, S, 3] in [0, 1] (uint8 scaled by 1/255), or InputError."""
    images = np.asarray(images)
    expected = f'[N, {", ".join(map(str, self.image_shape))}]'
    if images.shape == self.image_shape:
      raise InputError(f'got one image {images.shape}; pass a batch {expected}, e.g. image[None]')
    if images.ndim != 4 or images.shape[1:] != self.image_shape:
      raise InputError(f'images of shape {images.shape}: this model takes {expected} (RGB at the '
                       f'{self.image_shape[0]}x{self.image_shape[0]} pixels it was trained on)')
    if images.dtype == np.uint8:
      return images.astype(np.float32) / np.float32(255)
    if not np.issubdtype(images.dtype, np.floating):
      raise InputError(f'images of dtype {images.dtype}: pass float images in [0, 1] or uint8 '
                       'images in [0, 255]')
    images = images.astype(np.float32, copy=False)
    if not np.isfinite(images).all():
      raise InputError(f'images hold {int(np.size(images) - np.isfinite(images).sum())} NaN or '
                       'infinite values: pass finite values in [0, 1]')
    if images.size and not (images.min() >= 0 and images.max() <= 1):
      raise InputError(f'float images with values in [{images.min():.4g}, {images.max():.4g}]: they '
                       'must be in [0, 1] (divide [0, 255] data by 255, or pass it as uint8)')
    return images

  def _checked_codes(self, z: np.ndarray) -> np.ndarray:
    """`z` as float32 [N, latent_dim], or InputError."""
    z = np.asarray(z)
    if z.ndim != 2 or z.shape[1] != self.latent_dim or not np.issubdtype(z.dtype, np.number):
      raise InputError(f'codes of shape {z.shape} and dtype {z.dtype}: this model takes numbers '
                       f'[N, {self.latent_dim}] (one code: z[None])')
    z = z.astype(np.float32, copy=False)
    if not np.isfinite(z).all():
      raise InputError(f'codes hold {int(z.size - np.isfinite(z).sum())} NaN or infinite values: '
                       'they would decode to NaN images')
    return z

  def encode(self, images: np.ndarray) -> np.ndarray:
    """Images [N, S, S, 3] (float in [0, 1], or uint8) -> codes [N, latent_dim] (the mean for VAEs)."""
    return self._chunked(self._encode, self._checked_images(images), (self.latent_dim,))

  def decode(self, z: np.ndarray) -> np.ndarray:
    """Codes [N, latent_dim] -> images [N, S, S, 3] in [0, 1]."""
    return self._chunked(self._decode, self._checked_codes(z), self.image_shape)

  def sample_prior(self, n: int, seed: int = 0) -> np.ndarray:
    """n codes from the prior the objective trained against (N(0, sigma_z^2 I) for every one here)."""
    n = _count(n, 'samples', 'n')
    seed = _count(seed, 'seed', 'seed')
    prior = objectives.get(self.config.objective.name).prior
    return np.asarray(prior(jax.random.key(seed), n, self.latent_dim, self.config.objective))

  def sample(self, n: int, seed: int = 0, sampler: str = 'prior',
             config: ml_collections.ConfigDict | None = None) -> np.ndarray:
    """n images decoded from the codes of `sampler` (a name of wae_jax.samplers: 'prior', 'gmm')
    as `config` sets it (default: the checkpoint's config)."""
    chosen = samplers.get(sampler)
    n, seed = _count(n, 'samples', 'n'), _count(seed, 'seed', 'seed')
    return self.decode(chosen.codes(self, n, seed, config or self.config))

  def code_mixture(self, config: ml_collections.ConfigDict | None = None):
    """The 'gmm' sampler's mixture of this model's codes as `config` (default: the model's) sets
    it (wae_jax.samplers.gmm.mixture: read back where saved, else fitted)."""
    return samplers.get('gmm').mixture(self, config or self.config)

  def reconstruct(self, images: np.ndarray) -> np.ndarray:
    return self.decode(self.encode(images))

  def interpolate(self, x_a: np.ndarray, x_b: np.ndarray, steps: int) -> np.ndarray:
    """Decodes `steps` codes evenly spaced on the segment between the codes of the single images
    x_a and x_b ([S, S, 3] each)."""
    if np.shape(x_a) != self.image_shape or np.shape(x_b) != self.image_shape:
      raise InputError(f'interpolate takes two single images {self.image_shape}, got shapes '
                       f'{np.shape(x_a)} and {np.shape(x_b)}')
    steps = _count(steps, 'interpolation steps', 'steps', minimum=2)
    z_a, z_b = self.encode(np.stack([x_a, x_b]))
    t = np.linspace(0.0, 1.0, steps, dtype=np.float32)[:, None]
    return self.decode((1.0 - t) * z_a + t * z_b)


def _count(value: Any, what: str, name: str, minimum: int = 0) -> int:
  """`value` as an int >= minimum (numpy integers too), or InputError naming the argument."""
  if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)) or value < minimum:
    raise InputError(f'{name}={value!r}: the number of {what} must be a whole number >= {minimum}')
  return int(value)


def _variables(ae_state: Any) -> dict:
  return {'params': ae_state.params, 'batch_stats': ae_state.batch_stats}


def load(workdir: str, step: int | None = None) -> Model:
  """Restores the latest (or the given) checkpoint of a training workdir, without the trainer."""
  checkpointer = Checkpointer(workdir, read_only=True)
  try:
    steps = checkpointer.all_steps()
    if not steps:
      raise WorkdirError(f'{workdir} holds no checkpoint yet: train first')
    if step is None:
      step = steps[-1]
    elif step not in steps:
      raise WorkdirError(f'{workdir} has no checkpoint of step {step}; its checkpoints are of '
                         f'steps {", ".join(map(str, steps))}')
    config = config_from_meta(checkpointer.restore_meta(step))
    variables = checkpointer.restore_variables(step)  # no optimizer or objective built
  finally:
    checkpointer.close()
  return Model(config, variables, step, workdir=workdir)
