"""Train, evaluate or inspect a wae-jax model.

  python launch.py --config=configs/wae_resnet.py --workdir=workdirs/wae_resnet
  python launch.py --config=configs/wae_resnet.py --config.model.latent_dim=32 --workdir=...
  python launch.py --config=configs/wae_resnet.py --mode=summary
  python launch.py --config=configs/wae_resnet.py --mode=stats          # CelebA FID statistics
  python launch.py --config=configs/wae_resnet.py --workdir=... --mode=eval
  python launch.py --mode=compare --compare=workdirs/vae,workdirs/wae --output=tables.md

Everything this calls is importable (wae_jax.train.train_and_evaluate, wae_jax.load, ...).
"""

import sys

from absl import app, flags, logging
from ml_collections import config_flags

from wae_jax import run_modes
from wae_jax.errors import UserError

FLAGS = flags.FLAGS
config_flags.DEFINE_config_file('config', None, 'Experiment config file (configs/*.py).',
                                lock_config=True)
flags.DEFINE_string('workdir', None, 'Directory for checkpoints, logs, images and metrics.')
flags.DEFINE_enum('mode', 'train', list(run_modes.MODES), 'What to do: ' + '; '.join(
    f'{name}: {fn.__doc__.splitlines()[0].rstrip(".")}' for name, fn in run_modes.MODES.items()))
flags.DEFINE_list('compare', [], 'Workdirs to tabulate (--mode=compare).')
flags.DEFINE_string('output', None, 'Output file (--mode=stats: .npz; --mode=compare: .md).')


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f'unexpected arguments: {argv[1:]}')
  logging.set_verbosity(logging.WARNING)  # Orbax logs every save at INFO
  try:
    run_modes.MODES[FLAGS.mode](config=FLAGS.config, workdir=FLAGS.workdir,
                                compare=FLAGS.compare, output=FLAGS.output)
  except UserError as e:
    print(f'error: {e}', file=sys.stderr)
    sys.exit(1)


if __name__ == '__main__':
  app.run(main)
