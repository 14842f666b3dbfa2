"""`regress compare A B`: two output files of the same kind, judged as a suite case would be.

The thresholds are layered exactly as for a case (:func:`regress.thresholds.resolve_thresholds`):
from the suite file when there is one (its defaults and the platform overlays matching this
machine), else from the suite a project without a suite file gets
(:func:`regress.suite.implicit_suite`: the starter thresholds `regress init` writes).
The one judging step (:func:`regress.judge.judge`) decides; each threshold is printed with
where it came from.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
from pathlib import Path
from typing import Any

from ..devices import add_device_option
from ..errors import EXIT_OK, EXIT_REGRESSION, RegressError


def add_parser(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser("compare", parents=[common], help="compare two output files of the same kind")
    p.add_argument("a", type=Path, help="the reference (the golden)")
    p.add_argument("b", type=Path, help="the output judged against it")
    p.add_argument("--json", action="store_true", help='print {"metrics": {...}, "passed": ..., "thresholds": ...}')
    add_device_option(p, default="cpu", help="torch device the metrics run on (default cpu)")
    p.add_argument("--platform", default=None,
                   help="platform key whose [platforms] overlays apply (default: this machine's, when the suite has any)")


def compare_suite(suite_path: Path) -> Any:
    """The suite whose thresholds judge the pair: the file, or (none there) a suite with
    regress's defaults, so that a pair is judged alike in and out of a repository."""
    from ..suite import implicit_suite, load_suite

    return load_suite(suite_path) if suite_path.exists() else implicit_suite(suite_path)


def run(args: argparse.Namespace) -> int:
    from ..judge import Evidence, Subject, judge
    from ..metrics.compare import compare_outputs
    from ..numerics import EXACT, Numerics
    from ..outputs import Output
    from ..stores.base import Golden
    from ..thresholds import OwnThresholds, resolve_thresholds
    from ..verdict import json_safe

    a, b = Output.from_file(args.a), Output.from_file(args.b)
    if a.kind != b.kind:
        raise RegressError(f"{args.a} is {a.kind} but {args.b} is {b.kind}: compare outputs of the same kind")
    comp = compare_outputs(a, b, device=args.device)
    if comp.mismatch:
        raise RegressError(f"{args.a} vs {args.b}: " + "; ".join(comp.mismatch))
    suite = compare_suite(args.suite)
    platform = args.platform or _platform(suite, args.device)
    where = str(args.suite) if args.suite.exists() else f"regress defaults: no suite at {args.suite}"
    th = {k: dataclasses.replace(t, source=f"{t.source} ({where})")
          for k, t in resolve_thresholds(suite, OwnThresholds({}), platform).items()}
    golden = Golden(case_id="compare", platform=platform, directory=args.a.parent, meta={})
    evidence = Evidence(golden=golden, match="exact", comparison=comp,
                        numerics=Numerics(EXACT, known=False, notes=("two files on this machine",)))
    verdict = judge(Subject(id="compare", output=b), evidence, th, platform=platform, suite=suite, strict=True)
    passed = verdict.status == "passed"
    if args.json:
        doc: dict[str, Any] = {"metrics": json_safe(comp.values), "passed": passed,
                               "thresholds": {k: {"value": t.value, "source": t.source} for k, t in th.items()}}
        if comp.worst_frame is not None:
            doc["worst_frame"] = comp.worst_frame
        print(json.dumps(doc, indent=2))
    else:
        for m in verdict.metrics.values():
            flag = "FAIL" if m.passed is False else "ok  "
            print(f"{flag} {m.line()}" + (f"  [{m.source}]" if m.source else ""))
        for reason in verdict.reasons:
            if not reason.startswith(tuple(m.name for m in verdict.metrics.values())):
                print(f"FAIL {reason}")
        print("passed" if passed else "regression")
    return EXIT_OK if passed else EXIT_REGRESSION


def _platform(suite: Any, device: str) -> str:
    """This machine's key where the suite has platform overlays to match; else a neutral one."""
    if not suite.platforms:
        return "cpu-default"
    from ..platform import detect

    return detect(device).key
