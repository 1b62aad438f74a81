"""Latent samplers: where a model's random samples take their codes (`config.eval.sampler`).
A new sampler is one module providing `Sampler` plus one REGISTRY line."""

import importlib
import os
from types import ModuleType
from typing import Any, Protocol

import ml_collections
import numpy as np

from wae_jax.errors import InputError

# name -> module: '.x' is wae_jax/samplers/x.py; any other name is imported as it is.
REGISTRY = {'prior': '.prior', 'gmm': '.gmm'}
SAMPLERS_DIR = 'samplers'


class Sampler(Protocol):
  """What a sampler module provides."""

  def codes(self, model: Any, n: int, seed: int, config: ml_collections.ConfigDict) -> np.ndarray:
    """n float32 codes [n, model.latent_dim] for `model` (fitting first where it needs to)."""

  def describe(self, config: ml_collections.ConfigDict) -> str:
    """The protocol text the evaluation's settings and tables print."""


def check(name: str) -> None:
  if name not in REGISTRY:
    raise InputError(f'sampler {name!r}: use one of {", ".join(REGISTRY)} (config.eval.sampler)')


def get(name: str) -> ModuleType:
  """The module of sampler `name` (a `Sampler`), or InputError naming the known ones."""
  check(name)
  return importlib.import_module(REGISTRY[name], __name__)


def fit_file(model: Any, name: str) -> str | None:
  """Where sampler `name` keeps its fit of `model`'s variables:
  <workdir>/samplers/<name>_step<k>[_<batch_stats_tag>].npz; None for variables held in memory."""
  if not model.workdir:
    return None
  tag = f'_{model.batch_stats_tag}' if model.batch_stats_tag else ''
  return os.path.join(model.workdir, SAMPLERS_DIR, f'{name}_step{model.step}{tag}.npz')
