"""The training loop: `train_and_evaluate(config, workdir)`.

I/O lives here (data, logging, image grids, checkpoints, FID); the numerics live in the one
compiled step of `wae_jax.step`. Starting in a workdir that holds a checkpoint resumes from
it: same parameters, optimizer state, RNG and data position, so a resumed run is bit-identical
to an uninterrupted one.
"""

import os
import time
from typing import Any

import jax
import ml_collections
import numpy as np
import tqdm
from tensorboardX import SummaryWriter

from wae_jax import data, evaluation, figures, multiprocess, objectives, schedules
from wae_jax.api import Model
from wae_jax.checkpoint import Checkpointer, checkpoint_dir, check_resumable, config_changes
from wae_jax.errors import ConfigError, UserError, WorkdirError
from wae_jax.models import build
from wae_jax.pretrain import pretrain_encoder
from wae_jax.step import batch_sharding, make_mesh, make_train_step, replicated, step_networks
from wae_jax.train_state import create_train_states

GRID_IMAGES = 64
INTERPOLATION_STEPS = 10
# Every corrupt training image met so far, one 'location<TAB>reason' per line, in the workdir.
CORRUPT_LIST = 'corrupt_images.txt'


class NonFiniteLossError(UserError):
  """A loss became NaN or Inf; the run stopped without saving the broken state."""


def check_config(config: ml_collections.ConfigDict, num_devices: int) -> None:
  """Raises ConfigError for settings that cannot train, before anything is compiled."""
  build(config.model, config.dtype)  # unknown model, dtype or unreachable image size
  batch = config.train.batch_size
  if batch <= 0:
    raise ConfigError(f'config.train.batch_size={batch}: the batch size must be positive '
                      f'(and a multiple of the {num_devices} devices)')
  if batch % num_devices:
    raise ConfigError(f'config.train.batch_size={batch} is not divisible by the {num_devices} '
                      f'devices: use a multiple of {num_devices}')
  schedules.check_schedule(config.optim.schedule)
  objectives.check(config.objective, config.model, batch)  # name, model's code, batch size


def prepare_workdir(workdir: str) -> None:
  try:
    os.makedirs(workdir, exist_ok=True)
    probe = os.path.join(workdir, f'.write_test_{jax.process_index()}')  # one per process
    with open(probe, 'w') as f:
      f.write('ok')
    os.remove(probe)
  except OSError as e:
    raise WorkdirError(f'cannot write to workdir {workdir}: {e.strerror}; '
                       'choose another --workdir') from None


def first_non_finite(history: list[tuple[int, dict]]) -> tuple[int, str] | None:
  """(step, metric name) of the first NaN/Inf metric in [(step, host metrics)], or None."""
  for step, metrics in history:
    for name, value in metrics.items():
      if not np.isfinite(value):
        return step, name
  return None


def _total_steps(config: ml_collections.ConfigDict, steps_per_epoch: int) -> int:
  if config.train.num_steps > 0:
    return config.train.num_steps
  return config.train.num_epochs * steps_per_epoch


def _write_grids(model: Model, images: np.ndarray, directory: str, step: int) -> None:
  os.makedirs(directory, exist_ok=True)
  figures.save_grid(os.path.join(directory, f'samples_{step:08d}.png'),
                    model.sample(GRID_IMAGES, seed=0), cols=8)
  figures.save_pairs(os.path.join(directory, f'reconstructions_{step:08d}.png'),
                     images, model.reconstruct(images))
  # Interpolation rows: original a, decodes from a's code to b's, original b (thesis Fig. 4.1).
  a, b = images[0:16:2], images[1:16:2]
  n = min(len(a), len(b))
  if n:
    rows = np.stack([model.interpolate(x, y, INTERPOLATION_STEPS) for x, y in zip(a[:n], b[:n])])
    figures.save_interpolations(os.path.join(directory, f'interpolations_{step:08d}.png'),
                                np.concatenate([a[:n, None], rows, b[:n, None]], axis=1))


def report_corrupt(corrupt: dict[str, str], reported: int, step: int, workdir: str) -> int:
  """Where the corrupt files outnumber the `reported` ones: rewrites the workdir's full list and
  prints one line above the progress bar. Returns the number reported now."""
  if len(corrupt) <= reported:
    return reported
  path = os.path.join(workdir, CORRUPT_LIST)
  temporary = f'{path}.tmp'
  with open(temporary, 'w') as file:
    file.writelines(f'{location}\t{reason}\n' for location, reason in corrupt.items())
  os.replace(temporary, path)
  location, reason = list(corrupt.items())[-1]
  tqdm.tqdm.write(f'step {step}: {len(corrupt)} corrupt image(s) skipped so far, '
                  f'{len(corrupt) - reported} new (latest: {location}: {reason}); all in {path}')
  return len(corrupt)


def train_and_evaluate(config: ml_collections.ConfigDict, workdir: str,
                       evaluator: evaluation.Evaluator | None = None,
                       description: str = 'train') -> tuple[Any, Any]:
  """Trains (or resumes) the model of `config`, writing everything into `workdir`.

  With `config.train.fid_every > 0`, `evaluator` (default: `evaluation.Evaluator(config)`, built
  before the first step) logs the FID of samples to TensorBoard. `description` labels the
  progress bar. Returns the final (auto-encoder state, discriminator state or None).
  """
  if config.train.distributed or multiprocess.requested():
    multiprocess.initialize()
  check_config(config, jax.device_count())
  prepare_workdir(workdir)
  is_chief = jax.process_index() == 0
  _check_resume(config, workdir)  # a changed model fails before anything loads
  multiprocess.barrier('resume checked')  # before process 0 creates checkpoints/
  # The data next: a missing dataset is reported before minutes of model initialisation.
  batches = data.train_batches(config.data, config.model.image_size, config.train.batch_size,
                               config.seed, jax.process_index(), jax.process_count())
  with batches:
    if config.train.fid_every > 0 and evaluator is None:
      evaluator = evaluation.Evaluator(config)  # missing FID statistics fail before training
    checkpointer = Checkpointer(workdir, keep=config.train.keep_checkpoints)
    try:
      return _train(config, workdir, batches, evaluator, checkpointer, is_chief, description)
    finally:
      checkpointer.wait()
      checkpointer.close()


def _check_resume(config: ml_collections.ConfigDict, workdir: str) -> None:
  """Refuses a checkpoint saved under other values of the fields it is bound to, and says once
  which other settings differ from it. Reads the saved config only (no writer is opened yet)."""
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


def _train(config: ml_collections.ConfigDict, workdir: str, batches: Any,
           evaluator: evaluation.Evaluator | None, checkpointer: Checkpointer,
           is_chief: bool, description: str) -> tuple[Any, Any]:
  mesh = make_mesh()
  init_rng, step_rng = jax.random.split(jax.random.key(config.seed))
  total = _total_steps(config, batches.steps_per_epoch)
  ae_state, disc_state = jax.device_put(
      create_train_states(config, step_networks(config), init_rng, batches.steps_per_epoch, total),
      replicated(mesh))
  start = 0
  if checkpointer.latest_step() is not None:
    ae_state, disc_state, step_rng, meta = checkpointer.restore(ae_state, disc_state)
    batches.set_state(meta['data'])
    start = meta['step']
  elif config.encoder_pretrain.steps > 0:
    ae_state = pretrain_encoder(config, ae_state, mesh, jax.random.fold_in(init_rng, 1),
                                jax.process_index(), jax.process_count(), is_chief)

  train_step = make_train_step(config, mesh)
  sharding = batch_sharding(mesh)
  writer = SummaryWriter(workdir) if is_chief else None
  model = Model.from_state(config, multiprocess.host_local(ae_state))
  fixed_images = None
  reported_corrupt = batches.stats['corrupt']  # those of a resumed run were reported before
  history: list[tuple[int, Any]] = []
  last_time, last_step = time.perf_counter(), start
  progress = tqdm.tqdm(total=total, initial=start, desc=description, unit='step',
                       disable=not is_chief, dynamic_ncols=True)
  try:
    for step in range(start + 1, total + 1):
      images = next(batches)
      if fixed_images is None:
        fixed_images = images[:min(len(images), 32)]
      global_images = jax.make_array_from_process_local_data(sharding, images)
      ae_state, disc_state, metrics = train_step(ae_state, disc_state, global_images, step_rng)
      history.append((step, metrics))
      progress.update(1)

      saving = step % config.train.checkpoint_every == 0 or step == total
      if step % config.train.log_every == 0 or saving:
        host = [(s, {k: float(v) for k, v in jax.device_get(m).items()}) for s, m in history]
        history = []
        bad = first_non_finite(host)
        if bad is not None:
          raise NonFiniteLossError(
              f'{bad[1]} became non-finite at step {bad[0]}; stopped without saving. The last '
              f'good checkpoint (step {checkpointer.latest_step()}) in {workdir} is intact: '
              'lower the learning rate or penalty weight and resume')
        now = time.perf_counter()
        rate = (step - last_step) * config.train.batch_size / (now - last_time)
        last_time, last_step = now, step
        means = {k: float(np.mean([m[k] for _, m in host])) for k in host[-1][1]}
        progress.set_postfix({'img/s': f'{rate:.1f}', **{k: f'{v:.4g}' for k, v in means.items()}})
        if is_chief:
          reported_corrupt = report_corrupt(batches.corrupt_files, reported_corrupt, step, workdir)
        if writer:
          for name, value in means.items():
            writer.add_scalar(f'train/{name}', value, step)
          writer.add_scalar('train/images_per_second', rate, step)
          for name, value in batches.stats.items():
            writer.add_scalar(f'data/{name}', value, step)

      if step % config.train.image_every == 0 or step == total:
        model.variables = multiprocess.host_local(
            {'params': ae_state.params, 'batch_stats': ae_state.batch_stats})
        if is_chief:
          _write_grids(model, fixed_images, os.path.join(workdir, 'images'), step)

      if evaluator is not None and config.train.fid_every > 0 and step % config.train.fid_every == 0:
        model.variables = multiprocess.host_local(
            {'params': ae_state.params, 'batch_stats': ae_state.batch_stats})
        fid = evaluator.fid_of_samples(model, config.eval.num_during_training)
        if writer:
          writer.add_scalar('eval/fid_samples', fid, step)

      if saving:
        checkpointer.save(step, ae_state, disc_state, step_rng, batches.get_state(), config)
  finally:
    progress.close()
    if writer:
      writer.close()
  return ae_state, disc_state
