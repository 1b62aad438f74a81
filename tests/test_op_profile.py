"""benchmarks/op_profile.py: compiled HLO joined with a profiler trace, op by op."""

import pathlib
import sys

import jax
import jax.numpy as jnp
import pytest

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / 'benchmarks'))
import op_profile  # noqa: E402


def model(x, w, kernel):
  y = jax.lax.conv_general_dilated(x, kernel, (1, 1), 'SAME',
                                   dimension_numbers=('NHWC', 'HWIO', 'NHWC'))
  return jnp.tanh(x.reshape(128, 256) @ w), y


ARGS = (jnp.ones((2, 8, 8, 256)) * 0.1, jnp.ones((256, 64)), jnp.ones((3, 3, 256, 4)))


def test_ops_carry_their_kind_flops_and_source_layer():
  compiled = jax.jit(model).lower(*ARGS).compile()
  ops = op_profile.hlo_ops(compiled.as_text())
  dots = [op for op in ops.values() if op.kind == 'dot']
  convolutions = [op for op in ops.values() if op.kind == 'convolution']
  assert [op.gflop for op in dots] == [pytest.approx(2 * 128 * 256 * 64 / 1e9)]
  # 2 x (output elements) x (3 x 3 taps x 256 input channels)
  assert [op.gflop for op in convolutions] == [pytest.approx(2 * 2 * 8 * 8 * 4 * 9 * 256 / 1e9)]
  assert 'dot_general' in dots[0].source


def test_profile_times_the_ops_of_one_call():
  compiled = jax.jit(model).lower(*ARGS).compile()
  profile = op_profile.profile_ops(compiled, lambda: compiled(*ARGS))
  ops = profile.ops
  assert {'dot', 'convolution'} <= {op.kind for op in ops}
  assert all(op.ms > 0 for op in ops)
  assert [op.ms for op in ops] == sorted((op.ms for op in ops), reverse=True)
  assert profile.wall_ms >= max(op.ms for op in ops)


def test_layer_names_the_module_path_and_the_backward_pass():
  source = ('jit(step)/transpose(jvp(AutoEncoder))/AutoEncoder.decode/decoder/ConvUnit_3/'
            'TransposedConv_0/nhwi,yxio->nhwyxo/dot_general')
  assert op_profile.layer_of(source) == 'decoder/ConvUnit_3/TransposedConv_0 backward'
  assert op_profile.layer_of('jit(f)/encoder/Conv_0/conv_general_dilated') == 'encoder/Conv_0'


def test_an_op_without_metadata_is_named_by_its_user():
  hlo = """ENTRY %main (p: f32[4,4]) -> f32[4,4] {
  %p = f32[4,4]{1,0} parameter(0)
  %conv_fusion = f32[4,4]{1,0} fusion(%p), kind=kCustom, calls=%body
  ROOT %bitcast.1 = f32[4,4]{1,0} bitcast(%conv_fusion), metadata={op_name="jit(f)/transpose(jvp(M))/encoder/Conv_0/conv_general_dilated"}
}
"""
  assert op_profile.layer_of(op_profile.hlo_ops(hlo)['conv_fusion'].source) == 'encoder/Conv_0 backward'
