#!/usr/bin/env bash
# Issue 15 on one H100: shape-true cases (released architectures, seeded random weights, built on
# the GPU). 1) the precision sweep of the VAE (and ltx2's audio VAE) per case; 2) goldens for
# qwen-image-1328, a pytest run against them, and one with --golden-precision vae=fp32 that must
# fail on the decode stage's peak memory, and what regress adds to a case. Logs, JSON and the new
# goldens land under $OUT. CASES selects the sweeps (empty: none); SKIP_GOLDENS=1 skips part 2, SKIP_REFRESH=1 all of it but
# the overhead benchmark.
set -uo pipefail
OUT=${OUT:-/tmp/out}; mkdir -p "$OUT"
export PYTHONUNBUFFERED=1 PYTEST_DISABLE_PLUGIN_AUTOLOAD=1 PYTHONWARNINGS=ignore TORCH_CPP_LOG_LEVEL=ERROR
S=benchmarks/full/suite.toml
R="python3 -m regress.cli"
P="python3 -m pytest $S -p regress.plugin -p no:cacheprovider -m golden --golden-suite $S --golden-strict -q -rA --durations=5"
step() { echo; echo "=== $(date +%T) $*"; }
CASES=${CASES-"qwen-image-1328 qwen-image-1024 flux-1024 wan-480p ltx2-audio"}
{
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
python3 -c "import torch, diffusers, transformers; print('torch', torch.__version__, 'diffusers', diffusers.__version__, 'transformers', transformers.__version__)"
if [ -z "${SKIP_GOLDENS:-}" ]; then
if [ -z "${SKIP_REFRESH:-}" ]; then
step "goldens: refresh qwen-image-1328 on this card"
/usr/bin/time -f "refresh: %e s wall" timeout 300 $R refresh --suite $S -k qwen-image-1328 --only all 2>&1 | tail -4
step "pytest -m golden (exact, must pass)"
/usr/bin/time -f "pytest exact: %e s wall" timeout 300 $P -k qwen-image-1328 --golden-report "$OUT/report-exact" 2>&1 | tail -12
step "pytest -m golden --golden-precision vae=fp32 (must fail on decode memory)"
/usr/bin/time -f "pytest vae=fp32: %e s wall" timeout 300 $P -k qwen-image-1328 --golden-precision vae=fp32 --golden-report "$OUT/report-vae32" 2>&1 | grep -v "^$" | tail -30
tar czf "$OUT/full_goldens.tgz" benchmarks/full/goldens.lock benchmarks/full/store
fi
step "what regress adds to a case (benchmarks/bench_full_overhead.py)"
timeout 200 python3 benchmarks/bench_full_overhead.py qwen-image-1328 qwen-image-1328 qwen-image-1328 2>&1 | head -8
timeout 200 python3 benchmarks/bench_full_overhead.py qwen-image-1328 qwen-image-1328 vae=fp32 2>&1 | head -8
timeout 200 python3 benchmarks/bench_full_overhead.py --profile qwen-image-1328 qwen-image-1328 vae=fp32 2>&1 | tail -28
fi
for c in $CASES; do
  comps=vae; [ "$c" = ltx2-audio ] && comps=vae,audio_vae
  step "sweep $c ($comps)"
  /usr/bin/time -f "$c sweep: %e s wall, max host RSS %M KB" timeout 300 $R sweep "$c" --suite $S --components $comps \
      --dtypes fp32,bf16 --repeats 1 --json > "$OUT/sweep-$c.json" 2> "$OUT/sweep-$c.err"
  tail -3 "$OUT/sweep-$c.err"
  python3 - "$OUT/sweep-$c.json" <<'PY'
import json, sys
d = json.load(open(sys.argv[1])); M = 1 << 20
for r in d["rows"]:
    if r.get("error"):
        print(f"  {r['label']:<16} cannot run: {r['error'][:200]}"); continue
    sm = {k: round(v / M) for k, v in r["stage_memory"].items()}
    st = {k: round(v * 1000) for k, v in r["stages"].items()}
    print(f"  {r['label']:<16} peak {r['peak_memory'] / M:9.0f} MiB  stages MiB {sm}  ms {st}  wall {r['wall_s']:.2f}s"
          f"  metrics {r['metrics']}  fp {r['fingerprint']}")
PY
done
} 2>&1 | grep -v -E "USDT|profiler_st|gpuGetDeviceCount" | tee "$OUT/log.txt"
cd "$OUT" && tar czf results.tgz --exclude results.tgz --exclude log.txt . 2>/dev/null && find . -mindepth 1 -not -name results.tgz -not -name log.txt -delete
