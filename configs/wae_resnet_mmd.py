"""WAE-ResNet-MMD on CelebA 128x128: the ResNet encoder with the IMQ-kernel MMD penalty.

  python launch.py --config=configs/wae_resnet_mmd.py --workdir=workdirs/wae_resnet_mmd

lambda = 100 (WAE paper, CelebA, MMD). No discriminator.
"""

from wae_jax.config_defaults import base_config


def get_config():
  config = base_config()
  config.objective.name = 'wae_mmd'
  config.objective.penalty_weight = 100.0
  return config
