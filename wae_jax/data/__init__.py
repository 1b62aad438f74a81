"""Input data: CelebA (official files or TFDS), any folder or zip of images, and the MNIST demo.

Public API (what the train loop and the evaluator call):
- `train_batches`: endless, shuffled, resumable training batches of this host.
- `eval_batches`: a split in file order, for FID statistics and reconstructions.
- `num_images`, `protocol`: size of a split, and the description of its preprocessing.
- `data_folder`: the folder the data is read from (where FID statistics go by default).

A split may be a union ('val+test'); config.data.path may list several zips or folders,
separated by commas, read one after the other (e.g. full- and half-size CelebA).
- `DataError`: a problem with the user's data, printed as one line without a traceback.

Sources (`config.data.source`, see `sources.SOURCES`): 'celeba', 'tfds', 'folder', 'mnist_demo'.
Preprocessing (see `preprocess`): centre crop of `config.data.crop` pixels at CelebA's width 178,
antialiased bicubic resize, optional random flip (training), float32 NHWC in [0, 1].
"""

from wae_jax.data.errors import DataError
from wae_jax.data.pipeline import BatchIterator, eval_batches, num_images, protocol, train_batches
from wae_jax.data.sources import data_folder

__all__ = ['BatchIterator', 'DataError', 'data_folder', 'eval_batches', 'num_images', 'protocol',
           'train_batches']
