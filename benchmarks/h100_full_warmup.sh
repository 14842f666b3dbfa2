#!/usr/bin/env bash
# What regress adds to the first case of a `pytest -m golden` process on one H100, passing and
# failing (vae=fp32), with the judgement's one-time GPU costs beside the build (regress/warmup.py).
set -uo pipefail
OUT=${OUT:-/tmp/out}; mkdir -p "$OUT"
export PYTHONUNBUFFERED=1 PYTEST_DISABLE_PLUGIN_AUTOLOAD=1 PYTHONWARNINGS=ignore TORCH_CPP_LOG_LEVEL=ERROR
S=benchmarks/full/suite.toml
P="python3 -m pytest $S -p regress.plugin -p no:cacheprovider -m golden --golden-suite $S --golden-strict -q -k qwen-image-1328"
share() {
  python3 - "$1" <<'PY'
import json, sys
c = json.load(open(sys.argv[1]))["cases"][0]
p = c["perf"]["current"]
rest = c["duration_s"] - p["build_s"] - p["wall_s"]
print(f"{c['status']}: case {c['duration_s']:.2f} s, build {p['build_s']:.2f} s, pipeline {p['wall_s']:.2f} s, "
      f"regress {rest:.3f} s ({rest / c['duration_s']:.2%})")
PY
}
for run in 1 2; do
  $P --golden-report "$OUT/pass$run" > /dev/null 2>&1; share "$OUT/pass$run/results.json"
  $P --golden-precision vae=fp32 --golden-report "$OUT/fail$run" > /dev/null 2>&1; share "$OUT/fail$run/results.json"
done 2>&1 | tee "$OUT/warmup.txt"
