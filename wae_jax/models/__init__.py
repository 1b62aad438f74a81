"""Model zoo: the thesis's four architectures, found by name.

`build(model_config, dtype, axis_name)` returns `Networks(autoencoder, discriminator)`. The
architectures (thesis Chapter 4) are registered in `ARCHITECTURES`; the objective (VAE,
WAE-GAN, WAE-MMD) is chosen separately in `wae_jax.losses`.
"""

import dataclasses
import functools
from typing import Any, Callable

import flax.linen as nn
import jax
import jax.numpy as jnp

from wae_jax.errors import ConfigError
from wae_jax.models.decoders import ConvDecoder, num_upsamplings
from wae_jax.models.discriminator import LatentDiscriminator
from wae_jax.models.encoders import ConvEncoder, ResNetEncoder


class AutoEncoder(nn.Module):
  """Encoder + decoder. `encode` returns {'mean'} (WAE) or {'mean', 'log_var'} (VAE)."""
  encoder: nn.Module
  decoder: nn.Module

  def encode(self, x: jax.Array, train: bool = False) -> dict[str, jax.Array]:
    return self.encoder(x, train)

  def decode(self, z: jax.Array, train: bool = False) -> jax.Array:
    return self.decoder(z, train)

  def __call__(self, x: jax.Array, noise: jax.Array, train: bool = False):
    """Encodes, samples z (reparameterised where the code is Gaussian), decodes.

    Returns (codes, reconstruction), codes holding 'z' and the encoder's outputs.
    """
    codes = dict(self.encode(x, train))
    z = codes['mean']
    if 'log_var' in codes:
      z = z + jnp.exp(0.5 * codes['log_var']) * noise
    codes['z'] = z
    return codes, self.decode(z, train)


@dataclasses.dataclass(frozen=True)
class Networks:
  autoencoder: AutoEncoder
  discriminator: LatentDiscriminator


def _scaled(widths, width: float):
  return tuple(max(1, int(round(w * width))) for w in widths)


def _vae_decoder(cfg, dtype, axis_name):
  return ConvDecoder(cfg.image_size, _scaled((256, 128, 64, 32, 16), cfg.width), kernel_size=3,
                     activation='leaky_relu', base_channels=_scaled((512,), cfg.width)[0],
                     final_strides=1, hidden_units=2048, dense_activation='selu',
                     dense_norm=False, norm_first=False, axis_name=axis_name, dtype=dtype)


def _wae_decoder(cfg, dtype, axis_name):
  return ConvDecoder(cfg.image_size, _scaled((1024, 512, 256, 128), cfg.width), kernel_size=5,
                     activation='relu', base_channels=_scaled((2048,), cfg.width)[0],
                     final_strides=2, dense_activation='relu', dense_norm=True, norm_first=True,
                     axis_name=axis_name, dtype=dtype)


def _vae_encoder(cfg, dtype, axis_name, gaussian=True):
  return ConvEncoder(_scaled((32, 64, 128, 256, 512), cfg.width), kernel_size=3,
                     activation='leaky_relu', latent_dim=cfg.latent_dim, hidden_units=2048,
                     hidden_activation='selu', gaussian=gaussian, axis_name=axis_name, dtype=dtype)


def _wae_encoder(cfg, dtype, axis_name, gaussian=False):
  return ConvEncoder(_scaled((128, 256, 512, 1024, 2048), cfg.width), kernel_size=5,
                     activation='relu', latent_dim=cfg.latent_dim, gaussian=gaussian,
                     axis_name=axis_name, dtype=dtype)


def _resnet_encoder(cfg, dtype, axis_name, gaussian):
  stages = tuple(_scaled(f, cfg.width) for f in ((64, 64, 256), (128, 128, 512),
                                                  (256, 256, 1024), (512, 512, 2048)))
  return ResNetEncoder(cfg.latent_dim, stage_filters=stages, stem_features=_scaled((64,), cfg.width)[0],
                       gaussian=gaussian, axis_name=axis_name, dtype=dtype)


# name -> (encoder factory, decoder factory). Gaussian (VAE) encoders get two heads.
ARCHITECTURES: dict[str, tuple[Callable, Callable]] = {
    'vae': (functools.partial(_vae_encoder, gaussian=True), _vae_decoder),
    'vae_resnet': (functools.partial(_resnet_encoder, gaussian=True), _vae_decoder),
    'wae': (functools.partial(_wae_encoder, gaussian=False), _wae_decoder),
    'wae_resnet': (functools.partial(_resnet_encoder, gaussian=False), _wae_decoder),
}

DTYPES = {'float32': jnp.float32, 'bfloat16': jnp.bfloat16}


def build(model_config: Any, dtype: str = 'float32', axis_name: str | None = None) -> Networks:
  """Builds the networks named by `model_config.name`.

  `axis_name` names the device axis over which BatchNorm averages its training statistics;
  leave it None outside a sharded step.
  """
  if model_config.name not in ARCHITECTURES:
    raise ConfigError(f'unknown model {model_config.name!r}: config.model.name must be one of '
                      f'{", ".join(sorted(ARCHITECTURES))}')
  if dtype not in DTYPES:
    raise ConfigError(f'unknown dtype {dtype!r}: config.dtype must be one of {", ".join(DTYPES)}')
  try:
    num_upsamplings(model_config.image_size)
  except ValueError as e:
    raise ConfigError(f'config.model.image_size: {e}') from None
  make_encoder, make_decoder = ARCHITECTURES[model_config.name]
  compute = DTYPES[dtype]
  encoder = make_encoder(model_config, compute, axis_name)
  if model_config.image_size < encoder.MIN_IMAGE_SIZE:
    raise ConfigError(f'config.model.image_size={model_config.image_size} is too small for the '
                      f'{model_config.name} encoder: use at least {encoder.MIN_IMAGE_SIZE}')
  autoencoder = AutoEncoder(encoder, make_decoder(model_config, compute, axis_name))
  return Networks(autoencoder, LatentDiscriminator(dtype=compute))


def is_gaussian(model_config: Any) -> bool:
  """True for the VAE architectures (encoder with mean and log-variance heads)."""
  return model_config.name.startswith('vae')
