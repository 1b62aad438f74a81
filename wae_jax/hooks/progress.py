"""The progress bar and the speed of the loop: images/s, the share of its time spent waiting for
data, and TFLOP/s (XLA's FLOP count of the compiled step per second)."""

import time

import tqdm

from wae_jax.hooks.hook import Every, Hook, Outcome, ScalarWriter


class Progress(Hook):
  """Advances the bar every step; at each `every` step shows and logs the speed since the last."""

  def __init__(self, every: Every, writer: ScalarWriter, batch_size: int, step_flops: float | None,
               start: int, description: str, is_chief: bool):
    self.every, self.writer = every, writer
    self.batch_size, self.step_flops = batch_size, step_flops
    self.bar = tqdm.tqdm(total=every.last, initial=start, desc=description, unit='step',
                         disable=not is_chief, dynamic_ncols=True)
    self.last_time, self.last_step = time.perf_counter(), start
    self.data_wait = 0.0  # seconds the loop waited for batches since the last log
    self._speed: dict[str, str] = {}
    self._shown: dict[str, str] = {}

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
    """Adds `fields` (name -> text) to the bar, after the speed."""
    self._shown.update(fields)
    self.bar.set_postfix({**self._speed, **self._shown})

  def close(self) -> None:
    self.bar.close()
