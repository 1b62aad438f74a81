"""The model of the live train state, for the hooks that draw or evaluate it."""

from typing import Any

import ml_collections

from wae_jax import multiprocess
from wae_jax.api import Model
from wae_jax.models import AutoEncoder
from wae_jax.train_state import TrainState


class LiveModel:
  """Its networks compile once; `at(ae_state)` is the model of a step's state, on this host."""

  def __init__(self, config: ml_collections.ConfigDict, ae_state: TrainState,
               autoencoder: AutoEncoder):
    # Evaluation mode ignores the step's device axis: the step's networks serve the model too.
    self._model = Model.from_state(config, multiprocess.host_local(ae_state), autoencoder)

  def at(self, ae_state: Any) -> Model:
    return self._model.with_state(multiprocess.host_local(ae_state))
