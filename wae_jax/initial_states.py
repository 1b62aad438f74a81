"""Where a run starts: fresh states (the encoder pre-trained where asked) or the latest checkpoint's."""

from typing import Any, NamedTuple

import jax
import ml_collections

from wae_jax.checkpoint import Checkpointer
from wae_jax.models import Networks
from wae_jax.pretrain import pretrain_encoder
from wae_jax.step import replicated
from wae_jax.train_state import TrainState, create_train_states


class Start(NamedTuple):
  ae_state: TrainState
  disc_state: TrainState | None
  rng: jax.Array  # the key every step folds its step number into
  step: int  # the steps done already


def initial_states(config: ml_collections.ConfigDict, networks: Networks, mesh: jax.sharding.Mesh,
                   batches: Any, checkpointer: Checkpointer, total: int) -> Start:
  """Replicated states over `mesh`; a resumed run also moves `batches` to its saved position."""
  init_rng, step_rng = jax.random.split(jax.random.key(config.seed))
  ae_state, disc_state = jax.device_put(
      create_train_states(config, networks, init_rng, batches.steps_per_epoch, total),
      replicated(mesh))
  if checkpointer.latest_step() is not None:
    ae_state, disc_state, step_rng, meta = checkpointer.restore(ae_state, disc_state)
    batches.set_state(meta['data'])
    return Start(ae_state, disc_state, step_rng, meta['step'])
  if config.encoder_pretrain.steps > 0:
    ae_state = pretrain_encoder(config, ae_state, mesh, jax.random.fold_in(init_rng, 1),
                                jax.process_index(), jax.process_count(),
                                jax.process_index() == 0)
  return Start(ae_state, disc_state, step_rng, 0)
