"""The training entry point's command line: flags, their one-line errors, and the chosen mode.

`run()` is what launch.py, `python -m wae_jax` and the `wae-jax` console script call; every mode
is importable on its own (wae_jax.run_modes, wae_jax.train.train_and_evaluate, wae_jax.load).
"""

import ast
import glob
import os
import re
import sys

from absl import app, flags, logging
from ml_collections import config_flags

from wae_jax import preemption, run_modes
from wae_jax.distributed import runtime
from wae_jax.config_defaults import base_config, closest_fields, fields_file, flat_fields
from wae_jax.errors import UserError

FLAGS = flags.FLAGS
config_flags.DEFINE_config_file('config', None, 'Experiment config file (configs/*.py).',
                                lock_config=True)
flags.DEFINE_string('workdir', None, 'Directory for checkpoints, logs, images and metrics.')
flags.DEFINE_enum('mode', 'train', list(run_modes.MODES), 'What to do: ' + '; '.join(
    f'{name}: {fn.__doc__.splitlines()[0].rstrip(".")}' for name, fn in run_modes.MODES.items()))
flags.DEFINE_list('compare', [], 'Workdirs to tabulate (--mode=compare).')
flags.DEFINE_string('output', None, 'Output file (--mode=stats: .npz; --mode=compare: .md, '
                    'and its figure beside it as .png).')


HELP_FLAGS = ('help', 'helpshort', 'helpfull', '?')
CONFIG_OVERRIDE = '--config.'


def unknown_override(argv: list[str]) -> str | None:
  """The first `--config.<field>=` of argv whose field no config has, or None."""
  fields = flat_fields(base_config().to_dict())
  for arg in argv[1:]:
    if arg.startswith(CONFIG_OVERRIDE):
      field = arg[len(CONFIG_OVERRIDE):].split('=', 1)[0]
      if field not in fields:
        return field
  return None


def takes_preset(path: str) -> bool:
  """Whether the config file's get_config takes an argument (a preset), read without running it."""
  with open(path) as file:
    tree = ast.parse(file.read())
  return any(isinstance(node, ast.FunctionDef) and node.name == 'get_config' and node.args.args
             for node in tree.body)


def preset_configs(path: str) -> str:
  """The configs beside `path` that take a preset, for a message."""
  return ', '.join(sorted(p for p in glob.glob(os.path.join(os.path.dirname(path) or '.', '*.py'))
                          if takes_preset(p))) or 'none'


def preset_mistake(argv: list[str]) -> str | None:
  """What is wrong with `--config=<path>:<preset>` where the config takes no preset, else None."""
  for arg in argv[1:]:
    if arg.startswith('--config=') and ':' in arg:
      path = arg[len('--config='):].split(':', 1)[0]
      if os.path.isfile(path) and not takes_preset(path):
        return (f'{arg}: {path} takes no preset; drop ":{arg.split(":", 1)[1]}" (configs that take '
                f'one: {preset_configs(path)})')
  return None


def parse_flags(argv: list[str]) -> list[str]:
  """absl's flag parsing, with every mistake as one `error:` line and --help (or -h) exiting 0."""
  argv = ['--help' if arg == '-h' else arg for arg in argv]
  missing = missing_config_file(argv)
  if missing:
    fail(f'--config={missing}: no such config file; the experiment and study configs are in configs/')
  mistake = preset_mistake(argv)
  if mistake:
    fail(mistake)
  try:
    return FLAGS(argv)
  except flags.Error as error:
    message = str(error)
    if 'Error whilst parsing config file' in message:  # the config's own message, not its traceback
      given = next(arg for arg in argv if arg.startswith('--config='))
      reason = re.sub(r'^\w+: ', '', message.strip().splitlines()[-1].strip())  # less "ValueError: "
      path, _, preset = given[len('--config='):].partition(':')
      fail(f'{given}: {reason}' + (f' (configs that take one: {preset_configs(path)})' if preset else ''))
    fail(message.replace('\n', ' ') + ' (see --help)')
  except (AttributeError, KeyError):  # ml_collections: an override of a field the config lacks
    field = unknown_override(argv)
    if field is None:
      raise
    guesses = ' or '.join(CONFIG_OVERRIDE + guess for guess in closest_fields(field))
    hint = f'; did you mean {guesses}?' if guesses else '.'
    fail(f'{CONFIG_OVERRIDE}{field}: no such config field{hint} All fields, with their defaults and '
         f'meaning: {fields_file(field)}')
  except SystemExit as exit_:
    # absl exits with status 1 after printing the help; asking for it is not a failure.
    if exit_.code == 1 and any(arg.lstrip('-').split('=', 1)[0] in HELP_FLAGS for arg in argv[1:]):
      sys.exit(0)
    raise


def asks_distributed(config) -> bool:
  """config.train.distributed of an experiment config, or of a study config's shared overrides
  (a study config has no `train` block of its own)."""
  if config is None:
    return False
  train = config.get('train') or config.get('overrides', {}).get('train', {})
  return bool(train.get('distributed', False))


def missing_config_file(argv: list[str]) -> str | None:
  """The path of `--config=<path>[:preset]` where no such file exists, else None."""
  for arg in argv[1:]:
    if arg.startswith('--config='):
      path = arg[len('--config='):].split(':', 1)[0]
      return None if os.path.isfile(path) else path
  return None


def fail(message: str) -> None:
  print(f'error: {message}', file=sys.stderr)
  sys.exit(1)


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f'unexpected arguments: {argv[1:]}')
  logging.set_verbosity(logging.WARNING)  # Orbax logs every save at INFO
  # One process of several (wae_jax.distributed.launch, a cluster).
  runtime.initialize_if_asked(asks_distributed(FLAGS.config))
  try:
    with runtime.failures_named():  # a lost process is one line naming it
      try:
        run_modes.MODES[FLAGS.mode](config=FLAGS.config, workdir=FLAGS.workdir,
                                    compare=FLAGS.compare, output=FLAGS.output)
      except preemption.Stopped as stopped:  # every process stopped after the same step
        runtime.finish()
        print(stopped, file=sys.stderr)
        sys.exit(stopped.exit_status)
      runtime.finish()  # no process leaves while another still needs it
  except UserError as e:
    fail(str(e))


def run() -> None:
  """The command line: flags parsed, then `main` (launch.py, `python -m wae_jax`, `wae-jax`)."""
  for flag in FLAGS.get_key_flags_for_module(__name__):  # --help lists the program's flags
    FLAGS.register_key_flag_for_module(sys.argv[0], flag)
  app.run(main, flags_parser=parse_flags)
