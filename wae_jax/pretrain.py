"""Encoder pre-training (the official WAE code's `e_pretrain`): a fresh Adam fits the encoder so that
its codes' mean and covariance match the prior's, for at most config.encoder_pretrain.steps steps or
until the loss falls below config.encoder_pretrain.stop_below, on the training step's mesh."""

import functools
from typing import Any

import jax
import jax.numpy as jnp
import optax
import tqdm
from jax.sharding import PartitionSpec as P

from wae_jax import data, objectives
from wae_jax.models import DTYPES
from wae_jax.step import AXIS, batch_sharding, global_prior
from wae_jax.train_state import TrainState


def moment_matching_loss(z_q: jax.Array, z_p: jax.Array) -> jax.Array:
  """Squared differences of the means and of the covariances, averaged over their entries."""
  def moments(z):
    mean = jnp.mean(z, axis=0, keepdims=True)
    centred = z - mean
    return mean, centred.T @ centred / (z.shape[0] - 1)
  mean_q, cov_q = moments(z_q)
  mean_p, cov_p = moments(z_p)
  return jnp.mean((mean_p - mean_q) ** 2) + jnp.mean((cov_p - cov_q) ** 2)


def _device_step(params, opt_state, batch_stats, images, rng, *, apply_fn, tx, objective,
                 objective_config, latent_dim, dtype):
  z_prior = global_prior(objective, objective_config, rng, images.shape[0], latent_dim)

  def loss_fn(encoder_params):
    codes, updates = apply_fn({'params': {**params, 'encoder': encoder_params},
                               'batch_stats': batch_stats}, images.astype(dtype), train=True,
                              method='encode', mutable=['batch_stats'])
    z_q = jax.lax.all_gather(codes['mean'].astype(jnp.float32), AXIS, tiled=True)
    z_p = jax.lax.all_gather(z_prior, AXIS, tiled=True)
    return moment_matching_loss(z_q, z_p), updates['batch_stats']

  (loss, batch_stats), grads = jax.value_and_grad(loss_fn, has_aux=True)(params['encoder'])
  grads = jax.lax.pmean(grads, AXIS)
  updates, opt_state = tx.update(grads, opt_state, params['encoder'])
  params = {**params, 'encoder': optax.apply_updates(params['encoder'], updates)}
  return params, opt_state, batch_stats, jax.lax.pmean(loss, AXIS)


def pretrain_encoder(config: Any, ae_state: TrainState, mesh, rng: jax.Array,
                     process_index: int, process_count: int, is_chief: bool) -> TrainState:
  """ae_state with the encoder pre-trained (parameters and BatchNorm statistics); the
  auto-encoder's optimizer state is untouched."""
  settings = config.encoder_pretrain
  tx = optax.adam(config.optim.learning_rate, b1=config.optim.beta1)
  step = jax.jit(jax.shard_map(
      functools.partial(_device_step, apply_fn=ae_state.apply_fn, tx=tx,
                        objective=objectives.get(config.objective.name),
                        objective_config=config.objective, latent_dim=config.model.latent_dim,
                        dtype=DTYPES[config.dtype]),
      mesh=mesh, in_specs=(P(), P(), P(), P(AXIS), P()), out_specs=(P(), P(), P(), P()),
      check_vma=False))
  params, batch_stats = ae_state.params, ae_state.batch_stats
  opt_state = jax.jit(tx.init)(params['encoder'])
  batches = data.train_batches(config.data, config.model.image_size, settings.batch_size,
                               config.seed + 1, process_index, process_count)
  loss = float('nan')
  with batches, tqdm.tqdm(total=settings.steps, desc='encoder pre-training', unit='step',
                          disable=not is_chief, dynamic_ncols=True) as progress:
    for index in range(settings.steps):
      images = jax.make_array_from_process_local_data(batch_sharding(mesh), next(batches))
      params, opt_state, batch_stats, loss = step(params, opt_state, batch_stats, images,
                                                  jax.random.fold_in(rng, index))
      loss = float(loss)
      progress.update(1)
      progress.set_postfix(loss=f'{loss:.4g}')
      if loss < settings.stop_below:
        break
  if is_chief:
    tqdm.tqdm.write(f'Encoder pre-training: {index + 1} steps, moment-matching loss {loss:.4g}.')
  return ae_state.replace(params=params, batch_stats=batch_stats)
