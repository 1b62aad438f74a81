"""Architectures: parameter counts derived from the thesis's layer lists, shapes, ranges."""

import functools

import jax
import jax.numpy as jnp
import pytest

from wae_jax import models
from wae_jax.config_defaults import base_config
from wae_jax.errors import ConfigError
from wae_jax.train_state import create_train_states, param_count


def conv(k, c_in, c_out):
  """A k x k convolution (or transposed convolution) with bias."""
  return k * k * c_in * c_out + c_out


def bn(c):
  """BatchNorm parameters: scale and offset (the running statistics are not parameters)."""
  return 2 * c


def dense(n_in, n_out):
  return n_in * n_out + n_out


def bottleneck(c_in, filters, project):
  f1, f2, f3 = filters
  total = conv(1, c_in, f1) + bn(f1) + conv(3, f1, f2) + bn(f2) + conv(1, f2, f3) + bn(f3)
  return total + (conv(1, c_in, f3) + bn(f3) if project else 0)


def resnet_body():
  """Stem conv 7x7 3->64 + BN; stages [64,64,256] x (1 conv + 2 identity), [128,128,512],
  [256,256,1024], [512,512,2048] x (1 conv + 3 identity); at 128 px the map is 8x8x2048 after
  stage 5 (132 -> 63 -> 61 -> 61 -> 31 -> 16 -> 8), 4x4x2048 = 32768 after AvgPool 2x2."""
  total = conv(7, 3, 64) + bn(64)
  c_in = 64
  for filters, identities in (((64, 64, 256), 2), ((128, 128, 512), 3),
                              ((256, 256, 1024), 3), ((512, 512, 2048), 3)):
    total += bottleneck(c_in, filters, True) + identities * bottleneck(filters[2], filters, False)
    c_in = filters[2]
  return total


def expected_counts():
  """Parameter counts at 128x128 from the layer lists (thesis Chapter 4):

  VAE encoder: 3x3 convs 3->32->64->128->256->512 (+BN), 4x4x512 -> Dense 2048, two heads 2048->512.
  WAE encoder: 5x5 convs 3->128->256->512->1024->2048 (+BN), 4x4x2048 -> Dense 64.
  ResNet encoder: see resnet_encoder; heads from 32768 features.
  VAE decoder: Dense 512->2048 + BN(2048), Dense 2048->8192, 3x3 transposed convs
    512->256->128->64->32->16 (+BN), 3x3 transposed conv 16->3.
  WAE decoder: Dense 64->32768 + BN(32768), 5x5 transposed convs 2048->1024->512->256->128 (+BN),
    5x5 transposed conv 128->3.
  Discriminator: Dense 64->512, 3 x 512->512, 512->1.
  """
  vae_convs = sum(conv(3, a, b) + bn(b) for a, b in zip((3, 32, 64, 128, 256), (32, 64, 128, 256, 512)))
  vae_encoder = vae_convs + dense(4 * 4 * 512, 2048) + 2 * dense(2048, 512)
  wae_convs = sum(conv(5, a, b) + bn(b)
                  for a, b in zip((3, 128, 256, 512, 1024), (128, 256, 512, 1024, 2048)))
  wae_encoder = wae_convs + dense(4 * 4 * 2048, 64)
  body = resnet_body()
  vae_decoder = (dense(512, 2048) + bn(2048) + dense(2048, 8192)
                 + sum(conv(3, a, b) + bn(b) for a, b in zip((512, 256, 128, 64, 32), (256, 128, 64, 32, 16)))
                 + conv(3, 16, 3))
  wae_decoder = (dense(64, 32768) + bn(32768)
                 + sum(conv(5, a, b) + bn(b) for a, b in zip((2048, 1024, 512, 256), (1024, 512, 256, 128)))
                 + conv(5, 128, 3))
  discriminator = dense(64, 512) + 3 * dense(512, 512) + dense(512, 1)
  return {
      'vae': (vae_encoder, vae_decoder, None),
      'vae_resnet': (body + 2 * dense(32768, 512), vae_decoder, None),
      'wae': (wae_encoder, wae_decoder, discriminator),
      'wae_resnet': (body + dense(32768, 64), wae_decoder, discriminator),
  }


def thesis_config(name):
  config = base_config()
  config.model.name = name
  if name.startswith('vae'):
    config.model.latent_dim = 512
    config.objective.name = 'vae'
  return config


@pytest.mark.parametrize('name', sorted(models.PRESETS))
def test_parameter_counts_at_128(name):
  config = thesis_config(name)
  networks = models.build_for(config)
  ae_state, disc_state = jax.eval_shape(functools.partial(create_train_states, config, networks),
                                        jax.random.key(0))
  encoder, decoder, discriminator = expected_counts()[name]
  assert param_count(ae_state.params['encoder']) == encoder
  assert param_count(ae_state.params['decoder']) == decoder
  assert (disc_state is None) == (discriminator is None)
  if discriminator is not None:
    assert param_count(disc_state.params) == discriminator


@pytest.mark.parametrize('name', sorted(models.PRESETS))
def test_shapes_at_every_size_and_output_range(name):
  config = thesis_config(name)
  config.model.width = 1 / 16
  for size in (32, 64, 128):
    config.model.image_size = size
    networks = models.build_for(config)
    x = jax.ShapeDtypeStruct((2, size, size, 3), jnp.float32)
    noise = jax.ShapeDtypeStruct((2, config.model.latent_dim), jnp.float32)
    variables = jax.eval_shape(networks.autoencoder.init, jax.random.key(0), x, noise)
    codes, y = jax.eval_shape(networks.autoencoder.apply, variables, x, noise)
    assert y.shape == x.shape
    assert codes['z'].shape == (2, config.model.latent_dim)
    assert ('log_var' in codes) == name.startswith('vae')  # the VAE objective's Gaussian code
  if name not in ('vae', 'wae'):
    return  # the decoders below are the VAE's and the WAE's; the ResNet encoder trains in test_train
  # A real forward pass at 32 px, in training mode: a sigmoid output stays in [0, 1].
  config.model.image_size = 32
  networks = models.build_for(config)
  x = jax.random.uniform(jax.random.key(0), (2, 32, 32, 3))
  noise = jnp.zeros((2, config.model.latent_dim))
  variables = jax.jit(networks.autoencoder.init)(jax.random.key(1), x, noise)
  train_apply = functools.partial(networks.autoencoder.apply, train=True, mutable=['batch_stats'])
  (_, y), _ = jax.jit(train_apply)(variables, x, noise)
  assert float(y.min()) >= 0.0 and float(y.max()) <= 1.0


def test_bad_names_and_sizes_are_config_errors():
  config = thesis_config('wae')
  config.model.name = 'wae_transformer'
  with pytest.raises(ConfigError, match='unknown model'):
    models.build_for(config)
  config.model.name = 'wae'
  config.model.image_size = 48
  with pytest.raises(ConfigError, match='image_size'):
    models.build_for(config)
  config.model.name = 'wae_resnet'
  config.model.image_size = 16
  with pytest.raises(ConfigError, match='too small'):
    models.build_for(config)


def test_the_code_follows_the_objective_not_the_preset():
  """A Gaussian head where the objective reads a mean and log-variance, whatever the preset."""
  config = thesis_config('wae')
  config.model.image_size, config.model.width = 32, 1 / 16
  x = jax.ShapeDtypeStruct((2, 32, 32, 3), jnp.float32)
  noise = jax.ShapeDtypeStruct((2, config.model.latent_dim), jnp.float32)
  for objective, gaussian in (('wae_gan', False), ('vae', True)):
    config.objective.name = objective
    autoencoder = models.build_for(config).autoencoder
    codes, _ = jax.eval_shape(autoencoder.apply, jax.eval_shape(autoencoder.init, jax.random.key(0), x, noise), x, noise)
    assert ('log_var' in codes) == gaussian
    assert models.build(config.model, code='gaussian' if gaussian else 'point') == models.build_for(config)


def test_sizes_are_config_fields_with_the_thesis_as_default():
  config = thesis_config('wae')
  config.model.image_size, config.model.latent_dim = 32, 8

  def counts():
    ae_state, _ = jax.eval_shape(functools.partial(create_train_states, config,
                                                   models.build_for(config)), jax.random.key(0))
    return param_count(ae_state.params['encoder']), param_count(ae_state.params['decoder'])

  thesis = counts()
  config.model.encoder_widths = models.ENCODERS['wae_conv'].thesis_sizes.widths
  config.model.decoder_widths = models.DECODERS['wae_conv'].thesis_sizes.widths
  assert counts() == thesis  # None means exactly the thesis's sizes
  # 32 px: two stride-2 5x5 convs 3->8->16 (+BN) to 8x8x16, a hidden Dense 16, the head to 8;
  # decoder Dense 8->4x4x32 + BN, transposed convs 32->16->8 (+BN), the last 8->3 (stride 2).
  config.model.encoder_widths, config.model.encoder_hidden_units = (8, 16), 16
  config.model.decoder_widths = (32, 16, 8)
  encoder = conv(5, 3, 8) + bn(8) + conv(5, 8, 16) + bn(16) + dense(8 * 8 * 16, 16) + dense(16, 8)
  decoder = (dense(8, 4 * 4 * 32) + bn(4 * 4 * 32) + conv(5, 32, 16) + bn(16) + conv(5, 16, 8)
             + bn(8) + conv(5, 8, 3))
  assert counts() == (encoder, decoder)


def test_sizes_that_cannot_build_the_architecture_are_config_errors():
  config = thesis_config('wae')
  config.model.image_size, config.model.decoder_widths = 64, (32, 16)
  with pytest.raises(ConfigError, match=r'^config.model.decoder_widths=\(32, 16\): the wae_conv decoder at '
                     r'64x64 needs 4 widths \(the 4x4 map, then each stride-2 transposed convolution\)$'):
    models.build_for(config)
  config = thesis_config('wae_resnet')
  config.model.encoder_widths = (8, 16, 32)
  with pytest.raises(ConfigError, match=r'^config.model.encoder_widths=\(8, 16, 32\): the resnet encoder '
                     r'takes 4 \(one per ResNet stage\)$'):
    models.build_for(config)
  config = thesis_config('wae')
  config.model.decoder_hidden_units = -2
  with pytest.raises(ConfigError, match=r'^config.model.decoder_hidden_units=-2: a whole number >= 0'):
    models.build_for(config)


def test_encoder_and_decoder_are_chosen_separately_and_the_presets_are_their_pairs():
  """The WAE preset with the ResNet encoder is WAE-ResNet, parameter for parameter; a VAE decoder
  under a WAE encoder takes its own thesis sizes; a name that is no component is one line."""
  def counts(config):
    ae_state, _ = jax.eval_shape(functools.partial(create_train_states, config,
                                                   models.build_for(config)), jax.random.key(0))
    return param_count(ae_state.params['encoder']), param_count(ae_state.params['decoder'])

  expected = expected_counts()
  config = thesis_config('wae')
  config.model.encoder = 'resnet'
  assert counts(config) == expected['wae_resnet'][:2]
  config = thesis_config('wae')
  config.model.decoder = 'vae_conv'
  config.model.latent_dim = 512
  assert counts(config) == (expected['wae'][0] + dense(4 * 4 * 2048, 512) - dense(4 * 4 * 2048, 64),
                            expected['vae'][1])
  for role, components in models.ROLES.items():
    names = ', '.join(sorted(components))  # the registry's: a new encoder's line adds its name
    config = thesis_config('wae')
    config.model[role] = 'unet'
    with pytest.raises(ConfigError) as error:
      models.build_for(config)
    assert str(error.value) == (f"unknown {role} 'unet': config.model.{role} must be one of {names} "
                                "(or empty: the model's own)")


def test_a_new_encoder_is_a_module_and_its_component_line(monkeypatch):
  """The extension point: a Flax module and a Component in ENCODERS, nothing else, then
  config.model.encoder picks it under any preset, its own check refusing what it cannot build."""
  import flax.linen as nn
  from wae_jax.models.component import Component, Sizes

  class MLPEncoder(nn.Module):
    units: tuple
    latent_dim: int

    @nn.compact
    def __call__(self, x, train=False):
      x = x.reshape((x.shape[0], -1))
      for units in self.units:
        x = nn.relu(nn.Dense(units)(x))
      return {'mean': nn.Dense(self.latent_dim)(x)}

  def check(sizes, image_size, fields):
    return None if image_size <= 64 else f'config.model.image_size={image_size}: mlp takes at most 64'
  monkeypatch.setitem(models.ENCODERS, 'mlp', Component(
      lambda sizes, cfg, dtype, axis_name, gaussian: MLPEncoder(sizes.widths, cfg.latent_dim),
      Sizes((32,), 0), check))
  config = thesis_config('wae')
  config.model.encoder, config.model.image_size, config.model.width = 'mlp', 32, 1 / 16
  ae_state, _ = jax.eval_shape(functools.partial(create_train_states, config,
                                                 models.build_for(config)), jax.random.key(0))
  assert param_count(ae_state.params['encoder']) == dense(32 * 32 * 3, 2) + dense(2, 64)  # 32 x 1/16
  config.model.image_size = 128
  with pytest.raises(ConfigError, match=r'^config.model.image_size=128: mlp takes at most 64$'):
    models.check(config.model)
