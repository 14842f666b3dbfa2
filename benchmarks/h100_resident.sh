#!/usr/bin/env bash
# Device-resident judging on a CUDA machine (H100): the tests, CUDA-only ones included, then
# compare_outputs + verdict on the 1024x1024 image pair and the 121x720x1280 video pair from
# host outputs against device-resident ones, in the same run on the same GPU (machine named).
# A few lines of output; with OUT set, the numbers also go to $OUT/resident.json.
set -uo pipefail
export PYTHONUNBUFFERED=1 PYTHONWARNINGS=ignore TORCH_CPP_LOG_LEVEL=ERROR PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
echo "=== tests (device-resident judging, the fused kernel, the quantisation)"
python3 -m pytest tests/test_resident.py tests/test_fused.py \
    tests/test_shapes.py::test_tensor_quantisation_is_the_numpy_path_bit_for_bit \
    -q -p no:cacheprovider -rs 2>&1 | grep -E "passed|failed|error|SKIPPED" | tail -6
echo "=== tiny suite against its cuda-sm90 goldens (video frames are now quantised on the GPU: must stay bit-identical)"
PYTEST_DISABLE_PLUGIN_AUTOLOAD=1 python3 -m pytest goldens/suite.toml -p regress.plugin -p no:cacheprovider -m golden --golden-strict -q 2>&1 | tail -2
echo "=== compare_outputs + verdict: host outputs vs device-resident"
python3 benchmarks/bench_metrics.py --resident --repeats 7 ${OUT:+--out "$OUT/resident.json"} 2>&1 | tail -4
