"""`python -m wae_jax.fid A B`: FID, KID and precision / recall of two image sets (see cli.py).

    python -m wae_jax.fid samples/ real_images.zip --json
"""

import sys

from wae_jax.fid.cli import main

if __name__ == '__main__':
  sys.exit(main())
