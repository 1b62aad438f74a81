"""Before a run loads anything heavy: its config can train, its workdir can be written, and a
checkpoint already there fits this config. Each mistake is a one-line error naming the field."""

import os

import jax
import ml_collections
import tqdm

from wae_jax import models, objectives, schedules
from wae_jax.distributed import runtime
from wae_jax.checkpoint import Checkpointer, check_resumable, checkpoint_dir, config_changes
from wae_jax.errors import ConfigError, WorkdirError

UNSET_STEPS = -1  # config.train.num_steps: train num_epochs epochs instead


def prepare_run(config: ml_collections.ConfigDict, workdir: str) -> None:
  """Joins the other processes where asked, then checks config, workdir and checkpoint."""
  runtime.initialize_if_asked(config.train.distributed)
  check_config(config, jax.device_count())
  prepare_workdir(workdir)
  check_resume(config, workdir)  # a changed model fails before anything loads
  runtime.barrier('resume checked')  # before process 0 creates checkpoints/


def check_config(config: ml_collections.ConfigDict, num_devices: int) -> None:
  """Raises ConfigError for settings that cannot train, before anything is compiled."""
  models.check(config.model, config.dtype)  # model, encoder, decoder, their sizes, dtype
  batch = config.train.batch_size
  if batch <= 0:
    raise ConfigError(f'config.train.batch_size={batch}: the batch size must be positive '
                      f'(and a multiple of the {num_devices} devices)')
  if batch % num_devices:
    raise ConfigError(f'config.train.batch_size={batch} is not divisible by the {num_devices} '
                      f'devices: use a multiple of {num_devices}')
  steps, epochs = config.train.num_steps, config.train.num_epochs
  if steps != UNSET_STEPS and steps <= 0:
    raise ConfigError(f'config.train.num_steps={steps}: give a positive number of steps, or '
                      f'{UNSET_STEPS} (unset) to train config.train.num_epochs={epochs} epochs')
  if steps == UNSET_STEPS and epochs <= 0:
    raise ConfigError(f'config.train.num_epochs={epochs} with num_steps unset: give a positive '
                      'number of epochs or of steps')
  if config.train.keep_checkpoints < 1:
    raise ConfigError(f'config.train.keep_checkpoints={config.train.keep_checkpoints} would delete '
                      'every checkpoint, the whole run: keep at least 1')
  schedules.check_optimizer(config.optim)  # learning rates positive, schedule known
  objectives.check(config.objective, batch)  # name, own fields, batch size


def total_steps(config: ml_collections.ConfigDict, steps_per_epoch: int) -> int:
  if config.train.num_steps != UNSET_STEPS:
    return config.train.num_steps
  return config.train.num_epochs * steps_per_epoch


def prepare_workdir(workdir: str) -> None:
  if os.path.exists(workdir) and not os.path.isdir(workdir):
    raise WorkdirError(f'workdir {workdir} is a file, not a directory: choose another --workdir')
  try:
    os.makedirs(workdir, exist_ok=True)
    probe = os.path.join(workdir, f'.write_test_{jax.process_index()}')  # one per process
    with open(probe, 'w') as f:
      f.write('ok')
    os.remove(probe)
  except OSError as e:
    raise WorkdirError(f'cannot write to workdir {workdir}: {e.strerror}; '
                       'choose another --workdir') from None


def check_resume(config: ml_collections.ConfigDict, workdir: str) -> None:
  """Refuses a checkpoint saved under other values of the fields it is bound to, and says once
  which other settings differ from it. Reads the saved config only."""
  if not os.path.isdir(checkpoint_dir(workdir)):
    return
  reader = Checkpointer(workdir, read_only=True)
  try:
    step = reader.latest_step()
    saved = None if step is None else reader.restore_meta(step)['config']
  finally:
    reader.close()
  if saved is None:
    return
  changes = config_changes(saved, config)
  check_resumable(changes, workdir, step)
  changed = ', '.join(f'{field} {saved} -> {now}' for field, (saved, now) in changes.items())
  tqdm.tqdm.write(f'Resuming from the checkpoint of step {step} in {workdir}'
                  + (f'; changed since: {changed}.' if changed else '.'))
