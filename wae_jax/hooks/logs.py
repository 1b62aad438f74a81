"""What the loop logs every `train.log_every` steps: the metrics (NaN or Inf stops the run), the
speed (progress bar and TensorBoard), and the data loader's counters and corrupt images."""

import os
import time
from typing import Any, Callable

import jax
import numpy as np
import tqdm

from wae_jax.atomic_files import write_text
from wae_jax.checkpoint import Checkpointer
from wae_jax.errors import UserError
from wae_jax.hooks.hook import Every, Hook, Outcome, ScalarWriter

CORRUPT_LIST = 'corrupt_images.txt'  # in the workdir: every corrupt image met, 'location<TAB>reason'


class NonFiniteLossError(UserError):
  """A loss became NaN or Inf; the run stopped without saving the broken state."""


class Progress(Hook):
  """The bar advances every step; at log steps it shows the speed since the last, also logged."""

  def __init__(self, every: Every, writer: ScalarWriter, batch_size: int, step_flops: float | None,
               start: int, description: str, is_chief: bool):
    self.every, self.writer, self.batch_size, self.step_flops = every, writer, batch_size, step_flops
    self.bar = tqdm.tqdm(total=every.last, initial=start, desc=description, unit='step',
                         disable=not is_chief, dynamic_ncols=True)
    self.last_time, self.last_step, self.data_wait = time.perf_counter(), start, 0.0
    self._speed, self._shown = {}, {}

  def __call__(self, step: int, outcome: Outcome) -> None:
    self.bar.update(1)
    self.data_wait += outcome.data_wait
    if not self.every.due(step):
      return
    now = time.perf_counter()
    seconds, steps = now - self.last_time, step - self.last_step
    speed = {'images_per_second': steps * self.batch_size / seconds,
             'data_wait_share': self.data_wait / seconds}  # of the loop's time, blocked on data
    self._speed = {'img/s': f'{speed["images_per_second"]:.1f}',
                   'data': f'{speed["data_wait_share"]:.0%}'}
    if self.step_flops:
      speed['tflops_per_second'] = steps * self.step_flops / seconds / 1e12
      self._speed['TFLOP/s'] = f'{speed["tflops_per_second"]:.3g}'
    self.last_time, self.last_step, self.data_wait = now, step, 0.0
    self.show({})
    self.writer.write(step, {f'train/{name}': value for name, value in speed.items()})

  def show(self, fields: dict[str, str]) -> None:
    """Shows `fields` (name -> text) on the bar, after the speed."""
    self._shown.update(fields)
    self.bar.set_postfix({**self._speed, **self._shown})

  def close(self) -> None:
    self.bar.close()


class MetricLog(Hook):
  """Keeps the step metrics on the devices until a log step, then logs each one's mean;
  `check_finite` (also before each save) raises NonFiniteLossError for a NaN or Inf."""

  def __init__(self, every: Every, writer: ScalarWriter, show: Callable[[dict[str, str]], None],
               checkpointer: Checkpointer, workdir: str):
    self.every, self.writer, self.show = every, writer, show
    self.checkpointer, self.workdir = checkpointer, workdir
    self._pending: list[tuple[int, Any]] = []  # (step, metrics)

  def __call__(self, step: int, outcome: Outcome) -> None:
    self._pending.append((step, outcome.metrics))
    if not self.every.due(step):
      return
    self.check_finite()
    host, self._pending = self._pending, []
    means = {name: float(np.mean([metrics[name] for _, metrics in host])) for name in host[-1][1]}
    self.show({name: f'{value:.4g}' for name, value in means.items()})
    self.writer.write(step, {f'train/{name}': value for name, value in means.items()})

  def check_finite(self) -> None:
    self._pending = [(step, {name: float(value) for name, value in jax.device_get(metrics).items()})
                     for step, metrics in self._pending]
    for step, metrics in self._pending:
      for name, value in metrics.items():
        if not np.isfinite(value):
          raise NonFiniteLossError(
              f'{name} became non-finite at step {step}; stopped without saving. The last good '
              f'checkpoint (step {self.checkpointer.latest_step()}) in {self.workdir} is intact: '
              'lower the learning rate or penalty weight and resume')


class DataReport(Hook):
  """At log steps, on the chief: `data/<counter>` scalars, and where corrupt images were met
  since the last report, the workdir's full list rewritten and one line above the bar."""

  def __init__(self, every: Every, writer: ScalarWriter, batches: Any, workdir: str,
               is_chief: bool):
    self.every, self.writer, self.batches, self.is_chief = every, writer, batches, is_chief
    self.path = os.path.join(workdir, CORRUPT_LIST)
    self.reported = batches.stats['corrupt']  # those of a resumed run were reported

  def __call__(self, step: int, outcome: Outcome) -> None:
    if not (self.is_chief and self.every.due(step)):
      return
    corrupt = self.batches.corrupt_files
    if len(corrupt) > self.reported:
      write_text(self.path, ''.join(f'{location}\t{reason}\n' for location, reason in corrupt.items()))
      location, reason = list(corrupt.items())[-1]
      tqdm.tqdm.write(f'step {step}: {len(corrupt)} corrupt image(s) skipped so far, '
                      f'{len(corrupt) - self.reported} new (latest: {location}: {reason}); '
                      f'all in {self.path}')
      self.reported = len(corrupt)
    self.writer.write(step, {f'data/{name}': value for name, value in self.batches.stats.items()})
