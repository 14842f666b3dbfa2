#!/usr/bin/env bash
# Issue 26 on one fresh H100 (wheels carried in .whl): the first judgements with empty compiler and
# probe caches against warm ones (bench_cold_start.py), and LPIPS against its compute floor
# (bench_lpips_floor.py).
set -uo pipefail
OUT=${OUT:-/tmp/out}; mkdir -p "$OUT"
export PYTHONUNBUFFERED=1 PYTHONWARNINGS=ignore TORCH_CPP_LOG_LEVEL=ERROR
step() { echo; echo "=== $(date +%T) $*"; }
{
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
python3 -c "import torch, triton; print('torch', torch.__version__, 'triton', triton.__version__)"
step "tiny suite, cold then warm"
timeout 200 python3 benchmarks/bench_cold_start.py
step "shape-true qwen-image-1328, cold then warm"
timeout 110 python3 benchmarks/bench_cold_start.py --suite benchmarks/full/suite.toml -k qwen-image-1328
if [ -n "${SPECIALISE:-}" ]; then
step "fused kernel: unspecialised (this tree) against specialised (a patched copy), fresh Triton caches"
rm -rf /tmp/spec && mkdir -p /tmp/spec && cp -r regress /tmp/spec/ && python3 - <<'PY'
from pathlib import Path
p = Path("/tmp/spec/regress/metrics/ssim_triton.py"); s = p.read_text()
i = s.index("@triton.jit(do_not_specialize"); j = s.index("def ssim_stats_kernel(")
p.write_text(s[:i] + "@triton.jit\n" + s[j:])
PY
TRITON_CACHE_DIR=/tmp/tc-unspec timeout 60 python3 benchmarks/bench_fused_specialise.py unspecialised
TRITON_CACHE_DIR=/tmp/tc-spec PYTHONPATH=/tmp/spec:$PYTHONPATH timeout 80 python3 benchmarks/bench_fused_specialise.py specialised
fi
step "LPIPS floor"
timeout 60 python3 benchmarks/bench_lpips_floor.py ${LPIPS_ARGS:---profile}
if [ -n "${MORE:-}" ]; then
step "MOVA shape-true: the audio VAE in bf16 against fp32"
timeout 200 python3 benchmarks/bench_mova_audio_vae.py --steps 2
step "micro: probe and first comparisons per tiny-case shape, no pipeline"
timeout 200 python3 benchmarks/bench_cold_start.py --micro
fi
if [ -n "${BASELINE:-}" ]; then
step "baseline: the tiny suite cold and warm with the landed main before issue 26 (git archive of it in .base)"
(cd .base && PYTHONPATH=/tmp/site:$PWD timeout 200 python3 benchmarks/bench_cold_start.py)
step "baseline: shape-true qwen-image-1328 with the landed main before issue 26"
(cd .base && PYTHONPATH=/tmp/site:$PWD timeout 110 python3 benchmarks/bench_cold_start.py --suite benchmarks/full/suite.toml -k qwen-image-1328)
fi
step done
} 2>&1 | tee "$OUT/cold.txt"
