"""Images/s of the compiled train step for each model, and where its time goes.

  python benchmarks/train_step.py [--model=wae_resnet] [--size=64] [--batch=16] [--json]

Each case is a config of `configs/` (its architecture and its objective; `wae_mmd` is the WAE
architecture with the MMD objective) at an image size. The step is `wae_jax.step`'s compiled
step on all devices of `jax.devices()`: the global batch is split over them and the states are
replicated, as in training. Measured after compilation and one warm-up step: the median over
--rounds rounds of --steps steps each, every round ending with `block_until_ready`.

Memory: the process's peak resident set (`resource.getrusage`, all cases together), XLA's
buffer sizes of each compiled step (arguments + outputs + temporaries, per device), and the
devices' `memory_stats()` peak where the backend reports one (GPU, TPU).

--breakdown also times, on one device with the whole batch, the encoder and the decoder
(forward in training mode, and forward + backward to their parameters), so the step's time can
be split between them. --ops=N prints the N slowest XLA ops of one more step, with their
GFLOP/s and the layer each comes from (`op_profile.py`). --profile=DIR writes a
`jax.profiler` trace of one more round per case (open with TensorBoard's profile plugin or
Perfetto). With --json the last line is one JSON object.
"""

import argparse
import importlib.util
import json
import pathlib
import resource
import statistics
import time
from typing import Any, Callable

from wae_jax import huge_pages

if __name__ == '__main__':
  huge_pages.restart_with_huge_pages(__file__)  # as launch.py does: the step as training runs it

import jax  # noqa: E402 (after the restart)
import jax.numpy as jnp  # noqa: E402
import ml_collections  # noqa: E402

from op_profile import print_profile, profile_ops  # noqa: E402
from wae_jax import models  # noqa: E402
from wae_jax.step import (  # noqa: E402
    batch_sharding, make_mesh, make_train_step, replicated, step_networks)
from wae_jax.train_state import create_train_states  # noqa: E402

CONFIGS = pathlib.Path(__file__).resolve().parents[1] / 'configs'
DEFAULT_MODELS = ('vae', 'vae_resnet', 'wae', 'wae_resnet', 'wae_mmd')


def load_config(name: str, size: int, batch: int, dtype: str) -> ml_collections.ConfigDict:
  """configs/<name>.py's config at image size `size`, global batch `batch`, compute `dtype`."""
  path = CONFIGS / f'{name}.py'
  if not path.exists():
    raise SystemExit(f'no config {path}: --model must name a file of {CONFIGS}')
  spec = importlib.util.spec_from_file_location(f'configs.{name}', path)
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  config = module.get_config()
  config.model.image_size = size
  config.train.batch_size = batch
  config.dtype = dtype
  return config


def median_seconds(run: Callable[[], Any], rounds: int, steps: int) -> float:
  """Median wall seconds per call of `run` over `rounds` rounds of `steps` calls each."""
  times = []
  for _ in range(rounds):
    start = time.perf_counter()
    for _ in range(steps):
      out = run()
    jax.block_until_ready(out)
    times.append((time.perf_counter() - start) / steps)
  return statistics.median(times)


def compiled_megabytes(compiled: Any) -> float | None:
  """Arguments + outputs + temporaries of a compiled computation (per device), in MB."""
  analysis = compiled.memory_analysis()
  if analysis is None:
    return None
  total = (analysis.argument_size_in_bytes + analysis.output_size_in_bytes
           + analysis.temp_size_in_bytes - analysis.alias_size_in_bytes)
  return total / 2**20


def time_step(name: str, config: ml_collections.ConfigDict, args: argparse.Namespace
              ) -> tuple[dict[str, Any], Any]:
  """Compiles the sharded train step for `config` and times it; returns the numbers and the
  auto-encoder state it ends with."""
  mesh = make_mesh()
  networks = step_networks(config)
  ae_state, disc_state = create_train_states(config, networks, jax.random.key(0))
  ae_state, disc_state = jax.device_put((ae_state, disc_state), replicated(mesh))
  size, batch = config.model.image_size, config.train.batch_size
  images = jax.device_put(
      jax.random.uniform(jax.random.key(1), (batch, size, size, 3), jnp.float32),
      batch_sharding(mesh))
  rng = jax.device_put(jax.random.key(2), replicated(mesh))

  start = time.perf_counter()
  step = make_train_step(config, mesh).lower(ae_state, disc_state, images, rng).compile()
  compile_s = time.perf_counter() - start
  states = [ae_state, disc_state]

  def run():
    states[0], states[1], metrics = step(states[0], states[1], images, rng)
    return metrics

  jax.block_until_ready(run())  # warm-up
  seconds = median_seconds(run, args.rounds, args.steps)
  if args.profile:
    with jax.profiler.trace(str(pathlib.Path(args.profile) / f'{name}_{size}')):
      jax.block_until_ready([run() for _ in range(args.steps)])
  if args.ops:
    print_profile(profile_ops(step, run), args.ops)
  return {'images_per_s': batch / seconds, 'step_ms': seconds * 1e3, 'compile_s': compile_s,
          'compiled_mb': compiled_megabytes(step)}, states[0]


def breakdown(config: ml_collections.ConfigDict, state: Any, args: argparse.Namespace
              ) -> dict[str, float]:
  """Milliseconds of encoder and decoder, forward and forward + backward, on one device.

  Training mode (batch statistics), whole global batch, the step's compute dtype. Backward is
  the gradient of the output's sum with respect to what the step differentiates: the
  encoder's parameters (not the images), the decoder's parameters and its input codes.
  """
  autoencoder = models.build_for(config).autoencoder
  dtype = models.DTYPES[config.dtype]
  # One device-resident copy: host arrays would be transferred again on every timed call.
  params, stats = jax.device_put(jax.device_get((state.params, state.batch_stats)),
                                 jax.devices()[0])
  size, batch = config.model.image_size, config.train.batch_size
  images = jax.random.uniform(jax.random.key(1), (batch, size, size, 3), jnp.float32).astype(dtype)
  codes = jax.random.normal(jax.random.key(2), (batch, config.model.latent_dim), jnp.float32)

  def part(name: str, method: str) -> Callable:
    def forward(p, x):
      out, _ = autoencoder.apply({'params': {name: p}, 'batch_stats': {name: stats[name]}}, x,
                                 train=True, method=method, mutable=['batch_stats'])
      return sum(jnp.sum(leaf.astype(jnp.float32)) for leaf in jax.tree.leaves(out))
    return forward

  cases = {
      'encoder forward': (part('encoder', 'encode'), params['encoder'], images, None),
      'encoder forward+backward': (part('encoder', 'encode'), params['encoder'], images, (0,)),
      'decoder forward': (part('decoder', 'decode'), params['decoder'], codes, None),
      'decoder forward+backward': (part('decoder', 'decode'), params['decoder'], codes, (0, 1)),
  }
  results = {}
  for label, (forward, p, x, wrt) in cases.items():
    fn = jax.jit(jax.grad(forward, argnums=wrt) if wrt else forward)
    jax.block_until_ready(fn(p, x))
    results[label] = median_seconds(lambda: fn(p, x), args.rounds, args.steps) * 1e3
  return results


def device_peak_megabytes() -> float | None:
  """Highest `peak_bytes_in_use` over the devices, where the backend reports memory stats."""
  peaks = [(d.memory_stats() or {}).get('peak_bytes_in_use') for d in jax.devices()]
  peaks = [p for p in peaks if p is not None]
  return max(peaks) / 2**20 if peaks else None


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument('--model', default=','.join(DEFAULT_MODELS),
                      help='comma-separated config names of configs/ (default: %(default)s)')
  parser.add_argument('--size', default='64,128', help='comma-separated image sizes')
  parser.add_argument('--batch', type=int, default=16, help='global batch, split over the devices')
  parser.add_argument('--rounds', type=int, default=5)
  parser.add_argument('--steps', type=int, default=3, help='steps per timed round')
  parser.add_argument('--dtype', default='float32', choices=sorted(models.DTYPES))
  parser.add_argument('--breakdown', action='store_true',
                      help='also time encoder and decoder alone (forward, forward + backward)')
  parser.add_argument('--profile', default='', help='write a jax.profiler trace per case here')
  parser.add_argument('--ops', type=int, default=0,
                      help="print each case's N slowest ops of one traced step (op_profile.py)")
  parser.add_argument('--json', action='store_true', help='print one JSON object as the last line')
  args = parser.parse_args()

  devices = jax.devices()
  if args.batch % len(devices):
    raise SystemExit(f'--batch={args.batch} is not divisible by the {len(devices)} devices')
  sizes = [int(s) for s in args.size.split(',')]
  results: dict[str, Any] = {'images_per_s': {}, 'step_ms': {}, 'compile_s': {},
                             'compiled_mb': {}, 'breakdown_ms': {}}
  print(f'train step: batch {args.batch} over {len(devices)} x {devices[0].device_kind} '
        f'({devices[0].platform}), {args.dtype}; median of {args.rounds} rounds x {args.steps} '
        'steps after compilation and one warm-up step')
  print(f'{"model":>14} {"size":>5} {"img/s":>8} {"ms/step":>9} {"compile s":>10} {"XLA MB":>8}')
  for name in args.model.split(','):
    for size in sizes:
      config = load_config(name, size, args.batch, args.dtype)
      timed, ae_state = time_step(name, config, args)
      key = str(size)
      for field in ('images_per_s', 'step_ms', 'compile_s', 'compiled_mb'):
        value = timed[field]
        results[field].setdefault(name, {})[key] = None if value is None else round(value, 2)
      mb = timed['compiled_mb']
      print(f'{name:>14} {size:>5} {timed["images_per_s"]:>8.2f} {timed["step_ms"]:>9.1f} '
            f'{timed["compile_s"]:>10.1f} {"-" if mb is None else f"{mb:.0f}":>8}', flush=True)
      if args.breakdown:
        parts = breakdown(config, ae_state, args)
        results['breakdown_ms'].setdefault(name, {})[key] = {k: round(v, 1) for k, v in parts.items()}
        print('    ' + ', '.join(f'{k} {v:.0f} ms' for k, v in parts.items()), flush=True)
  results['peak_rss_mb'] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
  results['device_peak_mb'] = device_peak_megabytes()
  print(f'peak RSS {results["peak_rss_mb"]} MB (process, all cases)'
        + (f', device peak {results["device_peak_mb"]:.0f} MB' if results['device_peak_mb'] else ''))
  if args.json:
    results.update({'devices': len(devices), 'device_kind': devices[0].device_kind,
                    'platform': devices[0].platform, 'batch': args.batch, 'dtype': args.dtype,
                    'rounds': args.rounds, 'steps': args.steps, 'jax': jax.__version__})
    if not args.breakdown:
      del results['breakdown_ms']
    print(json.dumps(results))


if __name__ == '__main__':
  main()
