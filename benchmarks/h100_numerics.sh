#!/usr/bin/env bash
# The numerics-identity runs on a CUDA machine (issue 12), in one go; what RESULTS.md quotes
# under "Numerics identity and drift bounds on the H100". Run from the repository root with
# regress importable (PYTHONPATH) and diffusers installed. Writes its log and the new
# cuda-* goldens (a tarball with the lock) under ${OUT:-/tmp/out}.
set -uo pipefail
OUT=${OUT:-/tmp/out}; mkdir -p "$OUT"
export PYTHONUNBUFFERED=1 PYTEST_DISABLE_PLUGIN_AUTOLOAD=1
R="python3 -m regress.cli"
P="python3 -m pytest goldens/suite.toml -p regress.plugin -p no:cacheprovider -m golden --golden-strict -q"
step() { echo; echo "=== $*"; }
{
step "bench_probe (cuda)"; python3 benchmarks/bench_probe.py --device cuda --rounds 20
step "env"; $R env
step "outputs before"; sha256sum goldens/store/cases/*/cuda-sm90/output.* goldens/store/cases/*/cuda-sm90/*.npz 2>/dev/null | sort -k2 > "$OUT/before.sha"
step "refresh (records the identity)"; $R refresh --only all
step "outputs after"; sha256sum goldens/store/cases/*/cuda-sm90/output.* goldens/store/cases/*/cuda-sm90/*.npz 2>/dev/null | sort -k2 | diff - "$OUT/before.sha" && echo "outputs bit-identical to the old cuda-sm90 goldens"
step "calibrate noise floor"; $R calibrate --runs 3 --write | grep -E "^[a-z0-9-]+ \[|bit-identical|differ|wrote"
step "calibrate --drift"; $R calibrate --drift --repeats 2
step "suite, exact"; $P -rA 2>&1 | tail -4
step "suite, SDPA math forced"; REGRESS_KERNELS=sdpa=math $P 2>&1 | tail -14
step "suite, TF32 on"; REGRESS_KERNELS=tf32=on $P 2>&1 | tail -14
step "qwen vae=fp32 with SDPA math forced"; REGRESS_KERNELS=sdpa=math $P -k qwen --golden-precision vae=fp32 2>&1 | tail -6
step "sd vae=fp16 with SDPA math forced"; REGRESS_KERNELS=sdpa=math $P -k sd-tiny --golden-precision vae=fp16 2>&1 | tail -6
step "qwen vae=fp32 exact"; $P -k qwen --golden-precision vae=fp32 2>&1 | tail -4
} 2>&1 | grep -v -E "USDT|profiler_st" | tee "$OUT/log.txt"
tar czf "$OUT/cuda_goldens.tgz" goldens/goldens.lock goldens/store/cases/*/cuda-*
