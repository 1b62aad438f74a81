"""The training loop: `train_and_evaluate(config, workdir)`: checks, states (fresh or resumed), the
step compiled before step 1, then per step a batch, the step and the hooks (`wae_jax.hooks`)."""

import time
from typing import Any

import jax
import ml_collections
import numpy as np

from wae_jax import data, evaluation, hooks, preemption, preflight
from wae_jax.checkpoint import Checkpointer
from wae_jax.initial_states import Start, initial_states
from wae_jax.step import batch_sharding, make_mesh, make_train_step, step_flops, step_networks


def train_and_evaluate(config: ml_collections.ConfigDict, workdir: str,
                       evaluator: evaluation.Evaluator | None = None,
                       description: str = 'train') -> tuple[Any, Any]:
  """Trains (or resumes) the model of `config` in `workdir`; returns the final (auto-encoder
  state, discriminator state or None). `evaluator`, where given, lends its FID network and
  reference to the periodic evaluations; `description` labels the progress bar."""
  preflight.prepare_run(config, workdir)
  # The data next: a missing dataset is reported before minutes of model initialisation.
  batches = data.train_batches(config.data, config.model.image_size, config.train.batch_size,
                               config.seed, jax.process_index(), jax.process_count())
  with batches:
    # Built before the first step: missing FID statistics fail before training.
    evaluators = evaluation.periodic_evaluators(
        config, *((evaluator.feature_extractor, evaluator.reference) if evaluator else ()))
    checkpointer = Checkpointer(workdir, keep=config.train.keep_checkpoints,
                                keep_every=config.train.keep_every)
    try:
      states = _train(config, workdir, batches, evaluators, checkpointer, description)
      checkpointer.wait()  # for the last save
    except BaseException:
      checkpointer.abandon()  # a failed save, already reported, must not hide this error
      raise
    checkpointer.close()
    return states


def _train(config: ml_collections.ConfigDict, workdir: str, batches: Any,
           evaluators: list[hooks.PeriodicEvaluator], checkpointer: Checkpointer,
           description: str) -> tuple[Any, Any]:
  mesh, networks = make_mesh(), step_networks(config)
  total = preflight.total_steps(config, batches.steps_per_epoch)
  start = initial_states(config, networks, mesh, batches, checkpointer, total)
  ae_state, disc_state = start.ae_state, start.disc_state
  sharding = batch_sharding(mesh)
  size = config.model.image_size
  with preemption.StopSignals() as signals:  # SIGTERM, SIGINT: save, then stop
    # Compiled from the batch's shape before step 1: XLA's FLOP count is known from the start.
    batch = jax.ShapeDtypeStruct((config.train.batch_size, size, size, 3), np.float32,
                                 sharding=sharding)
    compiled = make_train_step(config, mesh).lower(ae_state, disc_state, batch, start.rng).compile()
    writer = hooks.ScalarWriter(workdir, is_chief=jax.process_index() == 0)
    model = hooks.LiveModel(config, ae_state, networks.autoencoder)
    loop_hooks = _hooks(config, workdir, batches, checkpointer, evaluators, signals, writer,
                        model, start, total, step_flops(compiled), description)
    try:
      for step in range(start.step + 1, total + 1):
        with jax.profiler.StepTraceAnnotation('train', step_num=step):
          waited = time.perf_counter()
          with jax.profiler.TraceAnnotation('wait for data'):
            images = next(batches)
          data_wait = time.perf_counter() - waited
          global_images = jax.make_array_from_process_local_data(sharding, images)
          ae_state, disc_state, metrics = compiled(ae_state, disc_state, global_images, start.rng)
        outcome = hooks.Outcome(ae_state, disc_state, metrics, images, data_wait)
        for hook in loop_hooks:
          hook(step, outcome)
    finally:
      for hook in loop_hooks:
        hook.close()
      writer.close()
  return ae_state, disc_state


def _hooks(config: ml_collections.ConfigDict, workdir: str, batches: Any,
           checkpointer: Checkpointer, evaluators: list[hooks.PeriodicEvaluator],
           signals: preemption.StopSignals, writer: hooks.ScalarWriter, model: hooks.LiveModel,
           start: Start, total: int, flops: float | None, description: str) -> list[hooks.Hook]:
  """In order: the metric log (and its NaN check) before a save, the save before the stop;
  config.train.hooks last."""
  train, is_chief = config.train, jax.process_index() == 0
  log_every = hooks.Every(train.log_every, total)
  progress = hooks.Progress(log_every, writer, train.batch_size, flops, start.step, description,
                            is_chief)
  metric_log = hooks.MetricLog(log_every, writer, progress.show, checkpointer, workdir)
  checkpoints = hooks.Checkpoints(hooks.Every(train.checkpoint_every, total), checkpointer, writer,
                                  metric_log.check_finite, batches, start.rng, config, start.step)
  return [metric_log, progress,
          hooks.DataReport(log_every, writer, batches, workdir, is_chief),
          hooks.ImageGrids(hooks.Every(train.image_every, total), model, workdir,
                           config.eval.interpolation_steps, is_chief),
          hooks.PeriodicEvals(evaluators, model, writer, total),
          checkpoints, hooks.PreemptionStop(signals, checkpoints, total),
          hooks.ProfileWindow(train.profile_steps, workdir, start.step),
          *hooks.configured_hooks(config, workdir, total)]
