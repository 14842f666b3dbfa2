#!/usr/bin/env bash
# Issues 22 and 23 on one H100 (the device tool; wheels carried in .whl, see benchmarks/RESULTS.md):
#  1. the tiny suite against its cuda-sm90 goldens, twice: the first run pays the clean-process
#     kernel probe (a fresh interpreter with CUDA), the second reads it from the cache;
#  2. the same with TF32 switched on inside the process under test (a sitecustomize, as code under
#     test would): the probe must not see it (exact regime) and every case must fail naming the setting;
#  3. A/B of the shape-true qwen-image-1328 case on this card: the VAE in fp32 as the base
#     (--golden-record), the default bf16 as the head (--golden-baseline): the impact table, beside
#     the seed's 64098 -> 58518 MB.
set -uo pipefail
OUT=${OUT:-/tmp/out}; mkdir -p "$OUT"
export PYTHONUNBUFFERED=1 PYTEST_DISABLE_PLUGIN_AUTOLOAD=1 PYTHONWARNINGS=ignore TORCH_CPP_LOG_LEVEL=ERROR
export REGRESS_CACHE_DIR=/tmp/regress-cache
T="python3 -m pytest goldens/suite.toml -p regress.plugin -p no:cacheprovider -m golden -q"
F="python3 -m pytest benchmarks/full/suite.toml -p regress.plugin -p no:cacheprovider -m golden -q --golden-suite=benchmarks/full/suite.toml -k qwen-image-1328"
step() { echo; echo "=== $(date +%T) $*"; }
{
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
python3 -c "import torch, diffusers, transformers; print('torch', torch.__version__, 'diffusers', diffusers.__version__, 'transformers', transformers.__version__)"
step "tiny suite, cuda-sm90 goldens, empty probe cache"
/usr/bin/time -f "tiny, cold probe cache: %e s wall" $T --golden-report="$OUT/tiny1" 2>&1 | tail -4
step "tiny suite again (probe cached)"
/usr/bin/time -f "tiny, probe cached: %e s wall" $T 2>&1 | tail -3
step "tiny suite with TF32 switched on by the code under test (sitecustomize)"
mkdir -p /tmp/sc && printf 'import torch\ntorch.backends.cuda.matmul.allow_tf32 = True\ntorch.backends.cudnn.allow_tf32 = True\n' > /tmp/sc/sitecustomize.py
PYTHONPATH="/tmp/sc:${PYTHONPATH:-}" /usr/bin/time -f "tiny, tf32 on: %e s wall" $T --golden-report="$OUT/tiny-tf32" 2>&1 | grep -E "failed|passed" | cut -c1-400 | tail -10
python3 - "$OUT/tiny-tf32/results.json" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
for c in d["cases"]:
    print(c["id"], c["status"], (c.get("numerics") or {}).get("regime"), [r[:90] for r in c["reasons"][:1]])
PY
step "A/B qwen-image-1328: base = VAE fp32 (recorded), head = default bf16"
/usr/bin/time -f "base (vae fp32, --golden-record): %e s wall" $F --golden-precision vae=fp32 --golden-record=/tmp/ab-base 2>&1 | tail -2
/usr/bin/time -f "head (default, --golden-baseline): %e s wall" $F --golden-baseline=/tmp/ab-base --golden-report="$OUT/ab" 2>&1 | tail -14
cat "$OUT/ab/impact.md"
python3 - "$OUT/ab/results.json" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
for c in d["cases"]:
    ab = c["ab"]; g = ab["perf"]["golden"]; n = ab["perf"]["current"]
    print(c["id"], "A/B", ab["status"], "moved", ab["moved"])
    for st in sorted(g["peak_memory"]):
        a, b = g["peak_memory"][st], n["peak_memory"].get(st)
        print(f"  peak {st:12s} {a / 2**20:10.0f} MiB -> {b / 2**20:10.0f} MiB ({(b - a) / a * 100:+.2f}%)")
    print(f"  wall {g['wall_s']:.2f} s -> {n['wall_s']:.2f} s")
PY
} 2>&1 | grep -v -E "USDT|profiler_st|gpuGetDeviceCount" | tee "$OUT/log.txt"
