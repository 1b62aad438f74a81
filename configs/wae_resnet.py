"""WAE-ResNet (WAE-GAN) on CelebA 128x128: the thesis's proposed model (Section 4.3.4).

  python launch.py --config=configs/wae_resnet.py --workdir=workdirs/wae_resnet

ResNet-50-style encoder (wae_jax.models.encoders.ResNetEncoder) to a 64-d code, the WAE
decoder, a latent discriminator, prior N(0, 1.414^2 I), Adam 3e-4 / 1e-3 with beta1 0.5.
Choices where the thesis is ambiguous, shared by all configs:
- Decoder's last layer: transposed conv then sigmoid, no BatchNorm. The thesis lists BN with
  the sigmoid; a BN after the sigmoid would leave [0, 1] and one before it is absent from the
  official WAE code. Tested: outputs lie in [0, 1].
- Convolutions and dense layers keep their biases (Keras defaults, which the thesis used).
- Discriminator and auto-encoder step together: the discriminator first (Algorithm 2), on the
  codes of the same forward pass.
"""

from wae_jax.config_defaults import base_config


def get_config():
  return base_config()
