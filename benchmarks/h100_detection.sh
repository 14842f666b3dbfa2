#!/usr/bin/env bash
# Second CUDA run of issue 12: the probe's cost with the device start timed apart, the
# detection matrix in the exact regime and with SDPA's math backend forced (drift regime),
# and unchanged reruns of the suite in the exact regime. Log under ${OUT:-/tmp/out}.
set -uo pipefail
OUT=${OUT:-/tmp/out}; mkdir -p "$OUT"
export PYTHONUNBUFFERED=1 PYTEST_DISABLE_PLUGIN_AUTOLOAD=1
P="python3 -m pytest goldens/suite.toml -p regress.plugin -p no:cacheprovider -m golden --golden-strict -q"
step() { echo; echo "=== $*"; }
{
step "bench_probe (cuda)"; python3 benchmarks/bench_probe.py --device cuda --rounds 20
step "detection, default kernels"; python3 benchmarks/bench_detection.py --markdown
step "detection, SDPA math forced"; REGRESS_KERNELS=sdpa=math python3 benchmarks/bench_detection.py --markdown
step "unchanged reruns, exact regime"; for i in 1 2 3 4 5; do $P 2>&1 | tail -1; done
} 2>&1 | grep -v -E "USDT|profiler_st" | tee "$OUT/log.txt"
