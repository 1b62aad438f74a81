"""A jax.profiler trace of `train.profile_steps` steps after two of warm-up, in <workdir>/profile/
(for TensorBoard's Profile tab or ui.perfetto.dev)."""

import os

import jax
import tqdm

from wae_jax.hooks.hook import Hook, Outcome

WARM_UP = 2  # steps not traced (the first ones may compile and allocate)


class ProfileWindow(Hook):

  def __init__(self, steps: int, workdir: str, start: int):
    self.first, self.last = start + WARM_UP + 1, start + WARM_UP + steps
    self.directory = os.path.join(workdir, 'profile')
    self.steps, self.tracing = steps, False

  def __call__(self, step: int, outcome: Outcome) -> None:
    if self.steps > 0 and step == self.first - 1:
      options = jax.profiler.ProfileOptions()
      options.python_tracer_level = 0  # every Python call: 100,000s of events a step
      jax.profiler.start_trace(self.directory, create_perfetto_trace=True, profiler_options=options)
      self.tracing = True
    elif self.tracing and step == self.last:
      jax.block_until_ready(outcome.metrics)
      self.close()
      tqdm.tqdm.write(f'profile of steps {self.first}-{self.last} in {self.directory}: '
                      f'tensorboard --logdir {self.directory} (Profile tab), or its '
                      'perfetto_trace.json.gz in ui.perfetto.dev')

  def close(self) -> None:
    if self.tracing:
      jax.profiler.stop_trace()
      self.tracing = False
