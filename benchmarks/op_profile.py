"""Where a compiled computation's time goes, op by op: a `jax.profiler` trace joined with the
compiled HLO, so each timed op is named by its kind, its GFLOP/s and the model layer it comes
from.

  from op_profile import profile_ops, print_profile
  print_profile(profile_ops(compiled, run), top=40)

`compiled` is a `jax.stages.Compiled`, `run()` calls it once and returns its outputs. Used by
`train_step.py --ops=N`. Op times are the trace's per-op durations summed over one call. Ops
that run concurrently overlap, so their sum can exceed the call's wall time; an op that XLA
hands to a thread pool and does not wait for (small Eigen dot thunks) shows only its dispatch,
so a sum far below the wall time means the table misses work.
"""

import collections
import dataclasses
import gzip
import json
import math
import pathlib
import re
import tempfile
import time
from typing import Any, Callable

import jax

HEAVY_KINDS = ('convolution', 'dot', 'transpose', 'reduce-window', 'select-and-scatter', 'reduce',
               'scatter', 'gather', 'concatenate', 'pad', 'slice')
_COMPUTATION = re.compile(r'^(?:ENTRY )?%([\w.\-]+) \(')
_INSTRUCTION = re.compile(r'^\s+(?:ROOT )?%([\w.\-]+) = (\S+) ([\w\-]+)\((.*?)\)(.*)$')
_SHAPE = re.compile(r'\[([\d,]*)\]')


@dataclasses.dataclass
class Op:
  """One timed op: its HLO name, the heavy op it computes, the layer it came from."""
  name: str
  kind: str           # the heaviest instruction inside (a fusion's body) or the op itself
  shape: str          # output shape of that instruction
  gflop: float        # 2 x multiply-adds of a dot or convolution, else 0
  source: str         # the jax op_name (module path; 'transpose(jvp(...))' marks the backward)
  ms: float = 0.0

  @property
  def gflops(self) -> float:
    return self.gflop / (self.ms / 1e3) if self.ms and self.gflop else 0.0


def _dims(shape: str) -> list[int]:
  match = _SHAPE.search(shape)
  return [int(d) for d in match.group(1).split(',') if d] if match else []


def _flops(kind: str, shape: str, operand_shapes: list[str], attributes: str) -> float:
  out = math.prod(_dims(shape))
  if kind == 'dot' and operand_shapes:
    lhs = _dims(operand_shapes[0])
    contracting = re.search(r'lhs_contracting_dims=\{([\d,]*)\}', attributes)
    dims = [int(d) for d in contracting.group(1).split(',') if d] if contracting else []
    return 2.0 * out * math.prod(lhs[d] for d in dims)
  if kind == 'convolution' and len(operand_shapes) > 1:
    labels = re.search(r'dim_labels=\w+_(\w+)->', attributes)
    rhs = _dims(operand_shapes[1])
    if labels and len(labels.group(1)) == len(rhs):
      return 2.0 * out * math.prod(rhs) / rhs[labels.group(1).index('o')]
  return 0.0


def hlo_ops(hlo_text: str) -> dict[str, Op]:
  """Every instruction of the compiled HLO that the runtime can time, keyed by its name."""
  computations: dict[str, list[tuple]] = {}
  shapes: dict[str, str] = {}
  current = None
  for line in hlo_text.splitlines():
    header = _COMPUTATION.match(line)
    if header:
      current = computations.setdefault(header.group(1), [])
      continue
    inst = _INSTRUCTION.match(line)
    if inst and current is not None:
      name, shape, kind, operands, attributes = inst.groups()
      shapes[name] = shape
      current.append((name, shape, kind, re.findall(r'%([\w.\-]+)', operands), attributes))

  def source(attributes: str) -> str:
    match = re.search(r'op_name="([^"]*)"', attributes)
    return match.group(1) if match else ''

  # An op without metadata (XLA's weight-gradient convolutions) is named by its first user's.
  user_source: dict[str, str] = {}
  for body in computations.values():
    for _, _, _, operands, attributes in body:
      for operand in operands:
        if not user_source.get(operand):
          user_source[operand] = source(attributes)

  fusion_bodies = set(re.findall(r'calls=%([\w.\-]+)', hlo_text))
  ops = {}
  for computation, body in computations.items():
    if computation in fusion_bodies:  # never timed on their own
      continue
    for name, shape, kind, operands, attributes in body:
      inner = [(shape, kind, operands, attributes)]
      called = re.search(r'calls=%([\w.\-]+)', attributes)
      if called and called.group(1) in computations:
        inner = [(s, k, o, a) for _, s, k, o, a in computations[called.group(1)]]
      heavy = [i for i in inner if i[1] in HEAVY_KINDS]
      heavy.sort(key=lambda i: HEAVY_KINDS.index(i[1]))
      inner_shape, inner_kind, _, inner_attributes = heavy[0] if heavy else inner[-1]
      gflop = sum(_flops(k, s, [shapes.get(o, '') for o in os_], a) for s, k, os_, a in inner) / 1e9
      ops[name] = Op(name, inner_kind if heavy else 'elementwise', inner_shape, gflop,
                     source(inner_attributes) or source(attributes) or user_source.get(name, ''))
  return ops


@dataclasses.dataclass
class Profile:
  ops: list[Op]     # timed ops, slowest first
  wall_ms: float    # the traced call's wall time


def profile_ops(compiled: Any, run: Callable[[], Any]) -> Profile:
  """Traces one `run()` of `compiled`: its timed ops and its wall time."""
  ops = hlo_ops(compiled.as_text())
  with tempfile.TemporaryDirectory() as trace_dir:
    with jax.profiler.trace(trace_dir, create_perfetto_trace=True):
      start = time.perf_counter()
      jax.block_until_ready(run())
      wall_ms = (time.perf_counter() - start) * 1e3
    trace_file = next(pathlib.Path(trace_dir).rglob('*perfetto_trace.json.gz'))
    trace = json.load(gzip.open(trace_file))
  events = trace['traceEvents'] if isinstance(trace, dict) else trace
  for event in events:
    if event.get('ph') == 'X' and event.get('name') in ops:
      ops[event['name']].ms += event.get('dur', 0) / 1e3
  return Profile(sorted((op for op in ops.values() if op.ms), key=lambda op: -op.ms), wall_ms)


def layer_of(source: str) -> str:
  """'jit(step)/transpose(jvp(...))/encoder/BottleneckBlock_3/ConvUnit_1/Conv_0/...' ->
  'encoder/BottleneckBlock_3/ConvUnit_1 backward'."""
  backward = 'transpose(' in source
  parts = [p for p in source.split('/') if re.match(r'^[A-Za-z]+(_\d+)?$', p)]
  return '/'.join(parts[:3]) + (' backward' if backward else '')


def print_profile(profile: Profile, top: int) -> None:
  total = sum(op.ms for op in profile.ops)
  by_kind = collections.Counter()
  for op in profile.ops:
    by_kind[op.kind] += op.ms
  print(f'  op time {total / 1e3:.2f} s summed over ops, in a {profile.wall_ms / 1e3:.2f} s call: '
        + ', '.join(f'{kind} {ms / 1e3:.2f} s' for kind, ms in by_kind.most_common()))
  print(f'  {"ms":>8} {"GFLOP/s":>8}  {"op":<24} {"kind":<12} {"shape":<26} layer')
  for op in profile.ops[:top]:
    rate = f'{op.gflops:.0f}' if op.gflops else ''
    print(f'  {op.ms:8.1f} {rate:>8}  {op.name[:24]:<24} {op.kind:<12} {op.shape.split("{")[0]:<26} '
          f'{layer_of(op.source)}')
