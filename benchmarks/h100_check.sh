#!/usr/bin/env bash
# One H100 call: the tiny suite against its cuda-sm90 goldens (outputs must stay bit-identical
# after a change to the output path), then the shape-true first-case shares (h100_full_warmup.sh).
set -uo pipefail
OUT=${OUT:-/tmp/out}; mkdir -p "$OUT"
export PYTHONUNBUFFERED=1 PYTEST_DISABLE_PLUGIN_AUTOLOAD=1 PYTHONWARNINGS=ignore TORCH_CPP_LOG_LEVEL=ERROR
echo "=== tiny suite, cuda-sm90"
python3 -m pytest goldens/suite.toml -p regress.plugin -p no:cacheprovider -m golden --golden-strict -q 2>&1 | tail -4
echo "=== shape-true first-case shares"
bash benchmarks/h100_full_warmup.sh
