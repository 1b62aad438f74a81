"""Train, evaluate or inspect a wae-jax model from the installed package: `python -m wae_jax
--config=... --workdir=... [--mode=...]` takes launch.py's flags (`--help` lists them)."""

from wae_jax import cli

if __name__ == '__main__':
  cli.run()
