"""`python -m wae_jax.multiprocess`: the local launcher of wae_jax.distributed, by its short name."""

import sys

from wae_jax.distributed.launch import main

if __name__ == '__main__':
  sys.exit(main(prog='python -m wae_jax.multiprocess'))
