"""Transparent huge pages for malloc, through glibc's `glibc.malloc.hugetlb=1` tunable.

XLA:CPU allocates the buffers of every call of a compiled step anew, gigabytes per step for the
ResNet models at 128x128, and glibc gives each large allocation freshly mapped memory, which the
kernel faults in 4 KiB page by page, every step. With the tunable, malloc asks the kernel for
2 MiB pages (madvise), and most of those faults go (README, Benchmarks). glibc reads tunables
only when a process starts, so `launch.py` restarts itself once with the tunable added to the
environment (`restart_with_huge_pages`). Only where it helps: Linux with glibc >= 2.35,
transparent huge pages in `madvise` mode, and a GLIBC_TUNABLES that does not already say
`glibc.malloc.hugetlb` (setting it to 0 there opts out). Imports only the standard library, so
it can run first.
"""

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
  """`environ` with the tunable added to GLIBC_TUNABLES, or None where it would not help or
  the environment already decides."""
  tunables = environ.get('GLIBC_TUNABLES', '')
  if glibc is None or glibc < MIN_GLIBC or mode != 'madvise' or TUNABLE in tunables:
    return None
  setting = f'{TUNABLE}=1'
  return {**environ, 'GLIBC_TUNABLES': f'{tunables}:{setting}' if tunables else setting}


def restart_with_huge_pages() -> None:
  """Replaces this process by the same command with the tunable set, where it helps (see the
  module docstring); otherwise returns. Call it before importing anything heavy."""
  if sys.platform != 'linux' or not sys.executable:
    return
  environ = environment_with_huge_pages(dict(os.environ), glibc_version(), thp_mode())
  if environ is not None:
    sys.stdout.flush()
    sys.stderr.flush()
    os.execve(sys.executable, [sys.executable, *sys.orig_argv[1:]], environ)
