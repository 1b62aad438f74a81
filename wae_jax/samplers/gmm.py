"""The 'gmm' sampler (Ghosh et al. 2020, Section 5): a full-covariance Gaussian mixture fitted to
training codes by scikit-learn's EM, saved with its settings, sampled by numpy (seed-reproducible)."""

import dataclasses
import os
import warnings

import jax
import ml_collections
import numpy as np

from wae_jax import atomic_files, data, samplers
from wae_jax.errors import ConfigError, InputError

NAME = 'gmm'
REG_COVAR = 1e-6  # scikit-learn's default covariance regularisation
SETTINGS = ('components', 'images', 'seed', 'max_iter', 'reg_covar', 'sklearn_version')


@dataclasses.dataclass(frozen=True)
class GaussianMixture:
  """Full-covariance Gaussians over codes: weights [k], means [k, d], covariances [k, d, d], with
  the settings of their fit, whether EM converged and after how many iterations."""
  weights: np.ndarray
  means: np.ndarray
  covariances: np.ndarray
  settings: dict = dataclasses.field(default_factory=dict)
  converged: bool = True
  n_iter: int = 0

  def sample(self, n: int, seed: int = 0) -> np.ndarray:
    """n float32 codes: a component by its weight, then a draw of that Gaussian (Cholesky)."""
    rng = np.random.default_rng(seed)
    components = rng.choice(len(self.weights), size=n, p=self.weights / self.weights.sum())
    noise = rng.standard_normal((n, self.means.shape[1]))
    factors = np.linalg.cholesky(self.covariances)  # [k, d, d]
    codes = self.means[components] + np.einsum('nij,nj->ni', factors[components], noise)
    return codes.astype(np.float32)

  def save(self, path: str) -> None:
    with atomic_files.replacing(path, '.npz') as temporary:
      np.savez(temporary, weights=self.weights, means=self.means, covariances=self.covariances,
               converged=self.converged, n_iter=self.n_iter, **self.settings)

  @classmethod
  def load(cls, path: str) -> 'GaussianMixture':
    with np.load(path) as saved:
      settings = {key: saved[key].item() for key in SETTINGS if key in saved}
      return cls(saved['weights'], saved['means'], saved['covariances'], settings,
                 bool(saved.get('converged', True)), int(saved.get('n_iter', 0)))


def fit_gaussian_mixture(codes: np.ndarray, components: int, seed: int,
                         max_iter: int = 2000) -> GaussianMixture:
  """The maximum-likelihood mixture of `components` full-covariance Gaussians for `codes` [n, d];
  ConfigError where EM does not converge within `max_iter` iterations."""
  from sklearn.exceptions import ConvergenceWarning  # imported here: only this sampler needs it
  from sklearn.mixture import GaussianMixture as EM
  codes = np.asarray(codes, np.float64)
  if len(codes) < components:
    raise InputError(f'a mixture of {components} Gaussians needs at least {components} codes, '
                     f'got {len(codes)}: raise config.eval.gmm_images or lower config.eval.gmm_components')
  with warnings.catch_warnings():
    warnings.simplefilter('ignore', ConvergenceWarning)  # raised below instead
    fitted = EM(n_components=components, covariance_type='full', random_state=seed,
                reg_covar=REG_COVAR, max_iter=max_iter).fit(codes)
  if not fitted.converged_:
    raise ConfigError(f'the Gaussian mixture of {components} components did not converge in {max_iter} '
                      'EM iterations: raise config.eval.gmm_iterations')
  return GaussianMixture(fitted.weights_, fitted.means_, fitted.covariances_,
                         _settings(components, seed, max_iter), bool(fitted.converged_),
                         int(fitted.n_iter_))


def _settings(components: int, seed: int, max_iter: int, **more) -> dict:
  import sklearn
  return {'components': components, **more, 'seed': seed, 'max_iter': max_iter,
          'reg_covar': REG_COVAR, 'sklearn_version': sklearn.__version__}


def fit_settings(config: ml_collections.ConfigDict) -> dict:
  """What a fit under `config` depends on besides the model's variables (saved with it)."""
  return _settings(config.eval.gmm_components, config.seed, config.eval.gmm_iterations,
                   images=config.eval.gmm_images)


def describe(config: ml_collections.ConfigDict) -> str:
  settings = fit_settings(config)
  return (f'gmm: {settings["components"]} full-covariance Gaussians fitted to the codes of the first '
          f'{settings["images"]} train images (scikit-learn {settings["sklearn_version"]} EM, '
          f'reg_covar {settings["reg_covar"]:g}, converged within {settings["max_iter"]} iterations)')


def mixture(model, config: ml_collections.ConfigDict) -> GaussianMixture:
  """`model`'s mixture under `config`: kept or saved with these settings, else fitted now (and saved)."""
  settings = fit_settings(config)
  fitted = model.fits.get(NAME)
  path = samplers.fit_file(model, NAME)
  if (fitted is None or fitted.settings != settings) and path and os.path.exists(path):
    fitted = GaussianMixture.load(path)
  if fitted is None or fitted.settings != settings:
    batches = data.eval_batches(config.data, 'train', model.config.model.image_size,
                                config.eval.batch_size, max_images=config.eval.gmm_images)
    codes = np.concatenate([model.encode(batch) for batch in batches])
    fitted = fit_gaussian_mixture(codes, config.eval.gmm_components, config.seed,
                                  config.eval.gmm_iterations)
    fitted = dataclasses.replace(fitted, settings=settings)
    if path and jax.process_index() == 0:
      fitted.save(path)
  model.fits[NAME] = fitted
  return fitted


def codes(model, n: int, seed: int, config: ml_collections.ConfigDict) -> np.ndarray:
  return mixture(model, config).sample(n, seed)
