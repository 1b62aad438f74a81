"""RAE-L2 (Ghosh et al. 2020) on CelebA 128x128: the WAE architecture as a deterministic
auto-encoder with beta 1/2 ||z||^2 on the codes and lambda ||theta_G||^2 on the decoder's
kernels, no prior in training (wae_jax/objectives/rae.py).

  python launch.py --config=configs/rae.py --workdir=workdirs/rae

beta = 1e-4 and lambda = 1e-7, pythae's RAE_L2 defaults (embedding_weight, reg_weight), not
retuned to our cost's scale. Samples: the prior, or the paper's ex-post mixture
(--config.eval.sampler=gmm).
"""

from wae_jax.config_defaults import base_config


def get_config():
  config = base_config()
  config.model.name = 'wae'
  config.objective.name = 'rae'
  config.objective.penalty_weight = 1e-4
  return config
