"""Learning-rate schedules by name (`config.optim.schedule`), per epoch like the official WAE code,
for both optimizers: 'constant' (the thesis); 'wae_manual': x 1, 1/2, 1/10, 1/100 from epochs 0,
30, 50, 100; 'wae_manual_smooth' (the official CelebA default): epoch e of E at 100^(-(e+1)/E)."""

from collections.abc import Callable

import jax.numpy as jnp
import optax

from wae_jax.errors import ConfigError

MANUAL_EPOCHS = (30, 50, 100)
MANUAL_FACTORS = (1.0, 0.5, 0.1, 0.01)
SMOOTH_TOTAL_DECAY = 100.0


# name -> the rate's factor as a function of (epoch, number of epochs); None: constant.
FACTORS: dict[str, Callable[[jnp.ndarray, float], jnp.ndarray] | None] = {
    'constant': None,
    'wae_manual': lambda epoch, _: jnp.asarray(MANUAL_FACTORS)[
        jnp.searchsorted(jnp.asarray(MANUAL_EPOCHS), epoch, side='right')],
    'wae_manual_smooth': lambda epoch, num_epochs: SMOOTH_TOTAL_DECAY ** (-(epoch + 1) / num_epochs)}


def check_schedule(name: str) -> None:
  if name not in FACTORS:
    raise ConfigError(f'unknown config.optim.schedule {name!r}: use one of {", ".join(FACTORS)}')


def check_optimizer(optim) -> None:
  """Refuses an unknown schedule, or a learning rate that is not positive (ascends to NaN)."""
  check_schedule(optim.schedule)
  for field in ('learning_rate', 'disc_learning_rate'):
    value = optim.get(field)
    if value is not None and not (isinstance(value, (int, float)) and value > 0):
      raise ConfigError(f'config.optim.{field}={value!r}: a learning rate must be a positive '
                        f'number (e.g. --config.optim.{field}=3e-4)')


def learning_rate(base: float, name: str, steps_per_epoch: int,
                  total_steps: int) -> float | optax.Schedule:
  """`base` for 'constant' (a plain float: no schedule state), else a function of the step."""
  check_schedule(name)
  factor = FACTORS[name]
  if factor is None:
    return base
  num_epochs = max(total_steps, 1) / max(steps_per_epoch, 1)
  return lambda step: base * factor(step // max(steps_per_epoch, 1), num_epochs)
