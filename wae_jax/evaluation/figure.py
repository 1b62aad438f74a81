"""The comparison figure of trained runs (`--mode=compare`, studies): a labelled band per workdir."""

import ml_collections
import numpy as np

from wae_jax import api, data, figures
from wae_jax.evaluation import runner

FIGURE_SAMPLES = 12  # two lines of six
FIGURE_PAIRS = 6


def figure_row(workdir: str, label: str, config: ml_collections.ConfigDict | None = None,
               step: int | None = None, sampler: str = 'prior') -> figures.ModelRow:
  """The band of the checkpoint of `step` (default: the latest) in `workdir`: samples from `sampler`
  with the run's seed, the first test images over their reconstructions, one interpolation. `config`
  (default: the checkpoint's) names the seed, data and BatchNorm statistics, as scored."""
  model = api.load(workdir, step)
  config = model.config if config is None else config
  model = runner.with_configured_batch_stats(model, config)
  images = np.concatenate(list(data.eval_batches(
      config.data, config.eval.split, config.model.image_size, FIGURE_PAIRS, max_images=FIGURE_PAIRS)))
  between = model.interpolate(images[0], images[1], config.eval.interpolation_steps)
  return figures.ModelRow(
      label=label, samples=model.sample(FIGURE_SAMPLES, seed=config.seed, sampler=sampler, config=config),
      originals=images, reconstructions=model.reconstruct(images),
      interpolation=np.concatenate([images[:1], between, images[1:2]]))


def save_comparison_figure(path: str, labels: dict[str, str], steps: dict[str, int]) -> None:
  """One band per {workdir: label}, in that order, each of the checkpoint of steps[workdir]."""
  figures.save_study_figure(path, [figure_row(workdir, label, step=steps[workdir])
                                   for workdir, label in labels.items()])
