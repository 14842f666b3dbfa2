"""`regress compare A B`: two output files of the same kind, judged with the suite's defaults."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from ..errors import EXIT_OK, EXIT_REGRESSION, RegressError

DEFAULT_THRESHOLDS = {"ssim": 0.98, "psnr": 35.0}  # without a suite file


def add_parser(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser("compare", parents=[common], help="compare two output files of the same kind")
    p.add_argument("a", type=Path)
    p.add_argument("b", type=Path)
    p.add_argument("--json", action="store_true", help='print {"metrics": {...}, "passed": ...}')
    p.add_argument("--device", default="cpu")

def _compare_thresholds(suite_path: Path) -> tuple[dict[str, float], str]:
    from ..suite import load_suite

    if suite_path.exists():
        suite = load_suite(suite_path)
        return dict(suite.defaults), f"suite default ({suite_path})"
    return dict(DEFAULT_THRESHOLDS), "regress default"


def run(args: argparse.Namespace) -> int:
    from ..metrics.catalog import WORST_OF
    from ..metrics.compare import compare_outputs
    from ..outputs import Output
    from ..verdict import Threshold, judge_metrics

    a, b = Output.from_file(args.a), Output.from_file(args.b)
    if a.kind != b.kind:
        raise RegressError(f"{args.a} is {a.kind} but {args.b} is {b.kind}: compare outputs of the same kind")
    comp = compare_outputs(a, b, device=args.device)
    if comp.mismatch:
        raise RegressError(f"{args.a} vs {args.b}: " + "; ".join(comp.mismatch))
    values, source = _compare_thresholds(args.suite)
    th = {k: Threshold(v, source) for k, v in values.items()}
    for worst, mean in WORST_OF.items():
        if worst not in th and mean in th:
            th[worst] = th[mean]
    results = judge_metrics(comp.values, th)
    passed = all(m.passed is not False for m in results.values())
    if args.json:
        from ..verdict import _json_safe

        doc: dict[str, Any] = {"metrics": _json_safe(comp.values), "passed": passed,
                               "thresholds": {k: {"value": t.value, "source": t.source} for k, t in th.items()}}
        if comp.worst_frame is not None:
            doc["worst_frame"] = comp.worst_frame
        print(json.dumps(doc, indent=2))
    else:
        for m in results.values():
            flag = "FAIL" if m.passed is False else "ok  "
            print(f"{flag} {m.line()}")
        print("passed" if passed else "regression")
    return EXIT_OK if passed else EXIT_REGRESSION
