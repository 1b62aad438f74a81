"""Where the time goes, in the run itself: a profiler trace on request, TFLOP/s and the share of
time spent waiting for data in the log."""

import collections
import glob
import gzip
import json
import os

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import PartitionSpec as P

from wae_jax import train
from wae_jax.step import AXIS, make_mesh, step_flops

from test_train import read_scalars, tiny_config


def test_step_flops_counts_every_devices_share():
  """XLA's cost analysis of a shard_map'ed step counts one device's share: a matmul of a batch
  split over the 2 devices is 2 m k n FLOPs in all."""
  m, k, n = 64, 32, 16
  mesh = make_mesh()
  assert jax.device_count() == 2
  matmul = jax.jit(jax.shard_map(lambda a, b: a @ b, mesh=mesh, in_specs=(P(AXIS), P()),
                                 out_specs=P(AXIS)))
  compiled = matmul.lower(jnp.ones((m, k)), jnp.ones((k, n))).compile()
  assert step_flops(compiled) == 2 * m * k * n


def test_profile_steps_traces_that_many_steps_and_the_log_shows_speed(image_folder, tmp_path):
  workdir = str(tmp_path / 'run')
  config = tiny_config(image_folder, num_steps=6)
  config.train.profile_steps = 2
  config.train.image_every = 0
  train.train_and_evaluate(config, workdir)
  traces = glob.glob(os.path.join(workdir, 'profile', 'plugins', 'profile', '*', 'perfetto_trace.json.gz'))
  assert len(traces) == 1 and glob.glob(os.path.join(os.path.dirname(traces[0]), '*.xplane.pb'))
  with gzip.open(traces[0]) as file:
    trace = json.load(file)
  events = trace['traceEvents'] if isinstance(trace, dict) else trace
  names = collections.Counter(event.get('name') for event in events if event.get('ph') == 'X')
  assert names['train'] == 2 and names['wait for data'] == 2  # steps 3 and 4, after the warm-up
  assert len(events) < 50_000  # no Python tracer: every call would be 100,000s of events

  scalars = read_scalars(workdir)
  assert [step for step, _ in scalars['train/tflops_per_second']] == list(range(1, 7))
  assert all(value > 0 for _, value in scalars['train/tflops_per_second'])
  assert all(0 <= value <= 1 for _, value in scalars['train/data_wait_share'])
  images_per_second = dict(scalars['train/images_per_second'])
  # TFLOP/s and images/s come from the same steps and seconds: their ratio is FLOPs per image.
  per_image = [tflops * 1e12 / images_per_second[step] for step, tflops in scalars['train/tflops_per_second']]
  np.testing.assert_allclose(per_image, per_image[0], rtol=1e-4)
