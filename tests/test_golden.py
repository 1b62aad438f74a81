"""The golden run (tests/golden_run.py) gives what it gave before the orchestration was rebuilt.

On a machine with the recorded CPU's vector extensions every byte must match: the parameters'
SHA-256, every TensorBoard scalar, every score and every picture. Elsewhere XLA:CPU may round
differently, so the per-leaf sums, scalars and scores are compared at rtol 1e-3 (30 steps of a
GAN amplify float differences) and the pictures not at all.
"""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
FIXTURE = os.path.join(HERE, 'fixtures', 'golden_run.json')
sys.path.insert(0, HERE)
import golden_run  # noqa: E402


@pytest.mark.slow  # about 5 minutes on 2 cores: train, stats and two evaluations with the Inception network
def test_golden_run_is_unchanged(tmp_path):
  output = tmp_path / 'golden.json'
  subprocess.run([sys.executable, os.path.join(HERE, 'golden_run.py'), str(output)], check=True)
  now, then = json.loads(output.read_text()), json.loads(open(FIXTURE).read())
  assert now['scalars'].keys() == then['scalars'].keys()
  assert now['metrics'].keys() == then['metrics'].keys()
  # Parts added since the recording (the latent diagnostics) are additions, not changes.
  now['metrics'] = {directory: {part: result for part, result in parts.items() if part in then['metrics'][directory]}
                    for directory, parts in now['metrics'].items()}
  assert now['pictures'].keys() == then['pictures'].keys()
  if now['machine']['cpu_flags'] == then['machine']['cpu_flags']:
    assert now['params_sha256'] == then['params_sha256']
    assert now['scalars'] == then['scalars']
    assert now['metrics'] == then['metrics']
    assert now['pictures'] == then['pictures']
  else:
    for leaf, total in then['param_sums'].items():
      np.testing.assert_allclose(now['param_sums'][leaf], total, rtol=1e-3, atol=1e-3, err_msg=leaf)
    for tag, values in then['scalars'].items():
      np.testing.assert_allclose(now['scalars'][tag], values, rtol=1e-3, atol=1e-6, err_msg=tag)
    for directory, parts in then['metrics'].items():
      for part, result in parts.items():
        for name, value in result.items():
          np.testing.assert_allclose(now['metrics'][directory][part][name], value, rtol=1e-3,
                                     atol=1e-6, err_msg=f'{directory}/{part}/{name}')
