"""Checkpoints with Orbax: both train states, the step, the RNG key, the data position, the config.

Saves are atomic (Orbax writes to a temporary directory and renames it when complete), so a
process killed mid-save leaves the previous checkpoint as the latest; leftover temporary
directories are removed when the next run opens the workdir.
"""

import errno
import json
import os
import shutil
from typing import Any

import jax
import ml_collections
import orbax.checkpoint as ocp
from etils import epath

from wae_jax import objectives, writer_errors
from wae_jax.config_defaults import base_config, flat_fields, is_fixed_on_resume
from wae_jax.errors import ConfigError, UserError, WorkdirError
from wae_jax.train_state import TrainState

CHECKPOINT_DIR = 'checkpoints'
# How a field that only one of two configs has is shown.
ABSENT = '(absent)'
# The layout of a checkpoint's metadata ('schema'; none: 1). 2: each objective's own fields in
# config.objective.<objective>, where 1 had them in config.objective itself.
SCHEMA_VERSION = 2


def checkpoint_dir(workdir: str) -> str:
  return os.path.join(os.path.abspath(workdir), CHECKPOINT_DIR)


class CheckpointWriteError(UserError):
  """A checkpoint could not be written (a full disk, a lost mount); the earlier ones are intact."""


def _directory_bytes(path: str) -> int:
  return sum(os.path.getsize(os.path.join(root, name))
             for root, _, names in os.walk(path) for name in names)


class Checkpointer:
  """An Orbax CheckpointManager holding 'autoencoder', 'discriminator' and 'meta' items."""

  def __init__(self, workdir: str, keep: int = 3, read_only: bool = False, keep_every: int = 0,
               asynchronous: bool = True):
    """`keep`: the latest checkpoints kept; `keep_every` > 0 also keeps every checkpoint of a
    step that is a multiple of it (e.g. the midpoint a study scores); `asynchronous`: write in a
    background thread (benchmarks/checkpoint_save.py measures both)."""
    directory = checkpoint_dir(workdir)
    if read_only and not os.path.isdir(directory):
      raise WorkdirError(f'no checkpoints in {directory}: train first '
                         f'(python launch.py --config=... --workdir={workdir})')
    # A reader opens the manager without Orbax's read_only option, which logs three warnings on
    # every open; it never saves, creates nor cleans anything.
    options = ocp.CheckpointManagerOptions(
        max_to_keep=None if read_only else keep, keep_period=keep_every or None, create=not read_only,
        cleanup_tmp_directories=not read_only, enable_async_checkpointing=asynchronous)
    self._manager = ocp.CheckpointManager(directory, options=options)
    self._directory = directory
    self._writing: int | None = None  # the step of a save that may still run in the background
    self._held = writer_errors.WriterErrorsHeld()

  def latest_step(self) -> int | None:
    return self._manager.latest_step()

  def all_steps(self) -> list[int]:
    return sorted(self._manager.all_steps())

  def save(self, step: int, ae_state: TrainState, disc_state: TrainState | None, rng: jax.Array,
           data_state: dict, config: ml_collections.ConfigDict) -> None:
    """Saves asynchronously; the previous checkpoint stays valid until this one is complete.

    Raises CheckpointWriteError, before writing anything, where the disk has less room than the
    latest checkpoint takes (or the states, for the first), and where the write itself fails.
    """
    self.wait()  # for the save before (Orbax would wait for it too), and its error
    needs = self._bytes_needed((ae_state, disc_state))
    try:
      free = shutil.disk_usage(self._directory).free
    except OSError:  # no local directory (e.g. a bucket): nothing to measure
      free = None
    if free is not None and free < needs:
      raise self._write_error(step, OSError(errno.ENOSPC, os.strerror(errno.ENOSPC)), needs, free)
    meta = {'schema': SCHEMA_VERSION, 'step': step, 'rng': jax.random.key_data(rng).tolist(), 'data': data_state,
            'config': json.loads(config.to_json())}
    items = {'autoencoder': ocp.args.StandardSave(ae_state), 'meta': ocp.args.JsonSave(meta)}
    if disc_state is not None:
      items['discriminator'] = ocp.args.StandardSave(disc_state)
    self._writing = step
    self._held.start()
    try:
      self._manager.save(step, args=ocp.args.Composite(**items))
    except Exception as error:  # noqa: BLE001  (tensorstore and Orbax raise ValueError, OSError, ...)
      raise self._write_error(step, error, needs) from None

  def _bytes_needed(self, states) -> int:
    """The size of the latest checkpoint on disk (the next one takes as much), else the states'
    (a little more than Orbax writes)."""
    written = self.written_steps()
    if written:
      return _directory_bytes(os.path.join(self._directory, str(written[-1])))
    return sum(leaf.nbytes for leaf in jax.tree.leaves(states) if hasattr(leaf, 'nbytes'))

  def written_steps(self) -> list[int]:
    """The steps of the complete checkpoints on disk (Orbax renames a save into place when done)."""
    if not os.path.isdir(self._directory):
      return []
    return sorted(int(name) for name in os.listdir(self._directory) if name.isdigit())

  def _write_error(self, step: int | None, error: BaseException, needs: int | None = None,
                   free: int | None = None) -> CheckpointWriteError:
    text = str(error)
    full = (isinstance(error, OSError) and error.errno == errno.ENOSPC) or 'No space left' in text
    reason = 'no space left on device' if full else (text.strip().splitlines() or [repr(error)])[0][:300]
    room = []
    if needs is not None and full:
      room.append(f'needs ~{needs / 2**20:.1f} MB')
    if free is not None:
      room.append(f'{free / 2**20:.1f} MB free')
    self._held.reported = True
    earlier = [s for s in self.written_steps() if s != step]
    intact = (f'the checkpoint of step {earlier[-1]} is intact' if earlier
              else 'there is no earlier checkpoint')
    return CheckpointWriteError(
        f'checkpoint{"" if step is None else f" of step {step}"} not written: {reason} in {self._directory}'
        + (f' ({", ".join(room)})' if room else '') + f'; {intact}')

  def check_for_errors(self) -> None:
    """Raises CheckpointWriteError once a save running in the background has failed."""
    if self._writing is None:
      return
    finished = not self._manager.is_saving_in_progress()  # before: a failure is recorded by then
    try:
      self._manager.check_for_errors()  # of the write
      if finished:
        self._manager.wait_until_finished()  # returns at once; raises a failure of the finalize
    except Exception as error:  # noqa: BLE001
      raise self._write_error(self._writing, error) from None
    if finished:
      self._writing = None
      self._held.stop()

  def restore_meta(self, step: int | None = None) -> dict:
    step = self.latest_step() if step is None else step
    return migrate(self._manager.restore(step, args=ocp.args.Composite(meta=ocp.args.JsonRestore()))['meta'])

  def restore(self, ae_state: TrainState, disc_state: TrainState | None, step: int | None = None
              ) -> tuple[TrainState, TrainState | None, jax.Array, dict]:
    """Restores into the structure (and shardings) of the given states; abstract leaves without
    a sharding are restored onto this process's first device, whatever topology saved them.

    Returns (ae_state, disc_state, rng, meta), meta holding 'step', 'data' and 'config'.
    """
    step = self.latest_step() if step is None else step
    ae_state, disc_state = placed((ae_state, disc_state))
    items = {'autoencoder': ocp.args.StandardRestore(ae_state), 'meta': ocp.args.JsonRestore()}
    if disc_state is not None:
      items['discriminator'] = ocp.args.StandardRestore(disc_state)
    restored = self._manager.restore(step, args=ocp.args.Composite(**items))
    meta = migrate(restored['meta'])
    rng = jax.random.wrap_key_data(jax.numpy.asarray(meta['rng'], jax.numpy.uint32))
    return restored['autoencoder'], restored.get('discriminator'), rng, meta

  def restore_variables(self, step: int) -> dict:
    """The auto-encoder's 'params' and 'batch_stats' of the checkpoint of `step`, on this
    process's first device, read by the tree the checkpoint itself holds: no optimizer, objective
    or train state has to be built (what a notebook or an evaluator needs)."""
    handler = ocp.StandardCheckpointHandler()
    try:  # the tree of the item as saved (Orbax keeps step <k>'s items in <k>/<item>/)
      saved = handler.metadata(epath.Path(self._directory) / str(step) / 'autoencoder')
    finally:
      handler.close()
    abstract = placed(jax.tree.map(lambda leaf: jax.ShapeDtypeStruct(leaf.shape, leaf.dtype), saved))
    state = self._manager.restore(step, args=ocp.args.Composite(
        autoencoder=ocp.args.StandardRestore(abstract)))['autoencoder']
    return {'params': state['params'], 'batch_stats': state['batch_stats']}

  def wait(self) -> None:
    """Waits for a save running in the background; raises CheckpointWriteError if it failed."""
    try:
      self._manager.wait_until_finished()
    except Exception as error:  # noqa: BLE001
      raise self._write_error(self._writing, error) from None
    self.check_for_errors()

  def close(self) -> None:
    self._manager.close()
    self._held.stop()

  def abandon(self) -> None:
    """Waits for and closes the manager, ignoring the failure of a save, when the run stops on
    another error (or on that failure, already reported)."""
    for finish in (self._manager.wait_until_finished, self._manager.close):
      try:
        finish()
      except Exception:  # noqa: BLE001
        pass
    self._held.stop()


def placed(tree):
  """`tree` with every abstract leaf (jax.ShapeDtypeStruct) that lacks a sharding placed on this
  process's first device: Orbax would otherwise take the saving run's device layout, which another
  number of processes or devices does not have."""
  device = jax.sharding.SingleDeviceSharding(jax.local_devices()[0])

  def place(leaf):
    if isinstance(leaf, jax.ShapeDtypeStruct) and leaf.sharding is None:
      return jax.ShapeDtypeStruct(leaf.shape, leaf.dtype, sharding=device)
    return leaf

  return jax.tree.map(place, tree)


def migrate(meta: dict) -> dict:
  """A checkpoint's metadata, of any schema version, in this one's (SCHEMA_VERSION): the config
  with version 1's flat objective fields in their objective's block, and every field added to
  `base_config()` since at its default (which keeps the behaviour from before it existed)."""
  config = dict(meta['config'])
  if meta.get('schema', 1) < 2:
    shared = dict(config.get('objective', {}))
    for name, fields in objectives.own_fields().items():
      for field in fields.keys() & shared.keys():
        config['objective'] = {**config['objective'], name: {**config['objective'].get(name, {}),
                                                             field: shared[field]}}
    config['objective'] = {key: value for key, value in config.get('objective', {}).items()
                           if not any(key in fields for fields in objectives.own_fields().values())}
  return {**meta, 'schema': SCHEMA_VERSION,
          'config': _with_defaults(json.loads(base_config().to_json()), config)}


def config_from_meta(meta: dict) -> ml_collections.ConfigDict:
  """The config a checkpoint was saved with, in today's fields (`migrate`)."""
  return ml_collections.ConfigDict(migrate(meta)['config'])


def _with_defaults(defaults: dict, saved: dict) -> dict:
  merged = dict(defaults)
  for key, value in saved.items():
    merged[key] = (_with_defaults(defaults[key], value)
                   if isinstance(value, dict) and isinstance(defaults.get(key), dict) else value)
  return merged


def config_changes(saved: dict, config: ml_collections.ConfigDict) -> dict[str, tuple[Any, Any]]:
  """{field: (value in the checkpoint's config, value in `config`)} of every field that differs,
  the saved config read as `migrate` reads it."""
  before = flat_fields(migrate({'config': saved})['config'])
  now = flat_fields(json.loads(config.to_json()))
  return {field: (before.get(field, ABSENT), now.get(field, ABSENT))
          for field in sorted(before.keys() | now.keys())
          if before.get(field, ABSENT) != now.get(field, ABSENT)}


def check_resumable(changes: dict[str, tuple[Any, Any]], workdir: str, step: int) -> None:
  """Raises ConfigError naming the changed fields a checkpoint is bound to (FIXED_ON_RESUME)."""
  fixed = [f'{field}: {saved!r} in the checkpoint, {now!r} now' for field, (saved, now) in changes.items()
           if is_fixed_on_resume(field)]
  if fixed:
    raise ConfigError(f'{workdir} holds a checkpoint (step {step}) of another model or data: '
                      f'{"; ".join(fixed)}. Resume with the config it was trained with, or start '
                      'a new run with another --workdir')
