"""The one compiled training step: discriminator and auto-encoder updated together.

The step is a per-device SPMD program over a device mesh axis named 'batch' (`jax.shard_map`
under `jax.jit`): each device holds a slice of the global batch, BatchNorm statistics and the
MMD are computed over the whole global batch with collectives, and gradients are averaged over
devices, so one step gives the same result on any number of devices.

Order within a step (the seed's Algorithm 2): encode the batch once; where the objective
declares a latent critic, update it on these codes and fresh prior samples; then update the
auto-encoder against the updated critic, back-propagating through the same forward pass
(`jax.vjp`), so the encoder runs once per step. What is computed is what the objective
(`wae_jax.objectives`) declares.
"""

import functools
from typing import Any, Callable

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec as P

from wae_jax import cpu_options, objectives
from wae_jax.models import DTYPES, Networks, build_for
from wae_jax.train_state import TrainState

AXIS = 'batch'
# Folded into a step's key for the objective's own draws: a key apart from the two the step
# splits off for the encoder's noise and the prior, which stay as they were.
OBJECTIVE_KEY = 2


def global_rows(draw: Callable[[jax.Array, int], jax.Array], rng: jax.Array,
                local_size: int) -> jax.Array:
  """This device's rows of `draw(rng, global batch size)`.

  Drawing the whole global array and slicing it makes the noise of each example independent
  of how many devices share the batch.
  """
  index = jax.lax.axis_index(AXIS)
  total = local_size * jax.lax.axis_size(AXIS)
  return jax.lax.dynamic_slice_in_dim(draw(rng, total), index * local_size, local_size)


def global_normal(rng: jax.Array, local_size: int, dim: int) -> jax.Array:
  """This device's rows of a [global batch, dim] standard normal draw."""
  return global_rows(lambda key, n: jax.random.normal(key, (n, dim), jnp.float32), rng, local_size)


def global_prior(objective: objectives.Objective, objective_config: Any, rng: jax.Array,
                 local_size: int, dim: int) -> jax.Array:
  """This device's rows of a global batch of the objective's prior draws."""
  return global_rows(lambda key, n: objective.prior(key, n, dim, objective_config), rng, local_size)


def _critic_update(state: TrainState, critic: objectives.LatentCritic, objective_config: Any,
                   z_codes: jax.Array, z_prior: jax.Array) -> tuple[TrainState, dict]:
  def loss_fn(params):
    logits = state.apply_fn({'params': params}, jnp.concatenate([z_prior, z_codes]))
    logits_prior, logits_codes = jnp.split(logits, 2)
    return critic.loss(logits_prior, logits_codes, objective_config)

  (loss, parts), grads = jax.value_and_grad(loss_fn, has_aux=True)(state.params)
  grads = jax.lax.pmean(grads, AXIS)
  return state.apply_gradients(grads=grads), {'disc_loss': loss, **parts}


def _device_step(ae_state: TrainState, disc_state: TrainState | None, images: jax.Array,
                 rng: jax.Array, *, config: Any, dtype: Any) -> tuple:
  objective = objectives.get(config.objective.name)
  rng = jax.random.fold_in(rng, ae_state.step)
  noise_rng, prior_rng = jax.random.split(rng)
  batch, latent = images.shape[0], config.model.latent_dim
  noise = global_normal(noise_rng, batch, latent)
  z_prior = global_prior(objective, config.objective, prior_rng, batch, latent)
  objective_rng = jax.random.fold_in(rng, OBJECTIVE_KEY)  # the same on every device

  def forward(params):
    (codes, reconstruction), updates = ae_state.apply_fn(
        {'params': params, 'batch_stats': ae_state.batch_stats}, images.astype(dtype), noise,
        train=True, mutable=['batch_stats'])
    return (codes, reconstruction), updates['batch_stats']

  outputs, pullback, batch_stats = jax.vjp(forward, ae_state.params, has_aux=True)
  metrics = {}
  critic = None
  if objective.critic is not None:
    disc_state, metrics = _critic_update(disc_state, objective.critic, config.objective,
                                         jax.lax.stop_gradient(outputs[0]['z']), z_prior)
    critic = functools.partial(disc_state.apply_fn, {'params': disc_state.params})

  def autoencoder_loss(outputs):
    codes, reconstructions = outputs
    inputs = objectives.LossInputs(images=images, reconstructions=reconstructions, codes=codes,
                                   prior_samples=z_prior, critic=critic, axis_name=AXIS,
                                   rng=objective_rng)
    return objective.autoencoder_loss(inputs, config.objective)

  (loss, parts), cotangent = jax.value_and_grad(autoencoder_loss, has_aux=True)(outputs)
  (grads,) = pullback(cotangent)
  if objective.parameter_penalty is not None:  # a function of the parameters alone
    (penalty, penalty_parts), penalty_grads = jax.value_and_grad(
        objective.parameter_penalty, has_aux=True)(ae_state.params, config.objective)
    grads = jax.tree.map(jnp.add, grads, penalty_grads)
    loss, parts = loss + penalty, {**parts, **penalty_parts}
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
  return jax.jit(sharded, donate_argnums=(0, 1),
                 compiler_options=cpu_options.on_cpu(cpu_options.TRAIN_STEP))


def step_flops(compiled: Any) -> float | None:
  """FLOPs of one compiled step on all devices, from XLA's cost analysis (which counts one
  device's share), or None where the backend gives no estimate."""
  analysis = compiled.cost_analysis()
  if isinstance(analysis, (list, tuple)):  # older JAX: one dict per module
    analysis = analysis[0] if analysis else None
  flops = (analysis or {}).get('flops', 0.0)
  return flops * jax.device_count() if flops > 0 else None


def batch_sharding(mesh: Mesh) -> NamedSharding:
  return NamedSharding(mesh, P(AXIS))


def replicated(mesh: Mesh) -> NamedSharding:
  return NamedSharding(mesh, P())


def step_networks(config: Any) -> Networks:
  """Networks whose BatchNorm averages statistics over the step's device axis."""
  return build_for(config, axis_name=AXIS)
