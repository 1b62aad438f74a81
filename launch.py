"""Train, evaluate or inspect a wae-jax model.

  python launch.py --config=configs/wae_resnet.py --workdir=workdirs/wae_resnet
  python launch.py --config=configs/wae_resnet.py --config.model.latent_dim=32 --workdir=...
  python launch.py --config=configs/wae_resnet.py --mode=summary
  python launch.py --config=configs/wae_resnet.py --mode=stats          # CelebA FID statistics
  python launch.py --config=configs/wae_resnet.py --workdir=... --mode=eval
  python launch.py --mode=compare --compare=workdirs/vae,workdirs/wae --output=tables.md
  python launch.py --mode=study --config=configs/study_thesis.py:cpu --workdir=studies/cpu
  python -m wae_jax.multiprocess --num_processes=2 -- --config=configs/demo.py --workdir=...

The command line itself is wae_jax/cli.py (also `python -m wae_jax`, the `wae-jax` script).
"""

from wae_jax import huge_pages

if __name__ == '__main__':
  huge_pages.restart_with_huge_pages(__file__)  # glibc reads its tunables at start: before JAX
  from wae_jax import cli
  cli.run()
