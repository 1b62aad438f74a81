"""Several processes, one run: `runtime` (joining JAX's multi-controller runtime, host shares,
lost processes named) and `launch` (N local processes of one run, `python -m wae_jax.distributed.launch`)."""
