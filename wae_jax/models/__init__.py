"""Model zoo: the thesis's four architectures, found by name.

`build(model_config, dtype, axis_name)` returns `Networks(autoencoder, discriminator)`. The
architectures (thesis Chapter 4) are registered in `ARCHITECTURES`, each with the kind of code
its encoder gives; the objective (VAE, WAE-GAN, WAE-MMD) is chosen separately in
`wae_jax.objectives`, which checks that it fits the architecture's code.
"""

import dataclasses
import functools
from typing import Any, Callable, Literal

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


@dataclasses.dataclass(frozen=True)
class Sizes:
  """Widths of an architecture: `config.model`'s fields of the same names (None = these)."""
  encoder_widths: tuple[int, ...]  # per stride-2 conv; ResNet: per stage (bottleneck f, f, 4f)
  decoder_widths: tuple[int, ...]  # the 4x4 map's channels, then each stride-2 transposed conv
  encoder_hidden_units: int  # a Dense layer before the latent head; 0: none
  decoder_hidden_units: int  # a Dense layer before the projection to 4x4; 0: none


def sizes_of(cfg: Any) -> Sizes:
  """The sizes `cfg` (config.model) asks for: its own fields, else the thesis's for its
  architecture; convolution widths scaled by `cfg.width`."""
  thesis = ARCHITECTURES[cfg.name].thesis_sizes
  chosen = {field.name: getattr(thesis, field.name) if cfg.get(field.name) is None
            else cfg.get(field.name) for field in dataclasses.fields(Sizes)}
  for field in ('encoder_widths', 'decoder_widths'):
    chosen[field] = _scaled(chosen[field], cfg.width)
  return Sizes(**chosen)


# What tells the VAE's and the WAE's convolutional networks apart besides their sizes
# (thesis 4.3.1 and 4.3.2).
_VAE_STYLE = {'kernel_size': 3, 'activation': 'leaky_relu'}
_WAE_STYLE = {'kernel_size': 5, 'activation': 'relu'}
_VAE_DECODER = {**_VAE_STYLE, 'final_strides': 1, 'dense_activation': 'selu', 'dense_norm': False,
                'norm_first': False}
_WAE_DECODER = {**_WAE_STYLE, 'final_strides': 2, 'dense_activation': 'relu', 'dense_norm': True,
                'norm_first': True}


def _conv_decoder(style, cfg, dtype, axis_name):
  sizes = sizes_of(cfg)
  return ConvDecoder(cfg.image_size, sizes.decoder_widths[1:],
                     base_channels=sizes.decoder_widths[0], hidden_units=sizes.decoder_hidden_units,
                     axis_name=axis_name, dtype=dtype, **style)


def _conv_encoder(style, cfg, dtype, axis_name, gaussian):
  sizes = sizes_of(cfg)
  return ConvEncoder(sizes.encoder_widths, latent_dim=cfg.latent_dim,
                     hidden_units=sizes.encoder_hidden_units, gaussian=gaussian,
                     axis_name=axis_name, dtype=dtype, **style)


def _resnet_encoder(cfg, dtype, axis_name, gaussian):
  sizes = sizes_of(cfg)
  stages = tuple((f, f, 4 * f) for f in sizes.encoder_widths)
  return ResNetEncoder(cfg.latent_dim, stage_filters=stages, stem_features=sizes.encoder_widths[0],
                       hidden_units=sizes.encoder_hidden_units, gaussian=gaussian,
                       axis_name=axis_name, dtype=dtype)


# What an encoder gives: a point code z (WAE), or a Gaussian's mean and log-variance from which
# z is sampled (VAE).
Code = Literal['point', 'gaussian']


@dataclasses.dataclass(frozen=True)
class Architecture:
  """An encoder factory (config, dtype, axis_name, gaussian), a decoder factory (config, dtype,
  axis_name), the code the encoder gives (a Gaussian code gets two heads) and the thesis's
  sizes (Chapter 4), which `config.model` may override field by field."""
  encoder: Callable[..., nn.Module]
  decoder: Callable[..., nn.Module]
  code: Code
  thesis_sizes: Sizes


_vae_encoder = functools.partial(_conv_encoder, {**_VAE_STYLE, 'hidden_activation': 'selu'})
_wae_encoder = functools.partial(_conv_encoder, {**_WAE_STYLE, 'hidden_activation': 'relu'})
_vae_decoder = functools.partial(_conv_decoder, _VAE_DECODER)
_wae_decoder = functools.partial(_conv_decoder, _WAE_DECODER)
_VAE_WIDTHS, _WAE_WIDTHS = (32, 64, 128, 256, 512), (128, 256, 512, 1024, 2048)
_RESNET_STAGES = (64, 128, 256, 512)
_VAE_DECODER_WIDTHS, _WAE_DECODER_WIDTHS = (512, 256, 128, 64, 32, 16), (2048, 1024, 512, 256, 128)
ARCHITECTURES: dict[str, Architecture] = {
    'vae': Architecture(_vae_encoder, _vae_decoder, 'gaussian',
                        Sizes(_VAE_WIDTHS, _VAE_DECODER_WIDTHS, 2048, 2048)),
    'vae_resnet': Architecture(_resnet_encoder, _vae_decoder, 'gaussian',
                               Sizes(_RESNET_STAGES, _VAE_DECODER_WIDTHS, 0, 2048)),
    'wae': Architecture(_wae_encoder, _wae_decoder, 'point',
                        Sizes(_WAE_WIDTHS, _WAE_DECODER_WIDTHS, 0, 0)),
    'wae_resnet': Architecture(_resnet_encoder, _wae_decoder, 'point',
                               Sizes(_RESNET_STAGES, _WAE_DECODER_WIDTHS, 0, 0)),
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
  architecture = ARCHITECTURES[model_config.name]
  compute = DTYPES[dtype]
  encoder = architecture.encoder(model_config, compute, axis_name,
                                 gaussian=architecture.code == 'gaussian')
  if model_config.image_size < encoder.MIN_IMAGE_SIZE:
    raise ConfigError(f'config.model.image_size={model_config.image_size} is too small for the '
                      f'{model_config.name} encoder: use at least {encoder.MIN_IMAGE_SIZE}')
  sizes = sizes_of(model_config)
  decoder = architecture.decoder(model_config, compute, axis_name)
  needed = 1 + num_upsamplings(model_config.image_size) - (decoder.final_strides == 2)
  if len(sizes.decoder_widths) < needed:
    raise ConfigError(f'config.model.decoder_widths={sizes.decoder_widths}: {model_config.name} at '
                      f'{model_config.image_size}x{model_config.image_size} needs {needed} widths '
                      '(the 4x4 map, then each stride-2 transposed convolution)')
  stages = getattr(encoder, 'identity_blocks', None)
  if not sizes.encoder_widths or (stages is not None and len(sizes.encoder_widths) != len(stages)):
    what = f'{len(stages)} (one per ResNet stage)' if stages is not None else 'at least one'
    raise ConfigError(f'config.model.encoder_widths={sizes.encoder_widths}: {model_config.name} '
                      f'takes {what}')
  autoencoder = AutoEncoder(encoder, decoder)
  return Networks(autoencoder, LatentDiscriminator(dtype=compute))


def code_of(model_name: str) -> Code:
  """The code the named architecture's encoder gives: 'point' or 'gaussian'."""
  return ARCHITECTURES[model_name].code
