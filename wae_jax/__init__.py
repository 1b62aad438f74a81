"""wae-jax: Wasserstein Auto-Encoders and VAEs in JAX/Flax."""
