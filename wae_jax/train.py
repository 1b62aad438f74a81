"""The training loop: `train_and_evaluate(config, workdir)`.

I/O lives here (data, logging, image grids, checkpoints, FID); the numerics live in the one
compiled step of `wae_jax.step`. Starting in a workdir that holds a checkpoint resumes from
it: same parameters, optimizer state, RNG and data position, so a resumed run is bit-identical
to an uninterrupted one.
"""

import dataclasses
import os
import time
from typing import Any, Callable

import jax
import ml_collections
import numpy as np
import tqdm
from tensorboardX import SummaryWriter

from wae_jax import data, evaluation, figures, models, multiprocess, objectives, preemption, schedules
from wae_jax.api import Model
from wae_jax.checkpoint import Checkpointer, checkpoint_dir, check_resumable, config_changes
from wae_jax.errors import ConfigError, UserError, WorkdirError
from wae_jax.pretrain import pretrain_encoder
from wae_jax.step import (batch_sharding, make_mesh, make_train_step, replicated, step_flops,
                          step_networks)
from wae_jax.train_state import TrainState, create_train_states

UNSET_STEPS = -1  # config.train.num_steps: train num_epochs epochs instead
# Every corrupt training image met so far, one 'location<TAB>reason' per line, in the workdir.
CORRUPT_LIST = 'corrupt_images.txt'


class NonFiniteLossError(UserError):
  """A loss became NaN or Inf; the run stopped without saving the broken state."""


def check_config(config: ml_collections.ConfigDict, num_devices: int) -> None:
  """Raises ConfigError for settings that cannot train, before anything is compiled."""
  models.check(config.model, config.dtype)  # model, encoder, decoder, their sizes, dtype
  schedules.check_optimizer(config.optim)  # learning rates positive, schedule known
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
  schedules.check_schedule(config.optim.schedule)
  objectives.check(config.objective, batch)  # name, own fields, batch size


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


def first_non_finite(history: list[tuple[int, dict]]) -> tuple[int, str] | None:
  """(step, metric name) of the first NaN/Inf metric in [(step, host metrics)], or None."""
  for step, metrics in history:
    for name, value in metrics.items():
      if not np.isfinite(value):
        return step, name
  return None


def _total_steps(config: ml_collections.ConfigDict, steps_per_epoch: int) -> int:
  if config.train.num_steps != UNSET_STEPS:
    return config.train.num_steps
  return config.train.num_epochs * steps_per_epoch


def _write_grids(model: Model, images: np.ndarray, directory: str, step: int,
                 interpolation_steps: int) -> None:
  os.makedirs(directory, exist_ok=True)
  figures.save_grid(os.path.join(directory, f'samples_{step:08d}.png'),
                    model.sample(figures.GRID_IMAGES, seed=0), figures.GRID_COLS)
  figures.save_pairs(os.path.join(directory, f'reconstructions_{step:08d}.png'),
                     images, model.reconstruct(images))
  # Interpolation rows: original a, decodes from a's code to b's, original b (thesis Fig. 4.1).
  a, b = images[0:16:2], images[1:16:2]
  n = min(len(a), len(b))
  if n:
    rows = np.stack([model.interpolate(x, y, interpolation_steps) for x, y in zip(a[:n], b[:n])])
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
  multiprocess.initialize_if_asked(config.train.distributed)
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
    checkpointer = Checkpointer(workdir, keep=config.train.keep_checkpoints,
                                keep_every=config.train.keep_every)
    try:
      states = _train(config, workdir, batches, evaluator, checkpointer, is_chief, description)
      checkpointer.wait()  # for the last save
    except BaseException:
      checkpointer.abandon()  # a failed save, already reported, must not hide this error
      raise
    checkpointer.close()
    return states


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


@dataclasses.dataclass(frozen=True)
class Periodic:
  """An action of the loop, run after every `every`-th step (never when `every` <= 0) and, if
  `at_end`, after the last step. It is called with (step, ae_state, disc_state)."""
  every: int
  action: Callable[[int, TrainState, TrainState | None], None]
  at_end: bool = True

  def due(self, step: int, total: int) -> bool:
    return (self.every > 0 and step % self.every == 0) or (self.at_end and step == total)


class PendingMetrics:
  """The step metrics not logged yet, fetched from the devices only when read."""

  def __init__(self):
    self._steps: list[tuple[int, Any]] = []

  def add(self, step: int, metrics: Any) -> None:
    self._steps.append((step, metrics))

  def fetch(self) -> list[tuple[int, dict[str, float]]]:
    self._steps = [(step, {k: float(v) for k, v in jax.device_get(m).items()})
                   for step, m in self._steps]
    return self._steps

  def take(self) -> list[tuple[int, dict[str, float]]]:
    fetched, self._steps = self.fetch(), []
    return fetched


class StepProfile:
  """A jax.profiler trace of `steps` steps of this run, after two of warm-up (the first compiles),
  in <workdir>/profile/: TensorBoard's Profile tab reads it, ui.perfetto.dev its
  perfetto_trace.json.gz. Each step is a StepTraceAnnotation, its wait for data a TraceAnnotation."""

  WARM_UP = 2

  def __init__(self, steps: int, workdir: str, start: int):
    self.first, self.last = start + self.WARM_UP + 1, start + self.WARM_UP + steps
    self.directory = os.path.join(workdir, 'profile')
    self.steps, self.tracing = steps, False

  def before(self, step: int) -> None:
    if self.steps > 0 and step == self.first:
      options = jax.profiler.ProfileOptions()
      options.python_tracer_level = 0  # every Python call: 100,000s of events a step
      jax.profiler.start_trace(self.directory, create_perfetto_trace=True, profiler_options=options)
      self.tracing = True

  def after(self, step: int, outputs: Any) -> None:
    if self.tracing and step == self.last:
      jax.block_until_ready(outputs)
      self.stop()
      tqdm.tqdm.write(f'profile of steps {self.first}-{self.last} in {self.directory}: '
                      f'tensorboard --logdir {self.directory} (Profile tab), or its '
                      'perfetto_trace.json.gz in ui.perfetto.dev')

  def stop(self) -> None:
    if self.tracing:
      jax.profiler.stop_trace()
      self.tracing = False


class LoopOutputs:
  """The periodic work of one training run (log, image grids, FID, checkpoint) and what it
  shares. Only the chief process writes files; every process takes part in a checkpoint."""

  def __init__(self, config: ml_collections.ConfigDict, workdir: str, batches: Any,
               checkpointer: Checkpointer, evaluator: evaluation.Evaluator | None, model: Model,
               step_rng: jax.Array, progress: tqdm.tqdm, is_chief: bool, start: int):
    self.config, self.workdir, self.batches = config, workdir, batches
    self.checkpointer, self.evaluator, self.model = checkpointer, evaluator, model
    self.step_rng, self.progress, self.is_chief = step_rng, progress, is_chief
    self.metrics = PendingMetrics()
    self.writer = SummaryWriter(workdir) if is_chief else None
    self.grid_images: np.ndarray | None = None  # the first training images, shown in every grid
    self.reported_corrupt = batches.stats['corrupt']  # those of a resumed run were reported
    self.last_time, self.last_step = time.perf_counter(), start
    self.saved_step = start
    self.data_wait = 0.0  # seconds the loop waited for batches since the last log
    self.step_flops: float | None = None  # of one step, all devices (XLA's estimate)

  def actions(self) -> list[Periodic]:
    """In order: the log (and its NaN check) before a save, the save last."""
    train = self.config.train
    return [Periodic(train.log_every, self.log), Periodic(train.image_every, self.write_grids),
            Periodic(train.fid_every if self.evaluator else 0, self.log_fid, at_end=False),
            Periodic(train.checkpoint_every, self.save)]

  def check_finite(self) -> None:
    bad = first_non_finite(self.metrics.fetch())
    if bad is not None:
      raise NonFiniteLossError(
          f'{bad[1]} became non-finite at step {bad[0]}; stopped without saving. The last good '
          f'checkpoint (step {self.checkpointer.latest_step()}) in {self.workdir} is intact: '
          'lower the learning rate or penalty weight and resume')

  def log(self, step: int, _ae_state: TrainState, _disc_state: TrainState | None) -> None:
    self.check_finite()
    host = self.metrics.take()
    now = time.perf_counter()
    seconds, steps = now - self.last_time, step - self.last_step
    speed = {'images_per_second': steps * self.config.train.batch_size / seconds,
             'data_wait_share': self.data_wait / seconds}  # of the loop's time, blocked on data
    if self.step_flops:
      speed['tflops_per_second'] = steps * self.step_flops / seconds / 1e12
    self.last_time, self.last_step, self.data_wait = now, step, 0.0
    means = {k: float(np.mean([m[k] for _, m in host])) for k in host[-1][1]}
    shown = {'img/s': f'{speed["images_per_second"]:.1f}', 'data': f'{speed["data_wait_share"]:.0%}'}
    if 'tflops_per_second' in speed:
      shown['TFLOP/s'] = f'{speed["tflops_per_second"]:.3g}'
    self.progress.set_postfix({**shown, **{k: f'{v:.4g}' for k, v in means.items()}})
    if not self.is_chief:
      return
    self.reported_corrupt = report_corrupt(self.batches.corrupt_files, self.reported_corrupt,
                                           step, self.workdir)
    for name, value in {**means, **speed}.items():
      self.writer.add_scalar(f'train/{name}', value, step)
    for name, value in self.batches.stats.items():
      self.writer.add_scalar(f'data/{name}', value, step)

  def write_grids(self, step: int, ae_state: TrainState, _disc_state: TrainState | None) -> None:
    if self.is_chief:
      _write_grids(self.model.with_state(multiprocess.host_local(ae_state)), self.grid_images,
                   os.path.join(self.workdir, 'images'), step,
                   self.config.eval.interpolation_steps)

  def log_fid(self, step: int, ae_state: TrainState, _disc_state: TrainState | None) -> None:
    fid = self.evaluator.fid_of_samples(self.model.with_state(multiprocess.host_local(ae_state)),
                                        self.config.eval.num_during_training)
    if self.writer:
      self.writer.add_scalar('eval/fid_samples', fid, step)

  def save(self, step: int, ae_state: TrainState, disc_state: TrainState | None) -> None:
    self.check_finite()
    started = time.perf_counter()
    self.checkpointer.save(step, ae_state, disc_state, self.step_rng, self.batches.get_state(),
                           self.config)
    if self.writer:  # how long the loop waited; the write goes on in the background
      self.writer.add_scalar('checkpoint/save_blocking_seconds', time.perf_counter() - started, step)
    self.saved_step = step

  def stop(self, step: int, ae_state: TrainState, disc_state: TrainState | None,
           signal_name: str) -> None:
    """Saves the state after `step` (unless just saved), waits until it is on disk, and raises
    preemption.Stopped."""
    if self.saved_step != step:
      self.save(step, ae_state, disc_state)
    self.checkpointer.wait()
    raise preemption.Stopped(step, signal_name)

  def close(self) -> None:
    if self.writer:
      self.writer.close()


def _train(config: ml_collections.ConfigDict, workdir: str, batches: Any,
           evaluator: evaluation.Evaluator | None, checkpointer: Checkpointer,
           is_chief: bool, description: str) -> tuple[Any, Any]:
  mesh = make_mesh()
  init_rng, step_rng = jax.random.split(jax.random.key(config.seed))
  total = _total_steps(config, batches.steps_per_epoch)
  networks = step_networks(config)
  ae_state, disc_state = jax.device_put(
      create_train_states(config, networks, init_rng, batches.steps_per_epoch, total),
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
  # Evaluation mode ignores the step's device axis: the step's networks serve the model too.
  model = Model.from_state(config, multiprocess.host_local(ae_state), networks.autoencoder)
  progress = tqdm.tqdm(total=total, initial=start, desc=description, unit='step',
                       disable=not is_chief, dynamic_ncols=True)
  outputs = LoopOutputs(config, workdir, batches, checkpointer, evaluator, model, step_rng,
                        progress, is_chief, start)
  actions = outputs.actions()
  profile = StepProfile(config.train.profile_steps, workdir, start)
  compiled = None
  try:
    with preemption.StopSignals() as signals:  # SIGTERM, SIGINT: save, then stop
      for step in range(start + 1, total + 1):
        profile.before(step)
        with jax.profiler.StepTraceAnnotation('train', step_num=step):
          waited = time.perf_counter()
          with jax.profiler.TraceAnnotation('wait for data'):
            images = next(batches)
          outputs.data_wait += time.perf_counter() - waited
          if outputs.grid_images is None:
            outputs.grid_images = images[:min(len(images), 32)]
          global_images = jax.make_array_from_process_local_data(sharding, images)
          if compiled is None:  # compiled ahead of the first call, for XLA's FLOP count
            compiled = train_step.lower(ae_state, disc_state, global_images, step_rng).compile()
            outputs.step_flops = step_flops(compiled)
          ae_state, disc_state, metrics = compiled(ae_state, disc_state, global_images, step_rng)
        profile.after(step, metrics)
        outputs.metrics.add(step, metrics)
        progress.update(1)
        for periodic in actions:
          if periodic.due(step, total):
            periodic.action(step, ae_state, disc_state)
        checkpointer.check_for_errors()  # a save that failed in the background stops the run
        stop_signal = signals.stop_signal(step)
        if stop_signal and step < total:
          outputs.stop(step, ae_state, disc_state, stop_signal)
  finally:
    profile.stop()
    progress.close()
    outputs.close()
  return ae_state, disc_state
