"""Framework overhead: the tiny suite through `pytest -m golden` vs the bare pipeline calls.

Both sides run in this one process with warm imports (a warm-up pytest run first). The bare
side builds each case's pipeline with the same builder and calls it with the same inputs:
pipeline construction and the pipeline call count as pipeline time; everything else that
`pytest -m golden` does (collection, golden lookup and sha256 checks, metrics, memory
measurement, verdicts, the report) is overhead.

    python benchmarks/bench_overhead.py [--suite goldens/suite.toml] [--device cuda] [--rounds 3]

Prints a table and a final `RESULT overhead ...` line. Run on CPU here and on the H100.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path


def machine(device: str) -> str:
    import torch

    if device.startswith("cuda"):
        return f"{torch.cuda.get_device_name(0)}, torch {torch.__version__}"
    return f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__}"


def bare(suite_path: Path, device: str) -> float:
    """Build + one call per case, calling the diffusers pipeline directly (no regress session)."""
    import torch

    from regress.runners import get_runner
    from regress.suite import load_suite

    suite = load_suite(suite_path)
    total = 0.0
    for case in suite.cases:
        runner = get_runner(case.pipeline)
        t0 = time.perf_counter()
        # The pipeline as regress builds it (same dtypes, and the latents cast to the VAE's dtype
        # that some diffusers pipelines lack), called directly: no session, store or metrics.
        pipe = runner.build(case, {}, device)
        kw = runner.call_kwargs(case)
        gen = torch.Generator("cpu").manual_seed(case.seed)
        with torch.no_grad():
            pipe(**kw, generator=gen, output_type="np")
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        total += time.perf_counter() - t0
        del pipe
    return total


def framework(suite_path: Path, device: str, report: bool = True) -> float:
    import pytest

    from importlib.metadata import entry_points

    report_dir = tempfile.mkdtemp(prefix="regress-bench-")
    # Where regress is on sys.path but not pip-installed (a GPU box with PYTHONPATH), load the
    # plugin by name; where it is installed, its pytest11 entry point already did.
    plugin = [] if any(ep.value == "regress.plugin" for ep in entry_points(group="pytest11")) else ["-p",
                                                                                                    "regress.plugin"]
    args = [*plugin, str(suite_path), f"--golden-suite={suite_path}", "-m", "golden", "-q", "-p", "no:cacheprovider",
            f"--golden-device={device}"] + ([f"--golden-report={report_dir}"] if report else [])
    t0 = time.perf_counter()
    code = pytest.main(args)
    dt = time.perf_counter() - t0
    if code != 0:
        sys.exit(f"pytest -m golden failed (exit {code}): the overhead of a failing run is not measured")
    return dt


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--suite", default="goldens/suite.toml", type=Path)
    ap.add_argument("--device", default=None)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--no-report", action="store_true", help="time `pytest -m golden` without --golden-report")
    args = ap.parse_args()
    import torch

    device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    suite = args.suite.resolve()
    report = not args.no_report
    framework(suite, device, report)  # warm-up: imports, kernels, lazy inits
    bare(suite, device)
    rows = []
    for _ in range(args.rounds):  # alternate so that machine noise hits both sides alike
        rows.append((bare(suite, device), framework(suite, device, report)))
    b = statistics.median(r[0] for r in rows)
    f = statistics.median(r[1] for r in rows)
    overhead = (f - b) / f
    print(f"\nmachine: {machine(device)}")
    print(f"{'round':>5} {'bare s':>9} {'pytest -m golden s':>19}")
    for i, (rb, rf) in enumerate(rows):
        print(f"{i:>5} {rb:>9.3f} {rf:>19.3f}")
    print(f"median  bare {b:.3f}s  framework {f:.3f}s  overhead {f - b:.3f}s = {overhead:.1%} of the suite's wall time")
    print(f"report: {'on' if report else 'off'}")
    print(f"RESULT overhead device={device} report={'on' if report else 'off'} bare_s={b:.3f} framework_s={f:.3f} overhead_pct={overhead * 100:.1f}")


if __name__ == "__main__":
    main()
