"""What the jinja2 page costs a run that writes a report (``--golden-report``), per process.

Fresh interpreters, alternating, medians: a report document of ``--cases`` synthetic failing
video cases is (a) written as results.json only (the peer: every report run does this), and
(b) written as results.json and rendered to index.html, with jinja2's compiled-template cache
cold (a new temporary cache folder) and warm (the cache the previous process left).

    python benchmarks/bench_report_render.py --repeats 9
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SETUP = """
import json, os, sys, tempfile
from pathlib import Path
doc = json.loads(Path(sys.argv[1]).read_text())
"""
PEER = SETUP + "from regress.report.results import write_doc\nwrite_doc(Path(sys.argv[2]) / 'results.json', doc)\n"
PAGE = PEER + "from regress.report.html import render_html\n(Path(sys.argv[2]) / 'index.html').write_text(render_html(doc))\n"


def document(n: int) -> dict:
    from regress.report.results import results_doc
    from regress.thresholds import Threshold
    from regress.verdict import Verdict, judge_metrics

    vs = []
    for i in range(n):
        v = Verdict(id=f"case-{i}", platform="cpu-avx2", status="failed", model="tiny", reasons=["ssim low"],
                    worst_frame=3, per_frame={"ssim": [0.99 - 0.01 * k for k in range(9)]})
        v.metrics = judge_metrics({"ssim": 0.9, "max_abs": 7.0}, {"ssim": Threshold(0.9999, "suite default")})
        vs.append(v)
    return results_doc(vs, suite=None, platform="cpu-avx2", revision="r")


def once(code: str, doc: Path, out: Path, env: dict) -> float:
    t = time.perf_counter()
    subprocess.run([sys.executable, "-c", code, str(doc), str(out)], check=True, env=env)
    return time.perf_counter() - t


def main() -> None:
    import os

    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=9)
    ap.add_argument("--cases", type=int, default=8)
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp())
    doc = tmp / "doc.json"
    doc.write_text(json.dumps(document(args.cases)))
    base = {**os.environ}
    warm_dir = tmp / "warm"
    warm_dir.mkdir()
    times: dict[str, list[float]] = {"results.json only (peer)": [], "+ index.html, template cache cold": [],
                                     "+ index.html, template cache warm": []}
    once(PAGE, doc, tmp, {**base, "TMPDIR": str(warm_dir)})  # fills the warm cache
    for r in range(args.repeats):
        cold = tmp / f"cold{r}"
        cold.mkdir()
        times["results.json only (peer)"].append(once(PEER, doc, tmp, base))
        times["+ index.html, template cache cold"].append(once(PAGE, doc, tmp, {**base, "TMPDIR": str(cold)}))
        times["+ index.html, template cache warm"].append(once(PAGE, doc, tmp, {**base, "TMPDIR": str(warm_dir)}))
    peer = statistics.median(times["results.json only (peer)"])
    print(f"machine: {platform.processor() or platform.machine()}, CPython {platform.python_version()}, "
          f"{args.cases} video cases, repeats {args.repeats} (medians, fresh processes)")
    for name, ts in times.items():
        med = statistics.median(ts)
        print(f"{name:36s} {med * 1000:7.1f} ms  ({med / peer:.2f}x the peer, +{(med - peer) * 1000:.1f} ms)")


if __name__ == "__main__":
    main()
