"""The data loader's report: its counters in TensorBoard, and every corrupt training image met
so far listed in the workdir, with one line above the progress bar when new ones appear."""

import os
from typing import Any

import tqdm

from wae_jax.atomic_files import write_text
from wae_jax.hooks.hook import Every, Hook, Outcome, ScalarWriter

# Every corrupt training image met so far, one 'location<TAB>reason' per line, in the workdir.
CORRUPT_LIST = 'corrupt_images.txt'


class DataReport(Hook):
  """At every `every` step, on the chief process: `data/<counter>` scalars and the corrupt list."""

  def __init__(self, every: Every, writer: ScalarWriter, batches: Any, workdir: str,
               is_chief: bool):
    self.every, self.writer, self.batches, self.is_chief = every, writer, batches, is_chief
    self.path = os.path.join(workdir, CORRUPT_LIST)
    self.reported = batches.stats['corrupt']  # those of a resumed run were reported

  def __call__(self, step: int, outcome: Outcome) -> None:
    if not (self.is_chief and self.every.due(step)):
      return
    self.report_corrupt(step)
    self.writer.write(step, {f'data/{name}': value for name, value in self.batches.stats.items()})

  def report_corrupt(self, step: int) -> None:
    corrupt = self.batches.corrupt_files
    if len(corrupt) <= self.reported:
      return
    write_text(self.path, ''.join(f'{location}\t{reason}\n' for location, reason in corrupt.items()))
    location, reason = list(corrupt.items())[-1]
    tqdm.tqdm.write(f'step {step}: {len(corrupt)} corrupt image(s) skipped so far, '
                    f'{len(corrupt) - self.reported} new (latest: {location}: {reason}); '
                    f'all in {self.path}')
    self.reported = len(corrupt)
