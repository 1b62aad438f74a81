"""huge_pages: when the restart adds glibc's hugetlb tunable, and that the kernel then backs a
large allocation with huge pages."""

import os
import subprocess
import sys

import pytest

from wae_jax import huge_pages


def test_the_tunable_is_added_beside_other_tunables():
  env = huge_pages.environment_with_huge_pages({'PATH': '/bin'}, (2, 36), 'madvise')
  assert env == {'PATH': '/bin', 'GLIBC_TUNABLES': 'glibc.malloc.hugetlb=1'}
  env = huge_pages.environment_with_huge_pages({'GLIBC_TUNABLES': 'glibc.malloc.arena_max=2'},
                                               (2, 35), 'madvise')
  assert env == {'GLIBC_TUNABLES': 'glibc.malloc.arena_max=2:glibc.malloc.hugetlb=1'}


@pytest.mark.parametrize('environ, glibc, mode', [
    ({}, (2, 34), 'madvise'),  # no such tunable before glibc 2.35
    ({}, None, 'madvise'),  # musl, macOS
    ({}, (2, 36), 'always'),  # huge pages without asking
    ({}, (2, 36), 'never'),
    ({}, (2, 36), None),  # no THP in this kernel
    ({'GLIBC_TUNABLES': 'glibc.malloc.hugetlb=0'}, (2, 36), 'madvise'),  # the user opted out
])
def test_no_restart_where_it_cannot_help_or_the_user_decided(environ, glibc, mode):
  assert huge_pages.environment_with_huge_pages(environ, glibc, mode) is None


def test_thp_mode_reads_the_bracketed_word(tmp_path):
  path = tmp_path / 'enabled'
  path.write_text('always [madvise] never\n')
  assert huge_pages.thp_mode(str(path)) == 'madvise'
  assert huge_pages.thp_mode(str(tmp_path / 'missing')) is None


RESTARTED = '''
import ctypes, os, sys
from wae_jax import huge_pages
huge_pages.restart_with_huge_pages()
libc = ctypes.CDLL('libc.so.6')
libc.malloc.restype = ctypes.c_void_p
size = 256 * 2**20
ctypes.memset(libc.malloc(size), 1, size)  # one large malloc, as XLA's buffers; touched
with open('/proc/self/smaps_rollup') as file:
  huge_kb = next(int(line.split()[1]) for line in file if line.startswith('AnonHugePages:'))
print(os.environ.get('GLIBC_TUNABLES'), sys.argv[1:], huge_kb)
'''


@pytest.mark.skipif(huge_pages.thp_mode() != 'madvise' or (huge_pages.glibc_version() or (0,)) <
                    huge_pages.MIN_GLIBC, reason='needs glibc >= 2.35 and THP in madvise mode')
@pytest.mark.parametrize('tunables', [None, 'glibc.malloc.hugetlb=0'])
def test_the_restarted_process_gets_huge_pages_unless_opted_out(tmp_path, tunables):
  script = tmp_path / 'restarted.py'
  script.write_text(RESTARTED)
  env = {key: value for key, value in os.environ.items() if key != 'GLIBC_TUNABLES'}
  if tunables:
    env['GLIBC_TUNABLES'] = tunables
  result = subprocess.run([sys.executable, str(script), '--flag=1'], env=env, capture_output=True,
                          text=True, check=True)
  words = result.stdout.split()
  tunable, huge_kb = words[0], int(words[-1])
  assert "['--flag=1']" in result.stdout  # the same command, arguments kept
  if tunables:
    assert tunable == tunables and huge_kb < 64 * 1024
  else:
    assert tunable == 'glibc.malloc.hugetlb=1' and huge_kb >= 128 * 1024


@pytest.mark.skipif(huge_pages.environment_with_huge_pages({}, huge_pages.glibc_version(),
                                                           huge_pages.thp_mode()) is None,
                    reason='needs glibc >= 2.35 and THP in madvise mode')
def test_launch_restarts_itself_once_with_the_tunable():
  repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
  wrapper = ("import os, runpy, sys; print('tunables:', os.environ.get('GLIBC_TUNABLES'), flush=True); "
             "sys.argv = ['launch.py', '--help']; runpy.run_path('launch.py', run_name='__main__')")
  env = {key: value for key, value in os.environ.items() if key != 'GLIBC_TUNABLES'}
  result = subprocess.run([sys.executable, '-c', wrapper], cwd=repo, env=env, capture_output=True,
                          text=True, timeout=120)
  assert result.returncode == 0, result.stderr
  seen = [line for line in result.stdout.splitlines() if line.startswith('tunables:')]
  assert seen == ['tunables: None', 'tunables: glibc.malloc.hugetlb=1']
