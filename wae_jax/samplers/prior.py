"""The 'prior' sampler: the objective's prior, what the model was trained against (the thesis)."""

import ml_collections
import numpy as np


def codes(model, n: int, seed: int, config: ml_collections.ConfigDict) -> np.ndarray:
  return model.sample_prior(n, seed)


def describe(config: ml_collections.ConfigDict) -> str:
  return 'prior'
