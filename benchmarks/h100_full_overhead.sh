#!/usr/bin/env bash
# The regress share of shape-true cases on one H100 (needs the qwen-image-1328 cuda-sm90 golden).
set -uo pipefail
OUT=${OUT:-/tmp/out}; mkdir -p "$OUT"
export PYTHONUNBUFFERED=1 PYTHONWARNINGS=ignore TORCH_CPP_LOG_LEVEL=ERROR
python3 benchmarks/bench_full_overhead.py qwen-image-1328 qwen-image-1328 qwen-image-1328 2>&1 \
  | grep -v -E "USDT|profiler_st|gpuGetDeviceCount" | tee "$OUT/overhead.txt"
