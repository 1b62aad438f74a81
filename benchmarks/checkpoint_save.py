"""How long a checkpoint save blocks the training loop: Orbax's asynchronous save against a
synchronous one, on the train states of a config.

  python benchmarks/checkpoint_save.py [--model=wae_resnet] [--size=64] [--width=0.25] [--json]

For each mode, --saves saves of the same states (a fresh workdir each round, keep 3), alternating
the modes round by round: `blocking` is the time `Checkpointer.save` takes before the loop may go
on (the median), `total` the time until the checkpoint is on disk (save + wait). The asynchronous
save copies the arrays to host memory and writes them in a background thread; where the loop's
steps take longer than the write, the write costs the loop only `blocking`.
With --json the last line is one JSON object.
"""

import argparse
import json
import statistics
import tempfile
import time

import jax

from train_step import load_config
from wae_jax.checkpoint import Checkpointer
from wae_jax.step import make_mesh, replicated, step_networks
from wae_jax.train_state import create_train_states


def time_saves(states, config, asynchronous: bool, saves: int) -> tuple[list[float], list[float]]:
  """(blocking seconds, total seconds) of each of `saves` saves into a fresh workdir."""
  blocking, total = [], []
  with tempfile.TemporaryDirectory() as workdir:
    checkpointer = Checkpointer(workdir, keep=3, asynchronous=asynchronous)
    for step in range(1, saves + 1):
      start = time.perf_counter()
      checkpointer.save(step, *states, jax.random.key(0), {'position': step}, config)
      blocking.append(time.perf_counter() - start)
      checkpointer.wait()
      total.append(time.perf_counter() - start)
    checkpointer.close()
  return blocking, total


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
  parser.add_argument('--model', default='wae_resnet', help='a config of configs/')
  parser.add_argument('--size', type=int, default=64)
  parser.add_argument('--width', type=float, default=0.25, help='config.model.width')
  parser.add_argument('--saves', type=int, default=5)
  parser.add_argument('--rounds', type=int, default=3)
  parser.add_argument('--json', action='store_true')
  args = parser.parse_args()
  config = load_config(args.model, args.size, 64, 'float32')
  config.model.width = args.width
  states = jax.device_put(create_train_states(config, step_networks(config), jax.random.key(0), 100, 100),
                          replicated(make_mesh()))
  megabytes = sum(leaf.nbytes for leaf in jax.tree.leaves(states)) / 2**20
  times = {'async': ([], []), 'sync': ([], [])}
  for _ in range(args.rounds):
    for mode in ('async', 'sync'):  # alternated, so drift in the machine hits both
      blocking, total = time_saves(states, config, mode == 'async', args.saves)
      times[mode][0].extend(blocking[1:])  # the first save of a workdir also creates it
      times[mode][1].extend(total[1:])
  result = {'model': args.model, 'size': args.size, 'width': args.width, 'state_mb': round(megabytes, 1),
            'devices': jax.device_count(), 'backend': jax.default_backend(),
            **{f'{mode}_{kind}_s': round(statistics.median(values), 4)
               for mode, (blocking, total) in times.items()
               for kind, values in (('blocking', blocking), ('total', total))}}
  print(f'{args.model} at {args.size}px, width {args.width}: {megabytes:.1f} MB of train states, '
        f'{jax.device_count()} {jax.default_backend()} device(s); median of '
        f'{args.rounds} x {args.saves - 1} saves')
  for mode in times:
    print(f'  {mode:5s}  blocks the loop {result[f"{mode}_blocking_s"]:.3f} s, on disk after '
          f'{result[f"{mode}_total_s"]:.3f} s')
  if args.json:
    print(json.dumps(result))


if __name__ == '__main__':
  main()
