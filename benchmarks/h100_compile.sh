#!/usr/bin/env bash
# Issue 27 on one H100 (wheels carried in .whl):
#  1. cuda-sm90 goldens for the two families that have none there yet (mova-tiny, mesh-tiny),
#     tarred into $OUT for the in-repo store;
#  2. the MOVA shape-true audio-VAE row: bf16 (the seed's default) against fp32 (what it replaced);
#  3. the tiny suite eager, then under --golden-compile (inductor, empty caches first), per case.
set -uo pipefail
OUT=${OUT:-/tmp/out}; mkdir -p "$OUT"
export PYTHONUNBUFFERED=1 PYTEST_DISABLE_PLUGIN_AUTOLOAD=1 PYTHONWARNINGS=ignore TORCH_CPP_LOG_LEVEL=ERROR
export REGRESS_CACHE_DIR=/tmp/regress-cache TORCHINDUCTOR_CACHE_DIR=/tmp/inductor TRITON_CACHE_DIR=/tmp/triton
T="python3 -m pytest goldens/suite.toml -p regress.plugin -p no:cacheprovider -m golden -q --golden-device cuda"
step() { echo; echo "=== $(date +%T) $*"; }
{
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
python3 -c "import torch, diffusers, transformers; print('torch', torch.__version__, 'diffusers', diffusers.__version__, 'transformers', transformers.__version__)"
step "record cuda-sm90 goldens: mova-tiny, mesh-tiny"
timeout 120 $T -k "mova-tiny or mesh-tiny" --golden-update missing 2>&1 | tail -5
git status --porcelain --untracked-files=all goldens | awk '{print $2}' > /tmp/changed
cat /tmp/changed; [ -s /tmp/changed ] && tar -cf "$OUT/goldens-cuda.tar" -T /tmp/changed
step "judge them back (exact regime)"
timeout 90 $T -k "mova-tiny or mesh-tiny" --golden-strict 2>&1 | tail -3
step "MOVA shape-true: the audio VAE in bf16 against fp32"
timeout 200 python3 benchmarks/bench_mova_audio_vae.py --steps 2
step "tiny suite eager"
/usr/bin/time -f "eager pytest wall %e s" timeout 110 $T --golden-report /tmp/eager 2>&1 | tail -3
step "tiny suite under --golden-compile=default (empty inductor cache)"
/usr/bin/time -f "compiled pytest wall %e s" timeout "${COMPILE_TIMEOUT:-240}" $T --golden-compile=default --golden-report /tmp/compiled 2>&1 | tail -14
python3 benchmarks/compare_runs.py /tmp/eager/results.json /tmp/compiled/results.json
step done
} 2>&1 | tee "$OUT/compile.txt"
