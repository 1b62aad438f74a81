"""The golden run (tests/golden_run.py) gives what it gave before the orchestration was rebuilt.

Each tests/fixtures/golden_run*.json is that run recorded at 346b9b1, before the rebuild, on one
CPU: golden_run.json on an Intel Xeon with AMX and AVX-512 FP16, golden_run_amd_epyc.json on an
AMD EPYC without them. On a CPU with the vector extensions of one of them every byte must match:
the parameters' SHA-256, every TensorBoard scalar, every score and every picture. Elsewhere
XLA:CPU rounds differently and 30 steps of a GAN amplify it (test_cross_cpu_tolerance_... gives
the spread between the recorded CPUs), so only a coarse check holds: the scalars and the scores
of generated images within CROSS_CPU_RTOL, the real images' scores within 1e-4. It catches a
broken step or score, not a changed rounding.
"""

import glob
import json
import os
import subprocess
import sys

import numpy as np
import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
FIXTURES = sorted(glob.glob(os.path.join(HERE, 'fixtures', 'golden_run*.json')))
CROSS_CPU_RTOL = 0.35  # at least twice the largest spread between the recorded CPUs
sys.path.insert(0, HERE)
import golden_run  # noqa: E402


def recorded() -> list[dict]:
  fixtures = []
  for path in FIXTURES:
    with open(path) as file:
      fixtures.append(json.load(file))
  return fixtures


def numbers(result: dict) -> dict[str, np.ndarray]:
  """Every scalar and score of a golden run by name ('eval/samples/fid', 'scalars/train/loss')."""
  flat = {f'scalars/{tag}': np.asarray(values, float) for tag, values in result['scalars'].items()}
  for directory, parts in result['metrics'].items():
    for part, scores in parts.items():
      flat.update({f'{directory}/{part}/{name}': np.asarray(value, float) for name, value in scores.items()})
  return flat


def relative_spread(a: np.ndarray, b: np.ndarray) -> float:
  return float(np.max(np.abs(a - b) / np.maximum(np.abs(a), 1e-6), initial=0.0))


def test_cross_cpu_tolerance_covers_twice_the_spread_between_the_recorded_cpus():
  """The fixtures are one run (the same scalars, scores and pictures) on CPUs that round
  differently; the real images' scores do not depend on the rounding of the model."""
  fixtures = recorded()
  assert len({fixture['machine']['cpu_flags'] for fixture in fixtures}) == len(fixtures) >= 2
  first = numbers(fixtures[0])
  for fixture in fixtures[1:]:
    other = numbers(fixture)
    assert other.keys() == first.keys() and fixture['pictures'].keys() == fixtures[0]['pictures'].keys()
    spreads = {name: relative_spread(first[name], other[name]) for name in first}
    real = [name for name in spreads if '/real/' in name]
    assert real and max(spreads[name] for name in real) < 1e-4
    assert 2 * max(spreads.values()) <= CROSS_CPU_RTOL
    assert max(spreads.values()) > 1e-2  # the rounding does differ: else one fixture would do


@pytest.mark.slow  # about 5 minutes on 2 cores: train, stats and two evaluations with the Inception network
def test_golden_run_is_unchanged(tmp_path):
  output = tmp_path / 'golden.json'
  subprocess.run([sys.executable, os.path.join(HERE, 'golden_run.py'), str(output)], check=True)
  now, fixtures = json.loads(output.read_text()), recorded()
  here = [fixture for fixture in fixtures if fixture['machine']['cpu_flags'] == golden_run.cpu_flags()]
  then = (here or fixtures)[0]
  assert now['scalars'].keys() == then['scalars'].keys()
  assert now['metrics'].keys() == then['metrics'].keys()
  # Parts added since the recording (the latent diagnostics) are additions, not changes.
  now['metrics'] = {directory: {part: result for part, result in parts.items() if part in then['metrics'][directory]}
                    for directory, parts in now['metrics'].items()}
  assert now['pictures'].keys() == then['pictures'].keys()
  if here:
    assert now['params_sha256'] == then['params_sha256']
    assert now['scalars'] == then['scalars']
    assert now['metrics'] == then['metrics']
    assert now['pictures'] == then['pictures']
  else:
    now_numbers = numbers(now)
    for name, value in numbers(then).items():
      rtol = 1e-4 if '/real/' in name else CROSS_CPU_RTOL
      np.testing.assert_allclose(now_numbers[name], value, rtol=rtol, atol=1e-6, err_msg=name)
