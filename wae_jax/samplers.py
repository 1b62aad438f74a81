"""Latent samplers: where a model's random samples take their codes from (`config.eval.sampler`).

- 'prior': the objective's prior, what the model was trained against (the thesis).
- 'gmm': ex-post density estimation (Ghosh et al. 2020, "From Variational to Deterministic
  Autoencoders", Section 5): after training, a Gaussian mixture (`config.eval.gmm_components`,
  10 in the paper, full covariances) fitted to the codes of the first `config.eval.gmm_images`
  training images; it needs no retraining and works for every model. The fit is scikit-learn's
  `GaussianMixture` (EM from a k-means start, covariance regularisation, convergence checks:
  what a hand-written EM would have to re-derive); sampling is ours, in numpy, so that a seed
  gives the same codes everywhere. A workdir's fit is saved beside its checkpoints
  (`<workdir>/samplers/gmm_step<k>.npz`; with recomputed BatchNorm statistics, which change the
  codes, `gmm_step<k>_batch_stats<batches>x<size>.npz`) with what it was fitted on, and read back while those
  settings hold.
"""

import dataclasses
import os

import numpy as np

from wae_jax.errors import InputError

SAMPLERS = ('prior', 'gmm')
SAMPLERS_DIR = 'samplers'


@dataclasses.dataclass(frozen=True)
class GaussianMixture:
  """A mixture of full-covariance Gaussians over codes: weights [k], means [k, d], covariances [k, d, d]."""
  weights: np.ndarray
  means: np.ndarray
  covariances: np.ndarray
  fitted_on: str = ''  # what the codes were: e.g. '10 components, 10000 train images, seed 0'

  def sample(self, n: int, seed: int = 0) -> np.ndarray:
    """n float32 codes: a component by its weight, then a draw of that Gaussian (Cholesky)."""
    rng = np.random.default_rng(seed)
    components = rng.choice(len(self.weights), size=n, p=self.weights / self.weights.sum())
    noise = rng.standard_normal((n, self.means.shape[1]))
    factors = np.linalg.cholesky(self.covariances)  # [k, d, d]
    codes = self.means[components] + np.einsum('nij,nj->ni', factors[components], noise)
    return codes.astype(np.float32)

  def save(self, path: str) -> None:
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    temporary = f'{path}.tmp.npz'
    np.savez(temporary, weights=self.weights, means=self.means, covariances=self.covariances,
             fitted_on=np.array(self.fitted_on))
    os.replace(temporary, path)

  @classmethod
  def load(cls, path: str) -> 'GaussianMixture':
    with np.load(path) as saved:
      fitted_on = str(saved['fitted_on']) if 'fitted_on' in saved else ''
      return cls(saved['weights'], saved['means'], saved['covariances'], fitted_on)


def fit_gaussian_mixture(codes: np.ndarray, components: int, seed: int,
                         fitted_on: str = '') -> GaussianMixture:
  """The maximum-likelihood mixture of `components` full-covariance Gaussians for `codes` [n, d]."""
  from sklearn.mixture import GaussianMixture as EM  # imported here: only this sampler needs it
  codes = np.asarray(codes, np.float64)
  if len(codes) < components:
    raise InputError(f'a mixture of {components} Gaussians needs at least {components} codes, '
                     f'got {len(codes)}: raise config.eval.gmm_images or lower config.eval.gmm_components')
  fitted = EM(n_components=components, covariance_type='full', random_state=seed,
              reg_covar=1e-6).fit(codes)
  return GaussianMixture(fitted.weights_, fitted.means_, fitted.covariances_, fitted_on)


def mixture_path(workdir: str, step: int) -> str:
  return os.path.join(workdir, SAMPLERS_DIR, f'gmm_step{step}.npz')


def check_sampler(name: str) -> None:
  if name not in SAMPLERS:
    raise InputError(f'sampler {name!r}: use one of {", ".join(SAMPLERS)} (config.eval.sampler)')
