"""The one compiled training step: discriminator and auto-encoder updated together.

The step is a per-device SPMD program over a device mesh axis named 'batch' (`jax.shard_map`
under `jax.jit`): each device holds a slice of the global batch, BatchNorm statistics and the
MMD are computed over the whole global batch with collectives, and gradients are averaged over
devices, so one step gives the same result on any number of devices.

Order within a step (the seed's Algorithm 2): encode the batch once; update the discriminator
on these codes and fresh prior samples; then update the auto-encoder against the updated
discriminator, back-propagating through the same forward pass (`jax.vjp`), so the encoder runs
once per step.
"""

import functools
from typing import Any, Callable

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec as P

from wae_jax import losses
from wae_jax.models import DTYPES, Networks, build
from wae_jax.train_state import TrainState

AXIS = 'batch'


def global_normal(rng: jax.Array, local_size: int, dim: int) -> jax.Array:
  """This device's rows of a [global batch, dim] standard normal draw.

  Drawing the whole global array and slicing it makes the noise of each example independent
  of how many devices share the batch.
  """
  index = jax.lax.axis_index(AXIS)
  total = local_size * jax.lax.axis_size(AXIS)
  draw = jax.random.normal(rng, (total, dim), jnp.float32)
  return jax.lax.dynamic_slice_in_dim(draw, index * local_size, local_size)


def _discriminator_update(state: TrainState, z_codes: jax.Array, z_prior: jax.Array,
                          weight: float) -> tuple[TrainState, dict]:
  def loss_fn(params):
    logits = state.apply_fn({'params': params}, jnp.concatenate([z_prior, z_codes]))
    logits_prior, logits_codes = jnp.split(logits, 2)
    return losses.discriminator_loss(logits_prior, logits_codes, weight), (
        logits_prior, logits_codes)

  (loss, (logits_prior, logits_codes)), grads = jax.value_and_grad(loss_fn, has_aux=True)(
      state.params)
  grads = jax.lax.pmean(grads, AXIS)
  metrics = {'disc_loss': loss, 'disc_prior_prob': jnp.mean(jax.nn.sigmoid(logits_prior)),
             'disc_codes_prob': jnp.mean(jax.nn.sigmoid(logits_codes))}
  return state.apply_gradients(grads=grads), metrics


def _device_step(ae_state: TrainState, disc_state: TrainState | None, images: jax.Array,
                 rng: jax.Array, *, config: Any, dtype: Any) -> tuple:
  objective = config.objective
  loss_fn, _ = losses.OBJECTIVES[objective.name]
  rng = jax.random.fold_in(rng, ae_state.step)
  noise_rng, prior_rng = jax.random.split(rng)
  batch, latent = images.shape[0], config.model.latent_dim
  noise = global_normal(noise_rng, batch, latent)
  z_prior = objective.sigma_z * global_normal(prior_rng, batch, latent)

  def forward(params):
    (codes, reconstruction), updates = ae_state.apply_fn(
        {'params': params, 'batch_stats': ae_state.batch_stats}, images.astype(dtype), noise,
        train=True, mutable=['batch_stats'])
    return (codes, reconstruction), updates['batch_stats']

  outputs, pullback, batch_stats = jax.vjp(forward, ae_state.params, has_aux=True)
  metrics = {}
  critic = None
  if disc_state is not None:
    disc_state, metrics = _discriminator_update(
        disc_state, jax.lax.stop_gradient(outputs[0]['z']), z_prior, objective.penalty_weight)
    critic = functools.partial(disc_state.apply_fn, {'params': disc_state.params})

  def objective_fn(outputs):
    codes, reconstruction = outputs
    return loss_fn(images, reconstruction, codes, config=objective, critic=critic,
                   z_prior=z_prior, axis_name=AXIS)

  (loss, parts), cotangent = jax.value_and_grad(objective_fn, has_aux=True)(outputs)
  (grads,) = pullback(cotangent)
  grads = jax.lax.pmean(grads, AXIS)
  ae_state = ae_state.apply_gradients(grads=grads, batch_stats=batch_stats)
  metrics = jax.lax.pmean({'loss': loss, **parts, **metrics}, AXIS)
  return ae_state, disc_state, metrics


def make_mesh(devices=None) -> Mesh:
  """A 1-D mesh over `devices` (default: all devices of all hosts), axis 'batch'."""
  return Mesh(np.asarray(devices or jax.devices()), (AXIS,))


def make_train_step(config: Any, mesh: Mesh) -> Callable:
  """Compiled step: (ae_state, disc_state, images, rng) -> (ae_state, disc_state, metrics).

  `images` is the global batch, sharded (or shardable) over the mesh's 'batch' axis; states
  and rng are replicated. The input states are donated.
  """
  device_step = functools.partial(_device_step, config=config, dtype=DTYPES[config.dtype])
  sharded = jax.shard_map(device_step, mesh=mesh, in_specs=(P(), P(), P(AXIS), P()),
                          out_specs=(P(), P(), P()), check_vma=False)
  return jax.jit(sharded, donate_argnums=(0, 1))


def batch_sharding(mesh: Mesh) -> NamedSharding:
  return NamedSharding(mesh, P(AXIS))


def replicated(mesh: Mesh) -> NamedSharding:
  return NamedSharding(mesh, P())


def step_networks(config: Any) -> Networks:
  """Networks whose BatchNorm averages statistics over the step's device axis."""
  return build(config.model, config.dtype, axis_name=AXIS)
