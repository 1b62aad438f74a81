#!/bin/bash
# Builds two study workdirs from finished ones (copies; the sources stay as they are):
#  budget64:     the cpu_samplers runs (400 steps) to be trained on to 800; their step-400 scores reused.
#  beyond_here:  the cpu_samplers WAE-GAN runs and the beyond_rae RAE runs, for RAE - WAE-GAN pairs.
set -euo pipefail
S=/tmp/sc/studies
what=$1
if [ "$what" = budget64 ]; then
  dst=$S/budget64; mkdir -p $dst/runs
  cp -r $S/cpu_samplers/reference_stats.npz $S/cpu_samplers/real_data $dst/
  for r in wae_seed0 wae_resnet_seed0 wae_seed1 wae_resnet_seed1 wae_seed2 wae_resnet_seed2; do
    [ -d $dst/runs/$r ] && continue
    cp -r $S/cpu_samplers/runs/$r $dst/runs/$r
    mv $dst/runs/$r/eval $dst/runs/$r/eval_step400
    mv $dst/runs/$r/eval_gmm $dst/runs/$r/eval_step400_gmm
  done
fi
if [ "$what" = beyond_here ]; then
  dst=$S/beyond_here; mkdir -p $dst/runs
  cp -r $S/cpu_samplers/reference_stats.npz $S/cpu_samplers/real_data $dst/
  for k in 0 1 2; do
    [ -d $dst/runs/wae_seed$k ] || cp -r $S/cpu_samplers/runs/wae_seed$k $dst/runs/
    [ -d $dst/runs/rae_seed$k ] || cp -r $S/beyond_rae/runs/rae_seed$k $dst/runs/
  done
  python3 - <<'PY'
import json
S='/tmp/sc/studies'
a=json.load(open(f'{S}/cpu_samplers/study_timing.json')); b=json.load(open(f'{S}/beyond_rae/study_timing.json'))
merged={k:v for k,v in {**a,**b}.items() if not k.split('/')[1:2] or not k.split('/')[1].startswith('wae_resnet')}
json.dump(merged, open(f'{S}/beyond_here/study_timing.json','w'), indent=1)
PY
fi
