"""Latent diagnostics: how far the held-out test codes sit from where samples come from (total
variance, mean norm, mean log-density under the prior and, with the gmm sampler, the mixture)."""

import ml_collections
import numpy as np
from scipy.special import logsumexp

from wae_jax.distributed import runtime
from wae_jax.evaluation import reference, streaming
from wae_jax.evaluation.evaluators.samples import sampler_protocol


def gaussian_log_density(codes: np.ndarray, mean: np.ndarray, covariance: np.ndarray) -> np.ndarray:
  """log N(code; mean, covariance) of each code [N, d], float64, by a Cholesky factor."""
  factor = np.linalg.cholesky(covariance)
  whitened = np.linalg.solve(factor, (codes - mean).T)  # [d, N]
  log_det = 2.0 * np.log(np.diag(factor)).sum()
  return -0.5 * (codes.shape[1] * np.log(2 * np.pi) + log_det + (whitened ** 2).sum(axis=0))


def mixture_log_density(codes: np.ndarray, weights: np.ndarray, means: np.ndarray,
                        covariances: np.ndarray) -> np.ndarray:
  """log sum_k w_k N(code; mean_k, covariance_k) of each code [N, d]."""
  log_weights = np.log(np.asarray(weights, np.float64) / np.sum(weights))
  per_component = [log_weight + gaussian_log_density(codes, mean, covariance)
                   for log_weight, mean, covariance in zip(log_weights, means, covariances)]
  return logsumexp(np.stack(per_component), axis=0)


def prior_log_density(codes: np.ndarray, sigma_z: float) -> np.ndarray:
  """log N(code; 0, sigma_z^2 I) of each code [N, d]."""
  return -0.5 * (codes.shape[1] * np.log(2 * np.pi * sigma_z ** 2) + (codes ** 2).sum(axis=1) / sigma_z ** 2)


def batch_sums(codes: np.ndarray, sigma_z: float, mixture=None) -> np.ndarray:
  """[count, sum of |z|^2, of the prior's log-density, of the mixture's (0 without), *sum of z]
  of codes [N, d]: what the diagnostics need, summed over batches and processes."""
  codes = np.asarray(codes, np.float64)
  mixture_total = 0.0 if mixture is None else mixture_log_density(
      codes, mixture.weights, mixture.means, mixture.covariances).sum()
  return np.concatenate([[len(codes), (codes ** 2).sum(), prior_log_density(codes, sigma_z).sum(),
                          mixture_total], codes.sum(axis=0)])


def diagnostics(sums: np.ndarray, with_mixture: bool) -> dict[str, float]:
  """The diagnostics of the codes whose `batch_sums` add up to `sums`: total variance (unbiased),
  norm of the mean, mean log-densities."""
  count, squares, prior, mixture, total = sums[0], sums[1], sums[2], sums[3], sums[4:]
  values = {'count': int(count), 'total_variance': float((squares - total @ total / count) / (count - 1)),
            'mean_norm': float(np.linalg.norm(total / count)), 'log_density_prior': float(prior / count)}
  if with_mixture:
    values['log_density_gmm'] = float(mixture / count)
  return values


class Latent:
  """The latent diagnostics of the test images the reconstructions part reconstructs."""
  needs_model, needs_reference = True, False

  def __init__(self, name: str, config: ml_collections.ConfigDict, block: ml_collections.ConfigDict):
    del block
    self.name, self.config = name, config
    self.num_images = streaming.test_images(config)

  def settings(self) -> dict:
    return {'num_images': self.num_images, 'split': self.config.eval.split,
            'batch_stats': streaming.batch_stats_protocol(self.config),
            'sampler': sampler_protocol(self.config)}

  def evaluate(self, model, context: streaming.Context) -> dict:
    del context  # no figure, no images
    config = self.config
    mixture = model.code_mixture(config) if config.eval.sampler == 'gmm' else None
    sigma_z = model.config.objective.sigma_z
    sums = np.zeros(4 + model.latent_dim)
    _, batches = reference.host_split_batches(config, config.eval.split, config.eval.batch_size,
                                              self.num_images)
    with reference.progress_bar(self.num_images, f'eval {self.name}') as progress:
      for batch in batches:
        sums += batch_sums(model.encode(batch), sigma_z, mixture)
        progress.update(len(batch))
    return diagnostics(runtime.gather_rows(sums[None]).sum(axis=0), mixture is not None)
