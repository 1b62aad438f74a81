"""wae_jax.data on the shared CelebA sample (../shared/data/celeba_sample from the repository root).

The sample is not part of the project; these tests are skipped where it is absent.
"""

import collections
import pathlib
import subprocess
import sys
import time

import numpy as np
import pytest

from wae_jax import data
from wae_jax.config_defaults import base_config
from wae_jax.data import pipeline, preprocess, sources

REPO = pathlib.Path(__file__).resolve().parents[1]
SAMPLE = REPO.parent / 'shared' / 'data' / 'celeba_sample'
FULL_ZIP = SAMPLE / 'img_align_celeba.zip'
HALF_ZIP = SAMPLE / 'img_align_celeba_89x109.zip'

pytestmark = pytest.mark.skipif(not FULL_ZIP.is_file() or not HALF_ZIP.is_file(),
                                reason=f'the shared CelebA sample is not at {SAMPLE}')


def sample_config(path=FULL_ZIP, workers=2):
  data_config = base_config().data
  data_config.path = str(path)
  data_config.workers = workers
  return data_config


def test_official_split_counts():
  counts = {split: data.num_images(sample_config(), split) for split in ('train', 'val', 'test')}
  assert counts == {'train': 4560, 'val': 780, 'test': 660}
  assert data.num_images(sample_config(HALF_ZIP), 'train') == 10_000


@pytest.mark.slow  # 37 s over 14,560 images; test_data.py checks epoch coverage on a synthetic zip
def test_one_epoch_yields_every_train_image_once():
  """One pass of the shuffled batches equals the split read in file order, as a multiset of images."""
  def keys(batches):
    return collections.Counter((batch * 255).round().astype(np.uint8).tobytes()
                               for stacked in batches for batch in stacked)
  reference = keys(data.eval_batches(sample_config(), 'train', 32, 500))
  assert sum(reference.values()) == 4560
  with data.train_batches(sample_config(), 32, 80, seed=0) as batches:
    assert batches.steps_per_epoch == 57  # 4,560 = 57 x 80: nothing dropped
    epoch = [next(batches) for _ in range(batches.steps_per_epoch)]
    assert batches.stats == {'corrupt': 0, 'upscaled': 0, 'crop_clipped': 0}
  assert keys(epoch) == reference


def test_half_size_copy_matches_the_full_images():
  """The 277 photos in both zips: crop 140 at 178x218 and crop 70 at 89x109 frame the same face."""
  full_files, half_files = sources.ImageFiles(str(FULL_ZIP)), sources.ImageFiles(str(HALF_ZIP))
  shared = sorted(set(full_files.names) & set(half_files.names))
  assert len(shared) == 277

  def decoded(files, crop, shift=0):
    subset = files.subset(files.names.index(name) for name in shared)
    spec = preprocess.Preprocess(32, crop + shift)
    return pipeline.Decoder(sources.FileSource('celeba', subset), spec).decode(0, len(shared), None).images
  full = decoded(full_files, 140).astype(float)
  same = np.abs(full - decoded(half_files, 140)).mean()
  zoomed = np.abs(full - decoded(half_files, 140, shift=4)).mean()  # a crop 2 pixels wider at 89x109
  assert same < zoomed / 2


def test_protocol_tells_the_copies_apart():
  assert data.protocol(sample_config(), 'train', 64) != data.protocol(sample_config(HALF_ZIP), 'train', 64)
  assert data.protocol(sample_config(), 'test', 64)['num_images'] == 660


def _starting_workers(pid: int) -> list[str]:
  """The spawned multiprocessing children of `pid` (Grain's data workers)."""
  children = subprocess.run(['pgrep', '-P', str(pid)], capture_output=True, text=True).stdout.split()
  workers = []
  for child in children:
    try:
      if b'spawn_main' in pathlib.Path(f'/proc/{child}/cmdline').read_bytes():
        workers.append(child)
    except OSError:
      pass
  return workers


@pytest.mark.slow  # ~1.5 min: three start-ups, each SIGKILLed as its data workers are spawned
def test_a_run_killed_while_its_data_workers_start_leaves_no_unpickling_error(tmp_path):
  """A worker reads its pickled dataset from a pipe its parent writes; when that pickle was larger
  than the pipe (the sample's names: 190 KB), a SIGKILL then left the worker a truncated one,
  3 times in 4 (`UnpicklingError: pickle data was truncated`). Now it travels in one write."""
  for attempt in range(3):
    run = subprocess.Popen(
        [sys.executable, 'launch.py', '--config=configs/wae.py', f'--workdir={tmp_path / str(attempt)}',
         f'--config.data.path={FULL_ZIP},{HALF_ZIP}',
         f'--config.data.split_file={SAMPLE / "list_eval_partition.txt"}', '--config.data.workers=2',
         '--config.model.image_size=32', '--config.model.width=0.0625', '--config.train.num_steps=5'],
        cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 300
    while time.time() < deadline and not _starting_workers(run.pid) and run.poll() is None:
      time.sleep(0.005)
    run.kill()
    errors = run.stderr.read()  # to the end: until the last worker has closed it
    run.wait()
    assert 'UnpicklingError' not in errors and 'truncated' not in errors, errors[-3000:]
