"""Several processes, one run: `runtime` (join, share, name the lost) and `launch` (local ones)."""
