"""Model zoo: encoders (`encoders.ENCODERS`) and decoders (`decoders.DECODERS`) found by name,
and the thesis's four models as presets (`PRESETS`)."""

import dataclasses
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from wae_jax import objectives
from wae_jax.errors import ConfigError
from wae_jax.models.component import Sizes
from wae_jax.models.decoders import DECODERS, num_upsamplings
from wae_jax.models.discriminator import LatentDiscriminator
from wae_jax.models.encoders import ENCODERS


class AutoEncoder(nn.Module):
  """Encoder + decoder. `encode` returns {'mean'} (WAE) or {'mean', 'log_var'} (VAE)."""
  encoder: nn.Module
  decoder: nn.Module

  def encode(self, x: jax.Array, train: bool = False) -> dict[str, jax.Array]:
    return self.encoder(x, train)

  def decode(self, z: jax.Array, train: bool = False) -> jax.Array:
    return self.decoder(z, train)

  def __call__(self, x: jax.Array, noise: jax.Array, train: bool = False):
    """Encodes, samples z (reparameterised where the code is Gaussian), decodes: returns
    (codes, reconstruction), codes holding 'z' and the encoder's outputs."""
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


# A model by name (config.model.name): the defaults of config.model.encoder and .decoder.
PRESETS: dict[str, dict[str, str]] = {
    'vae': {'encoder': 'vae_conv', 'decoder': 'vae_conv'},
    'vae_resnet': {'encoder': 'resnet', 'decoder': 'vae_conv'},
    'wae': {'encoder': 'wae_conv', 'decoder': 'wae_conv'},
    'wae_resnet': {'encoder': 'resnet', 'decoder': 'wae_conv'},
}
ROLES = {'encoder': ENCODERS, 'decoder': DECODERS}

DTYPES = {'float32': jnp.float32, 'bfloat16': jnp.bfloat16}


def component_name(cfg: Any, role: str) -> str:
  """config.model.encoder (or .decoder), where '' means the preset's (config.model.name)."""
  return cfg.get(role) or PRESETS[cfg.name][role]


def sizes_of(cfg: Any, role: str) -> Sizes:
  """The sizes of the encoder or decoder `cfg` (config.model) asks for: its <role>_widths and
  <role>_hidden_units, where None means the component's thesis sizes; widths scaled by cfg.width."""
  thesis = ROLES[role][component_name(cfg, role)].thesis_sizes
  widths = thesis.widths if cfg.get(f'{role}_widths') is None else tuple(cfg.get(f'{role}_widths'))
  hidden = cfg.get(f'{role}_hidden_units')
  return Sizes(tuple(max(1, int(round(w * cfg.width))) for w in widths),
               thesis.hidden_units if hidden is None else hidden)


def check(model_config: Any, dtype: str = 'float32') -> None:
  """ConfigError, on one line naming the field, for a model config that cannot be built."""
  if model_config.name not in PRESETS:
    raise ConfigError(f'unknown model {model_config.name!r}: config.model.name must be one of '
                      f'{", ".join(sorted(PRESETS))}')
  if dtype not in DTYPES:
    raise ConfigError(f'unknown dtype {dtype!r}: config.dtype must be one of {", ".join(DTYPES)}')
  try:
    num_upsamplings(model_config.image_size)
  except ValueError as e:
    raise ConfigError(f'config.model.image_size: {e}') from None
  for role, components in ROLES.items():
    name = component_name(model_config, role)
    if name not in components:
      raise ConfigError(f'unknown {role} {name!r}: config.model.{role} must be one of '
                        f'{", ".join(sorted(components))} (or empty: the model\'s own)')
    sizes = sizes_of(model_config, role)
    if not isinstance(sizes.hidden_units, int) or sizes.hidden_units < 0:
      raise ConfigError(f'config.model.{role}_hidden_units={sizes.hidden_units!r}: a whole number '
                        '>= 0 (0: no hidden layer)')
    problem = components[name].check(sizes, model_config.image_size, f'config.model.{role}_')
    if problem:
      raise ConfigError(problem)


def build(model_config: Any, dtype: str = 'float32', axis_name: str | None = None, *,
          code: objectives.Code) -> Networks:
  """Builds the networks `model_config` names (checked first), the encoder giving `code`;
  BatchNorm averages its training statistics over the device axis `axis_name` (None: one)."""
  check(model_config, dtype)
  compute = DTYPES[dtype]
  encoder = ENCODERS[component_name(model_config, 'encoder')].build(
      sizes_of(model_config, 'encoder'), model_config, compute, axis_name,
      gaussian=code == 'gaussian')
  decoder = DECODERS[component_name(model_config, 'decoder')].build(
      sizes_of(model_config, 'decoder'), model_config, compute, axis_name)
  return Networks(AutoEncoder(encoder, decoder), LatentDiscriminator(dtype=compute))


def build_for(config: Any, axis_name: str | None = None) -> Networks:
  """The networks of an experiment config: its model, dtype and the code its objective needs."""
  return build(config.model, config.dtype, axis_name, code=objectives.get(config.objective.name).needs)
