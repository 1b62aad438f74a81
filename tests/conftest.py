"""Test-wide settings: two CPU devices, so multi-device code paths run in every test session."""

import os

os.environ.setdefault('XLA_FLAGS', '--xla_force_host_platform_device_count=2')
os.environ.setdefault('JAX_PLATFORMS', 'cpu')
