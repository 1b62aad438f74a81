"""The golden run: a fixed, short demo run whose every output must stay the same across refactors.

    python tests/golden_run.py OUT.json [--workdir DIR]

Through the public commands only (`launch.py` train, stats, eval with each sampler): the demo
config for 30 steps with one in-training FID, then an evaluation with the prior and with the
gmm sampler. OUT.json records the final parameters' SHA-256 (and a per-leaf float64 sum, for
machines whose floating point differs), every TensorBoard scalar but the timings, every score
of metrics.json, and the SHA-256 of each picture written. tests/test_golden.py compares a fresh
run with tests/fixtures/golden_run.json.
"""

import argparse
import glob
import hashlib
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile

import numpy as np

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CONFIG = os.path.join(REPO, 'configs', 'demo.py')
MODEL = ['--config.data.workers=0', '--config.eval.batch_size=50']
TRAIN = MODEL + ['--config.train.num_steps=30', '--config.train.log_every=5',
                 '--config.train.image_every=15', '--config.train.checkpoint_every=15',
                 '--config.train.fid_every=30', '--config.eval.num_during_training=100']
EVAL = MODEL + ['--config.eval.num_samples=100', '--config.eval.num_reconstructions=100',
                '--config.eval.num_interpolations=10', '--config.eval.gmm_images=500',
                '--config.eval.gmm_components=3']
# Two CPU devices (the sharded step's two-device path) and the tests' XLA settings: the bytes
# depend on them.
ENVIRONMENT = {'XLA_FLAGS': '--xla_force_host_platform_device_count=2 --xla_backend_optimization_level=0',
               'JAX_PLATFORMS': 'cpu', 'OPENBLAS_NUM_THREADS': '1'}
# Wall-clock figures: they differ from run to run by nature.
TIMING_TAGS = ('images_per_second', 'data_wait_share', 'tflops_per_second', 'save_blocking_seconds')


def launch(*args: str) -> None:
  result = subprocess.run([sys.executable, os.path.join(REPO, 'launch.py'), *args], cwd=REPO,
                          capture_output=True, text=True,
                          env={**os.environ, **ENVIRONMENT})
  if result.returncode:
    raise SystemExit(f'launch.py {" ".join(args)} exited {result.returncode}:\n'
                     f'{(result.stdout + result.stderr)[-4000:]}')


def event_scalars(workdir: str) -> dict[str, list]:
  """Every scalar of the TensorBoard event files but the timings."""
  from wae_jax.hooks import read_scalars
  return {tag: [list(point) for point in points] for tag, points in read_scalars(workdir).items()
          if not tag.endswith(TIMING_TAGS)}


def scores(record: dict) -> dict:
  """The numbers of a metrics.json record, part by part (not the settings text)."""
  return {part: {name: value for name, value in result.items() if name != 'settings'}
          for part, result in sorted(record['parts'].items())}


def golden(workdir: str) -> dict:
  stats = os.path.join(workdir, 'reference_stats.npz')
  reference = [f'--config.eval.reference_stats={stats}']
  launch(f'--config={CONFIG}', '--mode=stats', f'--output={stats}', *MODEL, *reference)
  launch(f'--config={CONFIG}', f'--workdir={workdir}', *TRAIN, *reference)
  for sampler in ('prior', 'gmm'):
    launch(f'--config={CONFIG}', f'--workdir={workdir}', '--mode=eval', *EVAL, *reference,
           f'--config.eval.sampler={sampler}')
  sys.path.insert(0, REPO)
  import wae_jax  # noqa: E402  (after the runs: this process never trains)
  import jax
  variables = wae_jax.load(workdir).variables
  leaves = jax.tree_util.tree_leaves_with_path(variables)
  digest = hashlib.sha256()
  sums = {}
  for path, leaf in leaves:
    array = np.asarray(leaf)
    digest.update(jax.tree_util.keystr(path).encode() + array.tobytes())
    sums[jax.tree_util.keystr(path)] = float(array.astype(np.float64).sum())
  metrics = {}
  for path in sorted(glob.glob(os.path.join(workdir, 'eval*', 'metrics.json'))):
    with open(path) as file:
      metrics[os.path.basename(os.path.dirname(path))] = scores(json.load(file))
  pictures = {os.path.relpath(path, workdir): hashlib.sha256(open(path, 'rb').read()).hexdigest()
              for path in sorted(glob.glob(os.path.join(workdir, '**', '*.png'), recursive=True))}
  return {'machine': {'processor': platform.processor(), 'machine': platform.machine(),
                      'cpu_flags': cpu_flags()},
          'params_sha256': digest.hexdigest(), 'param_sums': sums,
          'scalars': event_scalars(workdir), 'metrics': metrics, 'pictures': pictures}


def cpu_flags() -> str:
  """The vector extensions XLA:CPU may use here (its results depend on them)."""
  try:
    with open('/proc/cpuinfo') as file:
      flags = next(line for line in file if line.startswith('flags')).split(':', 1)[1].split()
  except (OSError, StopIteration):
    return ''
  return ' '.join(sorted(flag for flag in flags if flag.startswith(('avx', 'fma', 'sse4', 'amx'))))


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument('output')
  parser.add_argument('--workdir', default='')
  args = parser.parse_args()
  workdir = args.workdir or tempfile.mkdtemp(prefix='wae_jax_golden_')
  try:
    result = golden(workdir)
  finally:
    if not args.workdir:
      shutil.rmtree(workdir, ignore_errors=True)
  with open(args.output, 'w') as file:
    json.dump(result, file, indent=1, sort_keys=True)


if __name__ == '__main__':
  main()
