"""Injected sharding faults against a parallel case's judgement (issue 28), on the CPU with gloo.

The tiny flux case runs over 2 ranks (diffusers' context parallelism, Ulysses 2) with each fault of
regress/parallel_faults.py injected, and is judged two ways:

* exact: against a golden of the same layout (made here, clean);
* drift: against the one-process golden of the same case, with drift bounds measured by
  ``calibrate --drift --parallel context=2`` over the default path and the layout (strict, as CI).

Prints one markdown row per fault: the first stage that diverged and its relative L2, the image
metrics, and the verdict in each regime. Usage: ``python benchmarks/bench_parallel_faults.py``
(about 2 minutes on 2 cores).
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

SUITE = """
[suite]
name = "parallel-faults"
[store]
kind = "file"
path = "store"
[defaults]
ssim = 0.9999
psnr = 60.0
max_abs = 2
mean_abs = 0.05
""" + "".join(f"""
[[case]]
id = "{cid}"
pipeline = "flux"
prompt = "a squirrel"
height = 32
width = 32
steps = 2
guidance = 5.0
max_sequence_length = 48
{extra}
""" for cid, extra in (("one", ""), ("cp", "parallel = { context = 2 }"), ("cp-twin", "parallel = { context = 2 }")))


def main() -> None:
    from regress.drift import calibrate_drift
    from regress.parallel import Layout
    from regress.parallel_faults import FAULTS
    from regress.session import GoldenSession, Options
    from regress.suite import load_suite

    root = Path(tempfile.mkdtemp(prefix="bench-parallel-"))
    (root / "goldens").mkdir()
    path = root / "goldens" / "suite.toml"
    path.write_text(SUITE)
    maker = GoldenSession(load_suite(path), Options(device="cpu", update="missing"))
    for cid in ("one", "cp"):  # cp-twin has none: judged against 'one'
        assert maker.check(maker.suite.case(cid)).verdict.status == "written"
    maker.publish()
    session = GoldenSession(load_suite(path), Options(device="cpu", freeze_heap=True))
    calibrate_drift(session, [session.suite.case("one")], only=["default", "parallel ulysses=2 ring=1 world=2"],
                    parallel=Layout(ulysses=2))
    print("| fault | first divergence | ssim | psnr dB | max_abs | exact (own layout golden) | drift (one-process golden) |")
    print("| --- | --- | ---: | ---: | ---: | --- | --- |")
    for fault in ("none", *FAULTS):
        if fault == "none":
            os.environ.pop("REGRESS_PARALLEL_FAULT", None)
        else:
            os.environ["REGRESS_PARALLEL_FAULT"] = fault
        row = {}
        for cid in ("cp", "cp-twin"):
            s = GoldenSession(load_suite(path), Options(device="cpu", strict=True))
            row[cid] = s.check(s.suite.case(cid)).verdict.to_json()
        v = row["cp-twin"]
        metrics = {k: (round(m["value"], 6) if isinstance(m.get("value"), float) else m.get("value"))
                   for k, m in v.get("metrics", {}).items()}
        first = next((r for r in v.get("reasons", []) if r.startswith("first divergence")), "none (passes)")
        print(f"| {fault} | {first.removeprefix('first divergence: ')} | {metrics.get('ssim', '-')} | "
              f"{metrics.get('psnr', '-')} | {metrics.get('max_abs', '-')} | {row['cp']['status']} | {v['status']} |")


if __name__ == "__main__":
    main()
