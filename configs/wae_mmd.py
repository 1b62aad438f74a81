"""WAE-MMD on CelebA 128x128: the WAE architecture with the IMQ-kernel MMD penalty.

  python launch.py --config=configs/wae_mmd.py --workdir=workdirs/wae_mmd

lambda = 100, as the WAE paper uses for WAE-MMD on CelebA. No discriminator.
"""

from wae_jax.config_defaults import base_config


def get_config():
  config = base_config()
  config.model.name = 'wae'
  config.objective.name = 'wae_mmd'
  config.objective.penalty_weight = 100.0
  return config
