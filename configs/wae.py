"""WAE (WAE-GAN) on CelebA 128x128, the thesis's baseline WAE (Section 4.3.2).

  python launch.py --config=configs/wae.py --workdir=workdirs/wae

Encoder 5 x [Conv 5x5/2, BN, ReLU] 128..2048 + Dense 64; decoder Dense 4x4x2048 + BN + ReLU,
transposed convs 1024..128, last transposed conv to 3 channels + sigmoid (no BN: see
configs/wae_resnet.py); latent discriminator 4 x 512. Prior N(0, 1.414^2 I).
"""

from wae_jax.config_defaults import base_config


def get_config():
  config = base_config()
  config.model.name = 'wae'
  return config
