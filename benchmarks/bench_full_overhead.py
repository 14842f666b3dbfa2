"""What regress adds to a shape-true case, on the GPU: its share of the case's wall time.

Runs cases of benchmarks/full/suite.toml through ``GoldenSession.check`` (what ``pytest -m golden``
does per case) under cProfile and prints, per case: the case's duration, the build, the pipeline
call, and the rest (regress: golden read, identity probe, compare, verdict, fingerprint,
conversion), with the regress functions that took the most cumulative time. The first case of a
process also pays the one-time kernel probe; a second case on the same built pipeline shows the
steady state.

    python benchmarks/bench_full_overhead.py qwen-image-1328 qwen-image-1328 qwen-image-1024
    python benchmarks/bench_full_overhead.py --profile qwen-image-1328   # where the time goes
    python benchmarks/bench_full_overhead.py qwen-image-1328 vae=fp32    # a failing case

The shares are measured without the profiler (it slows Python, i.e. regress, far more than the
GPU-bound pipeline).
"""

from __future__ import annotations

import cProfile
import pstats
import sys
import time
from pathlib import Path

from regress.session import GoldenSession, Options
from regress.suite import load_suite

SUITE = Path(__file__).parent / "full" / "suite.toml"


def main(case_ids: list[str], *, profile: bool, precision: dict[str, str]) -> None:
    import torch

    suite = load_suite(SUITE)
    session = GoldenSession(suite, Options(device="cuda", strict=True, freeze_heap=True, precision=precision))
    print(f"device: {torch.cuda.get_device_name(0)}, torch {torch.__version__}")
    print("| case | status | case s | build s | pipeline s | regress s | regress share |")
    print("| --- | --- | ---: | ---: | ---: | ---: | ---: |")
    profiles = []
    for cid in case_ids:
        case = suite.case(cid)
        prof = cProfile.Profile()
        cached = len(session.pipelines)
        t0 = time.perf_counter()
        if profile:
            prof.enable()
        run = session.check(case)
        if profile:
            prof.disable()
        total = time.perf_counter() - t0
        perf = run.result.perf if run.result else None
        build = (perf.build_s or 0.0) if perf and len(session.pipelines) > cached else 0.0
        wall = perf.wall_s if perf else 0.0
        rest = total - build - wall
        print(f"| {cid} | {run.verdict.status} | {total:.3f} | {build:.3f} | {wall:.3f} | {rest:.3f} | "
              f"{rest / total:.2%} |")
        profiles.append((cid, prof))
    session.close()
    for cid, prof in profiles if profile else ():
        print(f"\n--- {cid}: regress functions by cumulative time (s)")
        stats = pstats.Stats(prof)
        rows = [(v[3], f"{Path(k[0]).parent.name}/{Path(k[0]).name}:{k[2]}") for k, v in stats.stats.items()
                if "/regress/" in k[0]]
        for cum, name in sorted(rows, reverse=True)[:25]:
            print(f"  {cum:8.4f}  {name}")


if __name__ == "__main__":
    args = sys.argv[1:]
    flips = dict(a.split("=", 1) for a in args if "=" in a)  # COMPONENT=DTYPE, as --golden-precision
    main([a for a in args if a != "--profile" and "=" not in a] or ["qwen-image-1328", "qwen-image-1328"],
         profile="--profile" in args, precision=flips)
