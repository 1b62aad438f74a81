"""`wae_jax.distributed` under its former name (`python -m wae_jax.multiprocess`: the launcher)."""

import sys

from wae_jax.distributed.launch import main, start  # noqa: F401
from wae_jax.distributed.runtime import (  # noqa: F401
    LostProcessError, barrier, failures_named, finish, gather_rows, host_local, initialize,
    initialize_if_asked, lost_processes, requested, share)

if __name__ == '__main__':
  sys.exit(main(prog='python -m wae_jax.multiprocess'))
