#!/usr/bin/env bash
# The README's GPU table in one command: our compiled WAE-ResNet step and the same step in
# PyTorch (eager and torch.compile), 128x128, both precisions, batch 64 and 256.
#
#   bash benchmarks/gpu_table.sh [OUTDIR]      # needs a CUDA GPU, jax[cuda13] and torch
#
# Each case runs in its own process with a time limit, so one slow compile costs only its row;
# every result is appended as one JSON line to OUTDIR/gpu_table.jsonl (default: .), and the
# logs go to OUTDIR/gpu_table.log.
set -u
out=${1:-.}
mkdir -p "$out"
log="$out/gpu_table.log"
jsonl="$out/gpu_table.jsonl"
: >"$jsonl"
limit=${CASE_TIMEOUT_S:-150}
export PYTHONUNBUFFERED=1

case_() {  # case_ LABEL COMMAND...: run, log, keep the JSON line
  echo "== $1" | tee -a "$log"
  local label=$1
  shift
  timeout "$limit" "$@" --json 2>&1 | tee -a "$log" | tail -1 \
    | python3 -c "import json,sys; line=sys.stdin.read().strip();
d=json.loads(line) if line.startswith('{') else {'error': 'no result'}; d['case']='$label'; print(json.dumps(d))" >>"$jsonl"
}

nvidia-smi -L | tee -a "$log"
python3 -c 'import jax, torch; print("jax", jax.__version__, jax.devices(), "torch", torch.__version__)' | tee -a "$log"
jax_step="python3 benchmarks/train_step.py --model=wae_resnet --size=128 --rounds=5 --steps=10"
torch_step="python3 benchmarks/torch_reference_step.py --device=cuda --size=128 --rounds=5 --steps=10 --channels-last"
case_ jax_bf16_b64 $jax_step --dtype=bfloat16 --batch=64
case_ jax_f32_b64 $jax_step --dtype=float32 --batch=64
case_ torch_eager_bf16_b64 $torch_step --dtype=bfloat16 --batch=64
case_ torch_eager_tf32_b64 $torch_step --dtype=float32 --tf32 --batch=64
case_ torch_eager_f32_b64 $torch_step --dtype=float32 --batch=64
case_ jax_bf16_b256 $jax_step --dtype=bfloat16 --batch=256
case_ torch_eager_bf16_b256 $torch_step --dtype=bfloat16 --batch=256
case_ torch_compile_bf16_b64 $torch_step --dtype=bfloat16 --batch=64 --compile
case_ jax_f32_b256 $jax_step --dtype=float32 --batch=256
case_ jax_bf16_b64_breakdown $jax_step --dtype=bfloat16 --batch=64 --breakdown
