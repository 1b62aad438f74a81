"""VAE-ResNet on CelebA 128x128 (thesis Section 4.3.3).

  python launch.py --config=configs/vae_resnet.py --workdir=workdirs/vae_resnet

The ResNet encoder of WAE-ResNet with the VAE decoder. The thesis lists a final Dense 64 but a
latent of 512; we read the encoder as ending in two Dense heads (mean, log-variance) of the
latent size, 512. Prior N(0, I); Adam 1e-3, beta1 0.5.
"""

from wae_jax.config_defaults import config_beside


def get_config():
  config = config_beside(__file__, 'vae')  # the VAE's objective, prior, optimizer and cost
  config.model.name = 'vae_resnet'
  return config
