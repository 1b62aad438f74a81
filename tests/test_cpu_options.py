"""Per-jit XLA:CPU options: given on CPU where the jaxlib knows them, else none."""

import jax

from wae_jax import cpu_options


def test_known_options_are_given_on_cpu_only(monkeypatch):
  on_cpu = jax.default_backend() == 'cpu'
  for options in (cpu_options.TRAIN_STEP, cpu_options.FID_NETWORK):
    assert cpu_options.on_cpu(options) == (options if on_cpu else None)
  monkeypatch.setattr(jax, 'default_backend', lambda: 'gpu')
  assert cpu_options.on_cpu(cpu_options.TRAIN_STEP) is None


def test_an_option_this_jaxlib_does_not_know_is_dropped_not_a_compile_error():
  assert cpu_options.on_cpu({'xla_cpu_no_such_option': 'x'}) is None
  assert cpu_options.on_cpu({**cpu_options.TRAIN_STEP, 'xla_cpu_no_such_option': 'x'}) is None

