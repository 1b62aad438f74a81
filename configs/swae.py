"""SWAE (Kolouri et al. 2019) on CelebA 128x128: the WAE architecture with the sliced
2-Wasserstein penalty between codes and prior samples (wae_jax/objectives/swae.py).

  python launch.py --config=configs/swae.py --workdir=workdirs/swae

lambda = 1 and the prior N(0, 1.414^2 I), as the WAE-GAN's; 50 random directions per step. Not
tuned. No discriminator.
"""

from wae_jax.config_defaults import base_config


def get_config():
  config = base_config()
  config.model.name = 'wae'
  config.objective.name = 'swae'
  return config
