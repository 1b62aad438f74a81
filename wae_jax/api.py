"""A trained model for notebooks and the evaluator: `wae_jax.load(workdir)`.

    model = wae_jax.load('workdirs/wae_resnet')
    images = model.sample(16, seed=0)             # [16, H, W, 3] in [0, 1]
    z = model.encode(test_images)                 # codes (the mean for VAEs)
    rows = model.interpolate(x_a, x_b, steps=10)  # linear in z, ends = reconstructions

Every method takes and returns numpy arrays, runs compiled (jit) in chunks of
`config.eval.batch_size`, and uses BatchNorm running statistics.
"""

import functools
from typing import Any, Callable

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from wae_jax import models
from wae_jax.checkpoint import Checkpointer, config_from_meta
from wae_jax.errors import WorkdirError
from wae_jax.train_state import create_train_states


class Model:
  """Encoder and decoder of an auto-encoder state, with the prior it was trained against."""

  def __init__(self, config: ml_collections.ConfigDict, variables: dict, step: int = 0):
    self.config = config
    self.variables = variables
    self.step = step
    self.latent_dim = config.model.latent_dim
    autoencoder = models.build(config.model, config.dtype).autoencoder
    self._encode = jax.jit(lambda v, x: autoencoder.apply(v, x, method='encode')['mean'])
    self._decode = jax.jit(lambda v, z: autoencoder.apply(v, z, method='decode'))

  @classmethod
  def from_state(cls, config: ml_collections.ConfigDict, ae_state: Any) -> 'Model':
    """The model of a live train state (e.g. inside the training loop)."""
    return cls(config, {'params': ae_state.params, 'batch_stats': ae_state.batch_stats},
               int(ae_state.step))

  def _chunked(self, fn: Callable, inputs: np.ndarray) -> np.ndarray:
    """Applies fn in fixed-size chunks (the last one padded), so shapes compile once."""
    size = self.config.eval.batch_size
    inputs = np.asarray(inputs, np.float32)
    outputs = []
    for start in range(0, len(inputs), size):
      chunk = inputs[start:start + size]
      padded = np.concatenate([chunk, np.zeros((size - len(chunk),) + chunk.shape[1:], chunk.dtype)])
      outputs.append(np.asarray(fn(self.variables, padded))[:len(chunk)])
    return np.concatenate(outputs) if outputs else np.zeros((0,), np.float32)

  def encode(self, images: np.ndarray) -> np.ndarray:
    """Images [N, H, W, 3] in [0, 1] -> codes [N, latent_dim] (the mean for VAEs)."""
    return self._chunked(self._encode, images)

  def decode(self, z: np.ndarray) -> np.ndarray:
    """Codes [N, latent_dim] -> images [N, H, W, 3] in [0, 1]."""
    return self._chunked(self._decode, z)

  def sample_prior(self, n: int, seed: int = 0) -> np.ndarray:
    """n codes from the prior N(0, sigma_z^2 I)."""
    z = jax.random.normal(jax.random.key(seed), (n, self.latent_dim), jnp.float32)
    return np.asarray(self.config.objective.sigma_z * z)

  def sample(self, n: int, seed: int = 0) -> np.ndarray:
    return self.decode(self.sample_prior(n, seed))

  def reconstruct(self, images: np.ndarray) -> np.ndarray:
    return self.decode(self.encode(images))

  def interpolate(self, x_a: np.ndarray, x_b: np.ndarray, steps: int) -> np.ndarray:
    """Decodes `steps` codes evenly spaced on the segment between the codes of x_a and x_b."""
    z_a, z_b = self.encode(np.stack([x_a, x_b]))
    t = np.linspace(0.0, 1.0, steps, dtype=np.float32)[:, None]
    return self.decode((1.0 - t) * z_a + t * z_b)


def load(workdir: str, step: int | None = None) -> Model:
  """Restores the latest (or the given) checkpoint of a training workdir, without the trainer."""
  checkpointer = Checkpointer(workdir, read_only=True)
  step = checkpointer.latest_step() if step is None else step
  if step is None:
    raise WorkdirError(f'{workdir} holds no checkpoint yet: train first')
  config = config_from_meta(checkpointer.restore_meta(step))
  networks = models.build(config.model, config.dtype)
  abstract = jax.eval_shape(functools.partial(create_train_states, config, networks),
                            jax.random.key(0))
  ae_state, _, _, _ = checkpointer.restore(abstract[0], None, step)
  checkpointer.close()
  return Model(config, {'params': ae_state.params, 'batch_stats': ae_state.batch_stats}, step)
