"""Two runs of one suite side by side, per case: status, the case's time, the pipeline call and
the build (from each run's results.json), and the second run's time over the first's.

    python benchmarks/compare_runs.py EAGER/results.json COMPILED/results.json

Used by benchmarks/h100_compile.sh to set a compiled tiny suite's time against eager: a compiled
case pays its compile inside the build and the first pipeline call, so ``case s`` is what a CI
job pays and ``pipeline s`` what a warm compiled call costs.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path


def _cases(path: str) -> dict[str, dict]:
    p = Path(path)
    if not p.exists():
        return {}
    return {c["id"]: c for c in json.loads(p.read_text())["cases"]}


def _times(case: dict | None) -> tuple[str, float, float, float]:
    if not case:
        return "-", 0.0, 0.0, 0.0
    perf = (case.get("perf") or {}).get("current") or {}
    return case["status"], case.get("duration_s") or 0.0, perf.get("wall_s") or 0.0, perf.get("build_s") or 0.0


def main(first: str, second: str) -> None:
    a, b = _cases(first), _cases(second)
    print("| case | first status | second status | first case s | second case s | ratio | "
          "first pipeline s | second pipeline s | first build s | second build s |")
    print("| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    total_a = total_b = 0.0
    for cid in sorted(set(a) | set(b)):
        sa, ta, wa, ba = _times(a.get(cid))
        sb, tb, wb, bb = _times(b.get(cid))
        total_a += ta
        total_b += tb
        ratio = f"{tb / ta:.2f}x" if ta and tb else "-"
        print(f"| {cid} | {sa} | {sb} | {ta:.2f} | {tb:.2f} | {ratio} | {wa:.3f} | {wb:.3f} | {ba:.2f} | {bb:.2f} |")
    if total_a and total_b:
        print(f"| all | | | {total_a:.1f} | {total_b:.1f} | {total_b / total_a:.2f}x | | | | |")


if __name__ == "__main__":
    if len(sys.argv) != 3:
        raise SystemExit("usage: compare_runs.py FIRST/results.json SECOND/results.json")
    main(sys.argv[1], sys.argv[2])
