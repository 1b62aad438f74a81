"""Huge pages for XLA:CPU's per-step buffers: glibc's `glibc.malloc.hugetlb=1`, read only at start,
so `launch.py` restarts itself once with it (docs/training.md). Standard library only."""

import os
import platform
import sys

TUNABLE = 'glibc.malloc.hugetlb'
THP_MODE_FILE = '/sys/kernel/mm/transparent_hugepage/enabled'
MIN_GLIBC = (2, 35)  # the first glibc with the tunable


def thp_mode(path: str = THP_MODE_FILE) -> str | None:
  """The kernel's transparent huge page mode ('always', 'madvise', 'never'), None if unknown."""
  try:
    with open(path) as file:
      text = file.read()
  except OSError:
    return None
  chosen = [word[1:-1] for word in text.split() if word.startswith('[')]
  return chosen[0] if chosen else None


def glibc_version() -> tuple[int, ...] | None:
  """(major, minor) of the C library this Python runs on, where it is glibc."""
  library, version = platform.libc_ver()
  if library != 'glibc' or not version:
    return None
  return tuple(int(part) for part in version.split('.')[:2])


def environment_with_huge_pages(environ: dict[str, str], glibc: tuple[int, ...] | None,
                                mode: str | None) -> dict[str, str] | None:
  """`environ` with the tunable added to GLIBC_TUNABLES, or None where it would not help
  (glibc < 2.35, THP not in `madvise` mode) or GLIBC_TUNABLES already decides."""
  tunables = environ.get('GLIBC_TUNABLES', '')
  if glibc is None or glibc < MIN_GLIBC or mode != 'madvise' or TUNABLE in tunables:
    return None
  setting = f'{TUNABLE}=1'
  return {**environ, 'GLIBC_TUNABLES': f'{tunables}:{setting}' if tunables else setting}


OPTIONS_WITH_VALUE = ('-X', '-W', '--check-hash-based-pycs')  # the next argument is their value


def script_of(orig_argv: list[str]) -> str | None:
  """The script of an interpreter command line (`python [options] script args`), or None where
  it runs code of `-c`, a module of `-m` (pdb, runpy, pytest) or reads standard input."""
  args = iter(orig_argv[1:])
  for arg in args:
    if arg in OPTIONS_WITH_VALUE:
      next(args, None)
    elif arg.startswith(('-c', '-m')) or arg == '-':
      return None
    elif not arg.startswith('-'):
      return arg
  return None


def is_the_program(script: str) -> bool:
  """Whether this interpreter runs `script` itself, with no debugger, REPL or IPython attached."""
  started = script_of(sys.orig_argv)
  hosted = (sys.gettrace() is not None or hasattr(sys, 'ps1') or sys.flags.interactive
            or 'IPython' in sys.modules)
  return (started is not None and not hosted
          and os.path.realpath(started) == os.path.realpath(script))


def restart_with_huge_pages(script: str) -> None:
  """Replaces this process by the same command with the tunable set, where it helps and `script`
  (the caller's __file__) is the program (`is_the_program`). Call it before heavy imports."""
  if sys.platform != 'linux' or not sys.executable or not is_the_program(script):
    return
  environ = environment_with_huge_pages(dict(os.environ), glibc_version(), thp_mode())
  if environ is not None:
    print(f'{os.path.basename(script)}: restarting once with GLIBC_TUNABLES={environ["GLIBC_TUNABLES"]} '
          f'(huge pages for XLA\'s buffers; GLIBC_TUNABLES={TUNABLE}=0 opts out)',
          file=sys.stderr, flush=True)
    sys.stdout.flush()
    os.execve(sys.executable, [sys.executable, *sys.orig_argv[1:]], environ)
