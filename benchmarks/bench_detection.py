"""The detection matrix: which single-component precision flips regress catches, and by what.

For every case of the suite and every component of its family's precision table, each other
dtype (fp32 / bf16 / fp16) is run in place of the default, and the output is judged by the
one judging step (regress/judge.py) twice:

* **exact regime**: against this machine's own default-precision output, as a golden made
  here would be (same kernels), with the exact-regime thresholds and the memory gate;
* **drift regime**: against the stored golden of the same backend whose kernel probe differs
  from this machine's (another CPU's, or another kernel path's), with its drift bounds.

Each verdict is taken with the precision fingerprint lowered to a warning, so that "caught
by metrics" means the output's own metrics (pixels, audio) alone would have failed it. The
fingerprint, memory and stage-checkpoint columns say what the other gates see; the first
diverging stage is the verdict's own ("after the last checkpoint": only the decoded output
moved). *Margin* is how far past its threshold the most-separated
metric lies, as a ratio of distances (distance = 1 - ssim, MSE behind psnr, the value itself
for max_abs ...; > 1 fails). *x drift spread*: how many times the spread that
``regress calibrate --drift`` measured across kernel paths the flip moves the output (a flip
at 1x is indistinguishable from platform drift on metrics; only the fingerprint tells).
*Separability* per case: how many runnable flips the drift regime still catches on metrics
alone.

    python benchmarks/bench_detection.py [--suite goldens/suite.toml] [-k EXPR] [--markdown]

Run it under each kernel path (ONEDNN_MAX_CPU_ISA=..., ATEN_CPU_CAPABILITY=...); it names
the machine and the path it ran on. A flip that cannot run in diffusers is listed as such.
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import sys
from pathlib import Path
from typing import Any

DTYPES = ("fp32", "bf16", "fp16")


STAGE_METRICS = ("stage_cos", "stage_rel_l2")


def _outputs(metrics: dict[str, Any]) -> dict[str, Any]:
    """The metrics of the output tracks (pixels, audio), without the stage checkpoints'."""
    return {k: m for k, m in metrics.items() if k not in STAGE_METRICS}


def _margin(metrics: dict[str, Any]) -> float:
    from regress.bounds import distance as _distance

    best = 0.0
    for m in metrics.values():
        if m.threshold is None or m.value is None or not isinstance(m.value, (int, float)):
            continue
        if isinstance(m.value, float) and math.isnan(m.value):
            return math.inf
        d, t = _distance(m.name, float(m.value)), _distance(m.name, float(m.threshold))
        ratio = (math.inf if d > 0 else 0.0) if t <= 0 else d / t
        best = max(best, ratio)
    return best


def _over_spread(metrics: dict[str, Any], spread: dict[str, Any]) -> float | None:
    """How many times the measured drift spread the flip moves the output (the most-moved
    metric, as a ratio of distances); None when no spread was recorded."""
    from regress.bounds import distance as _distance

    best = None
    for m in metrics.values():
        s = spread.get(m.name)
        if s is None or m.value is None or isinstance(s, str) and s != "inf":
            continue
        s = float(s)
        d, ds = _distance(m.name, float(m.value)), _distance(m.name, s)
        ratio = (math.inf if d > 0 else 0.0) if ds <= 0 else d / ds
        best = ratio if best is None else max(best, ratio)
    return best


def _judge(session: Any, case: Any, *, golden_platform: str, golden_meta: dict[str, Any], golden_out: Any,
           result: Any, suite_warn: Any) -> Any:
    from regress.judge import Evidence, Subject, judge, thresholds_for
    from regress.metrics.compare import compare_outputs
    from regress.metrics.stages import stage_evidence
    from regress.numerics import compare
    from regress.stores.base import Golden

    numerics = compare(golden_meta.get("identity"), session.identity, same_key=golden_platform == session.platform,
                       golden_platform=golden_platform)
    th = thresholds_for(suite_warn, case, session.platform, golden_platform=golden_platform,
                        golden_meta=golden_meta, regime=numerics.regime)
    comp = compare_outputs(golden_out, result.output, device=session.device)
    stages, stage_values = stage_evidence(golden_out, result.output)
    golden = Golden(case.id, golden_platform, Path("golden"), dict(golden_meta))
    ev = Evidence(golden=golden, match="exact" if golden_platform == session.platform else "nearest",
                  numerics=numerics, comparison=comp, stages=stages, stage_values=stage_values)
    return judge(Subject.of_run(case, result), ev, th, platform=session.platform, suite=suite_warn, strict=False)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--suite", default="goldens/suite.toml")
    ap.add_argument("-k", dest="expr", default=None)
    ap.add_argument("--markdown", action="store_true", help="print the matrix as a Markdown table")
    args = ap.parse_args()

    from regress.numerics import probe_matches
    from regress.platform import parse_key, score
    from regress.runners import get_runner
    from regress.select import select
    from regress.session import GoldenSession, Options
    from regress.suite import load_suite

    suite = load_suite(args.suite)
    suite_warn = dataclasses.replace(suite, fingerprint="warn")
    session = GoldenSession(suite, Options(freeze_heap=True))
    ident = session.identity
    inst = ident.installed
    machine = inst.get("gpu.name") or inst.get("cpu.model")
    path = (f"oneDNN cap {inst.get('cpu.onednn_isa')}, ATen {inst.get('cpu.aten_capability')}"
            if "cpu.model" in inst else f"attention {inst.get('attention')}")
    print(f"machine: {machine}; platform {session.platform}; kernel path: {path}; probe {ident.digest}; "
          f"torch {inst.get('torch')}", flush=True)
    backend = parse_key(session.platform)[0]
    rows: list[dict[str, Any]] = []
    summary: list[str] = []
    for case in select(suite, args.expr, platform=session.platform):
        runner = get_runner(case.pipeline)
        default = session.precision_for(case)
        base = session.run(case)
        own_meta = {"precision": base.fingerprint, "perf": base.perf.to_json(), "identity": ident.to_json(),
                    "platform": {"versions": base.versions}}
        stand_in = None
        candidates = sorted((k for k in session.store.platforms(case.id)
                             if k.startswith(backend + "-") and score(session.platform, k) > 0),
                            key=lambda k: (-score(session.platform, k), k))
        for key in candidates:
            g = session.store.get(case.id, key)
            if g is not None and not probe_matches(g.meta.get("identity"), ident):
                stand_in = g
                break
        stand_out = stand_in.output() if stand_in is not None else None
        runnable = caught_drift = 0
        weakest: tuple[float, str] | None = None
        for comp in runner.default_precision:
            for dt in DTYPES:
                if dt == default[comp]:
                    continue
                flip = f"{comp} {default[comp]}->{dt}"
                row: dict[str, Any] = {"case": case.id, "flip": flip}
                try:
                    result = session.run(case, precision={comp: dt})
                except Exception as exc:  # noqa: BLE001 - a flip diffusers cannot run is a row of its own
                    row["error"] = str(exc).splitlines()[0].rsplit(": ", 1)[-1][:60]
                    rows.append(row)
                    continue
                runnable += 1
                ve = _judge(session, case, golden_platform=session.platform, golden_meta=own_meta,
                            golden_out=base.output, result=result, suite_warn=suite_warn)
                row["fingerprint"] = bool(ve.precision.get("changed"))
                row["memory"] = any(r.startswith("peak memory") for r in ve.reasons)
                row["exact"] = any(m.passed is False for m in _outputs(ve.metrics).values())
                row["exact_margin"] = _margin(_outputs(ve.metrics))
                row["stages"] = any(m.passed is False for k, m in ve.metrics.items() if k in STAGE_METRICS)
                row["first"] = next((r.split("(")[0].replace("first divergence: ", "").strip()
                                     for r in ve.reasons if r.startswith("first divergence")), "-")
                spread = ((stand_in.meta.get("drift") or {}).get("spread") or {}) if stand_in is not None else {}
                row["x_spread"] = _over_spread(_outputs(ve.metrics), spread)
                if stand_out is not None:
                    vd = _judge(session, case, golden_platform=stand_in.platform, golden_meta=stand_in.meta,
                                golden_out=stand_out, result=result, suite_warn=suite_warn)
                    # The drift regime's question: is this flip further from the golden than
                    # the default run is? The default run's own distance is platform drift.
                    row["drift"] = any(m.passed is False for m in _outputs(vd.metrics).values())
                    row["drift_margin"] = _margin(_outputs(vd.metrics))
                    row["drift_from"] = stand_in.platform
                    caught_drift += row["drift"]
                    if weakest is None or row["drift_margin"] < weakest[0]:
                        weakest = (row["drift_margin"], flip)
                rows.append(row)
            session.pipelines.release()
        line = f"{case.id}: {runnable} runnable flips"
        if stand_in is not None:
            line += (f"; drift regime (golden {stand_in.platform}): {caught_drift}/{runnable} caught on metrics alone"
                     + (f"; weakest {weakest[1]} at margin {weakest[0]:.3g}" if weakest else ""))
        else:
            line += "; no stand-in golden with another probe: drift regime not measured"
        summary.append(line)
        print(line, file=sys.stderr, flush=True)
    _print(rows, markdown=args.markdown)
    print("\nseparability per case (metrics alone, fingerprint lowered to a warning):")
    for line in summary:
        print("  " + line)
    return 0


def _yn(v: Any) -> str:
    return "-" if v is None else ("yes" if v else "no")


def _m(v: Any) -> str:
    return "-" if v is None else ("inf" if isinstance(v, float) and math.isinf(v) else f"{v:.3g}")


def _print(rows: list[dict[str, Any]], *, markdown: bool) -> None:
    head = ["case", "flip", "fingerprint", "memory (exact)", "stages (exact)", "first diverging stage",
            "metrics exact", "margin", "x drift spread", "metrics drift", "margin", "drift golden"]
    lines = []
    for r in rows:
        if "error" in r:
            lines.append([r["case"], r["flip"], "cannot run", "", "", "", "", "", "", "", "", r["error"]])
            continue
        lines.append([r["case"], r["flip"], _yn(r["fingerprint"]), _yn(r["memory"]), _yn(r["stages"]), r["first"],
                      _yn(r["exact"]),
                      _m(r["exact_margin"]), _m(r.get("x_spread")), _yn(r.get("drift")), _m(r.get("drift_margin")), r.get("drift_from", "-")])
    if markdown:
        print("| " + " | ".join(head) + " |")
        print("|" + "---|" * len(head))
        for ln in lines:
            print("| " + " | ".join(ln) + " |")
        return
    widths = [max(len(str(x)) for x in col) for col in zip(head, *lines, strict=True)]
    for ln in [head, *lines]:
        print("  ".join(str(x).ljust(w) for x, w in zip(ln, widths, strict=True)))


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    sys.exit(main())
