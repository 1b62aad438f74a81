"""What `launch.py --mode=...` does; each mode is a plain function of the parsed flags."""

import functools
import shlex
import sys
from typing import Callable

import jax
import ml_collections

from wae_jax import evaluation, models, study, train
from wae_jax.errors import ConfigError
from wae_jax.train_state import create_train_states, param_count


def _require(value, flag: str, mode: str):
  if not value:
    raise ConfigError(f'--mode={mode} needs {flag}')
  return value


def summary(config: ml_collections.ConfigDict, **_) -> None:
  """print parameter counts and output shapes, without training."""
  _require(config, '--config', 'summary')
  networks = models.build_for(config)
  ae_state, disc_state = jax.eval_shape(functools.partial(create_train_states, config, networks),
                                        jax.random.key(0))
  size, latent = config.model.image_size, config.model.latent_dim
  images = jax.ShapeDtypeStruct((1, size, size, 3), 'float32')
  variables = {'params': ae_state.params, 'batch_stats': ae_state.batch_stats}
  codes = jax.eval_shape(lambda v, x: networks.autoencoder.apply(v, x, method='encode'),
                         variables, images)
  decoded = jax.eval_shape(lambda v, z: networks.autoencoder.apply(v, z, method='decode'),
                           variables, jax.ShapeDtypeStruct((1, latent), 'float32'))
  print(f'model: {config.model.name} (encoder {models.component_name(config.model, "encoder")}, '
        f'decoder {models.component_name(config.model, "decoder")}), objective: '
        f'{config.objective.name}, image {size}x{size}, latent {latent}')
  print(f'encoder params: {param_count(ae_state.params["encoder"])}  '
        f'output: {", ".join(f"{k} {tuple(v.shape)}" for k, v in codes.items())}')
  print(f'decoder params: {param_count(ae_state.params["decoder"])}  '
        f'output: image {tuple(decoded.shape)}')
  if disc_state is not None:
    print(f'discriminator params: {param_count(disc_state.params)}  output: logit (1,)')


def train_mode(config: ml_collections.ConfigDict, workdir: str, **_) -> None:
  """train (or resume) in --workdir."""
  train.train_and_evaluate(_require(config, '--config', 'train'),
                           _require(workdir, '--workdir', 'train'))


def evaluate(config: ml_collections.ConfigDict, workdir: str, **_) -> None:
  """evaluate the latest checkpoint in --workdir (FID, sharpness, figures)."""
  evaluation.evaluate(config, _require(workdir, '--workdir', 'eval'))


def stats(config: ml_collections.ConfigDict, output: str | None, **_) -> None:
  """compute FID reference statistics of the config's data split."""
  print(evaluation.compute_reference_stats(_require(config, '--config', 'stats'), output))


def compare(compare: list[str], output: str | None, **_) -> None:
  """write Markdown tables (thesis Tables 4.3-4.5) and a figure (.png beside them) for --compare workdirs."""
  for path in evaluation.compare(_require(compare, '--compare', 'compare'), output or 'comparison.md'):
    print(f'wrote {path}')


def study_mode(config: ml_collections.ConfigDict, workdir: str, **_) -> None:
  """train, evaluate and tabulate every run of a study config (configs/study_*.py:preset) in --workdir."""
  study.run_study(_require(config, '--config', 'study'), _require(workdir, '--workdir', 'study'),
                  command=shlex.join(['python'] + sys.argv))


MODES: dict[str, Callable] = {
    'train': train_mode, 'eval': evaluate, 'summary': summary, 'stats': stats,
    'compare': compare, 'study': study_mode,
}
