"""What `config.model.encoder` and `.decoder` name: a `Component` (`encoders.ENCODERS`, ...)."""

import dataclasses
from typing import Callable

import flax.linen as nn


@dataclasses.dataclass(frozen=True)
class Sizes:
  """A component's sizes: `config.model.<encoder|decoder>_widths` and `_hidden_units`."""
  widths: tuple[int, ...]  # encoder: per stride-2 conv (ResNet: per stage); decoder: 4x4 map, then per conv
  hidden_units: int  # a Dense layer before the latent head / the projection to 4x4; 0: none


@dataclasses.dataclass(frozen=True)
class Component:
  """An encoder or decoder by name: `build(sizes, model_config, dtype, axis_name[, gaussian])`,
  `thesis_sizes` (what None means, at width 1), and `check(sizes, image_size, fields)`: one line
  naming the field (`fields`: e.g. 'config.model.encoder_') why these sizes cannot work, or None."""
  build: Callable[..., nn.Module]
  thesis_sizes: Sizes
  check: Callable[[Sizes, int, str], str | None]
