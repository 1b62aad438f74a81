"""Checkpoints with Orbax: both train states, the step, the RNG key, the data position, the config.

Saves are atomic (Orbax writes to a temporary directory and renames it when complete), so a
process killed mid-save leaves the previous checkpoint as the latest; leftover temporary
directories are removed when the next run opens the workdir.
"""

import json
import os

import jax
import ml_collections
import orbax.checkpoint as ocp

from wae_jax.errors import WorkdirError
from wae_jax.train_state import TrainState

CHECKPOINT_DIR = 'checkpoints'


def checkpoint_dir(workdir: str) -> str:
  return os.path.join(os.path.abspath(workdir), CHECKPOINT_DIR)


class Checkpointer:
  """An Orbax CheckpointManager holding 'autoencoder', 'discriminator' and 'meta' items."""

  def __init__(self, workdir: str, keep: int = 3, read_only: bool = False):
    directory = checkpoint_dir(workdir)
    if read_only and not os.path.isdir(directory):
      raise WorkdirError(f'no checkpoints in {directory}: train first '
                         f'(python launch.py --config=... --workdir={workdir})')
    options = ocp.CheckpointManagerOptions(
        max_to_keep=keep, create=not read_only, cleanup_tmp_directories=not read_only,
        read_only=read_only)
    self._manager = ocp.CheckpointManager(directory, options=options)

  def latest_step(self) -> int | None:
    return self._manager.latest_step()

  def save(self, step: int, ae_state: TrainState, disc_state: TrainState | None, rng: jax.Array,
           data_state: dict, config: ml_collections.ConfigDict) -> None:
    """Saves asynchronously; the previous checkpoint stays valid until this one is complete."""
    meta = {'step': step, 'rng': jax.random.key_data(rng).tolist(), 'data': data_state,
            'config': json.loads(config.to_json())}
    items = {'autoencoder': ocp.args.StandardSave(ae_state), 'meta': ocp.args.JsonSave(meta)}
    if disc_state is not None:
      items['discriminator'] = ocp.args.StandardSave(disc_state)
    self._manager.save(step, args=ocp.args.Composite(**items))

  def restore_meta(self, step: int | None = None) -> dict:
    step = self.latest_step() if step is None else step
    return self._manager.restore(step, args=ocp.args.Composite(meta=ocp.args.JsonRestore()))['meta']

  def restore(self, ae_state: TrainState, disc_state: TrainState | None, step: int | None = None
              ) -> tuple[TrainState, TrainState | None, jax.Array, dict]:
    """Restores into the structure (and shardings) of the given states.

    Returns (ae_state, disc_state, rng, meta), meta holding 'step', 'data' and 'config'.
    """
    step = self.latest_step() if step is None else step
    items = {'autoencoder': ocp.args.StandardRestore(ae_state), 'meta': ocp.args.JsonRestore()}
    if disc_state is not None:
      items['discriminator'] = ocp.args.StandardRestore(disc_state)
    restored = self._manager.restore(step, args=ocp.args.Composite(**items))
    meta = restored['meta']
    rng = jax.random.wrap_key_data(jax.numpy.asarray(meta['rng'], jax.numpy.uint32))
    return restored['autoencoder'], restored.get('discriminator'), rng, meta

  def wait(self) -> None:
    self._manager.wait_until_finished()

  def close(self) -> None:
    self._manager.close()


def config_from_meta(meta: dict) -> ml_collections.ConfigDict:
  return ml_collections.ConfigDict(meta['config'])
