"""RAE-L2 (Ghosh et al. 2020) on CelebA 128x128: the WAE architecture as a deterministic
auto-encoder with beta 1/2 ||z||^2 on the codes and lambda ||theta_G||^2 on the decoder's
kernels, no prior in training (wae_jax/objectives/rae.py).

  python launch.py --config=configs/rae.py --workdir=workdirs/rae

The weights keep the official RAE CelebA config's relative weights on our cost. Its loss is
mean_pixels (x - y)^2 + B mean_d z^2 + L ||theta_G||^2 with B = 1e-4, L = 1e-7 (keras l2 on the
decoder's kernels). Our cost is c = cost_scale x the sum over D = 3 S^2 pixel values, i.e.
K = cost_scale x D times the per-pixel mean; multiplying that loss by K gives
c + (2 K B / d) ||z||^2 / 2 + (K L) ||theta_G||^2, so
beta = 2 K B / d and lambda = K L (S = image_size, d = latent_dim). At 128x128, latent 64 and
cost_scale 0.05: K = 2457.6, beta = 7.68e-3, lambda = 2.46e-4; at 64x64: beta = 1.92e-3,
lambda = 6.14e-5. Both follow image_size, latent_dim and cost_scale when those are overridden;
setting penalty_weight or objective.rae.decoder_l2 overrides the derived value.
Samples: the prior, or the paper's ex-post mixture (--config.eval.sampler=gmm).
"""

from wae_jax.config_defaults import base_config

# The official RAE CelebA config's weights, on a per-pixel mean squared error.
CODE_WEIGHT_PER_PIXEL_MSE = 1e-4  # B, on mean_d z^2
DECODER_L2_PER_PIXEL_MSE = 1e-7  # L, keras l2 on the decoder's kernels


def get_config():
  config = base_config()
  config.model.name = 'wae'
  config.objective.name = 'rae'
  size = config.model.get_ref('image_size')
  # K: our cost over a per-pixel mean squared error (references: they follow overrides).
  cost_over_mse = config.objective.get_ref('cost_scale') * 3 * size * size
  config.objective.penalty_weight = (2 * CODE_WEIGHT_PER_PIXEL_MSE * cost_over_mse
                                     / config.model.get_ref('latent_dim'))
  config.objective.rae.decoder_l2 = DECODER_L2_PER_PIXEL_MSE * cost_over_mse
  return config
