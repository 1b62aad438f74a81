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
huge_pages.restart_with_huge_pages(__file__)
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


@pytest.mark.parametrize('orig_argv, script', [
    (['python', 'launch.py', '--mode=eval'], 'launch.py'),
    (['python3', '-u', '-X', 'importtime', '-W', 'ignore', 'launch.py', '-c'], 'launch.py'),
    (['python', '-c', 'import runpy; ...', 'launch.py'], None),  # a harness running it
    (['python', '-m', 'pdb', 'launch.py'], None),  # a debugger
    (['python', '-mpytest'], None),
    (['python', '-'], None),
    (['python'], None),
])
def test_the_script_of_an_interpreter_command_line(orig_argv, script):
  assert huge_pages.script_of(orig_argv) == script


@pytest.mark.skipif(huge_pages.environment_with_huge_pages({}, huge_pages.glibc_version(),
                                                           huge_pages.thp_mode()) is None,
                    reason='needs glibc >= 2.35 and THP in madvise mode')
def test_launch_restarts_itself_once_saying_so_but_never_its_host():
  repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
  env = {key: value for key, value in os.environ.items() if key != 'GLIBC_TUNABLES'}
  program = subprocess.run([sys.executable, 'launch.py', '--help'], cwd=repo, env=env,
                           capture_output=True, text=True, timeout=120)
  assert program.returncode == 0, program.stderr
  notes = [line for line in program.stderr.splitlines() if 'restarting' in line]
  assert notes == ['launch.py: restarting once with GLIBC_TUNABLES=glibc.malloc.hugetlb=1 (huge '
                   "pages for XLA's buffers; GLIBC_TUNABLES=glibc.malloc.hugetlb=0 opts out)"]
  # Hosted by another program (a runpy harness, as IPython's %run): it must not restart the host.
  host = ("import os, runpy, sys; print('tunables:', os.environ.get('GLIBC_TUNABLES'), flush=True); "
          "sys.argv = ['launch.py', '--help']; runpy.run_path('launch.py', run_name='__main__')")
  hosted = subprocess.run([sys.executable, '-c', host], cwd=repo, env=env, capture_output=True,
                          text=True, timeout=120)
  assert hosted.returncode == 0, hosted.stderr
  assert [line for line in hosted.stdout.splitlines() if line.startswith('tunables:')] == ['tunables: None']
  assert 'restarting' not in hosted.stderr
