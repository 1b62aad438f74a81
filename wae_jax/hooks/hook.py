"""The contract: after every step the loop calls `hook(step, outcome)`, and `close()` once at the
end (also on an error). A hook owns its state and decides with `Every` which steps it works on."""

import dataclasses
import glob
import os
import struct
from typing import Any

import ml_collections
import numpy as np
from tensorboardX import SummaryWriter
from tensorboardX.proto import event_pb2

from wae_jax.named import class_at


@dataclasses.dataclass(frozen=True)
class Outcome:
  """What a step leaves: its states, metrics (on the devices), this host's batch, data wait (s)."""
  ae_state: Any
  disc_state: Any
  metrics: Any
  images: np.ndarray
  data_wait: float


@dataclasses.dataclass(frozen=True)
class Every:
  """Due after every `steps`-th step (never when `steps` <= 0) and, if `at_end`, after `last`."""
  steps: int
  last: int
  at_end: bool = True

  def due(self, step: int) -> bool:
    return (self.steps > 0 and step % self.steps == 0) or (self.at_end and step == self.last)


class Hook:

  def __call__(self, step: int, outcome: Outcome) -> None:
    raise NotImplementedError

  def close(self) -> None:
    pass


def configured_hooks(config: ml_collections.ConfigDict, workdir: str, total: int) -> list[Hook]:
  """The hooks config.train.hooks names ('package.module:Class'), each built as
  Class(config, workdir, total): a periodic action of your own without editing the loop."""
  built = []
  for name in config.train.hooks:
    hook_class = class_at(name, f"config.train.hooks names {name!r}: give 'package.module:Class', "
                                'an importable Hook class')
    built.append(hook_class(config, workdir, total))
  return built


def read_scalars(workdir: str) -> dict[str, list[tuple[int, float]]]:
  """Every scalar of the workdir's TensorBoard event files (TFRecord framing, Event protos)."""
  scalars: dict[str, list[tuple[int, float]]] = {}
  for path in sorted(glob.glob(os.path.join(workdir, 'events.out.tfevents.*'))):
    with open(path, 'rb') as file:
      content = file.read()
    position = 0
    while position < len(content):
      (length,) = struct.unpack('<Q', content[position:position + 8])
      event = event_pb2.Event.FromString(content[position + 12:position + 12 + length])
      position += 12 + length + 4
      for value in event.summary.value:
        scalars.setdefault(value.tag, []).append((int(event.step), float(value.simple_value)))
  return scalars


class ScalarWriter:
  """TensorBoard scalars in the workdir, from the chief process only (elsewhere a no-op)."""

  def __init__(self, workdir: str, is_chief: bool):
    self._writer = SummaryWriter(workdir) if is_chief else None

  def write(self, step: int, scalars: dict[str, float]) -> None:
    for tag, value in scalars.items() if self._writer else ():
      self._writer.add_scalar(tag, value, step)

  def close(self) -> None:
    if self._writer:
      self._writer.close()
