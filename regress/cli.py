"""``regress`` command line: a thin shell over :mod:`regress.session` and friends.

Exit codes: 0 ok, 1 regression (or a refresh that published nothing), 2 bad input or usage.
Bad input is one line on stderr, never a traceback.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .errors import EXIT_OK, EXIT_REGRESSION, EXIT_USAGE, RegressError

DEFAULT_THRESHOLDS = {"ssim": 0.98, "psnr": 35.0}  # `regress compare` without a suite file


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # argparse exits 2 too; keep it to one line
        self.exit(EXIT_USAGE, f"regress: {message}\n")


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--suite", default="goldens/suite.toml", type=Path, help="suite file (default goldens/suite.toml)")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="regress", description="Golden-output regression testing for diffusion pipelines.")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    p = sub.add_parser("env", help="platform key, versions and devices")
    _common(p)
    p.add_argument("--device", default=None)
    p.add_argument("--json", action="store_true")

    p = sub.add_parser("check", help="validate the suite, the lock and the store's pin")
    _common(p)

    p = sub.add_parser("compare", help="compare two output files of the same kind")
    _common(p)
    p.add_argument("a", type=Path)
    p.add_argument("b", type=Path)
    p.add_argument("--json", action="store_true", help='print {"metrics": {...}, "passed": ...}')
    p.add_argument("--device", default="cpu")

    p = sub.add_parser("refresh", help="regenerate goldens on this platform and rewrite the lock")
    _common(p)
    p.add_argument("-k", dest="expr", default=None, help="select cases (substring of id, marks, and/or/not)")
    p.add_argument("--only", choices=("missing", "failed", "all"), default="all",
                   help="which of the selected cases to regenerate (default all)")
    p.add_argument("--platform", default=None, help="file goldens under this key instead of the detected one")
    p.add_argument("--device", default=None)
    p.add_argument("--precision", action="append", default=[], metavar="COMPONENT=DTYPE")
    p.add_argument("--force", action="store_true", help="publish outputs that fail the quality gate")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(_COMMANDS[args.command](args))
    except RegressError as exc:
        print(f"regress: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("regress: interrupted; nothing was published", file=sys.stderr)
        return 130


# ---------------------------------------------------------------------- commands

def cmd_env(args: argparse.Namespace) -> int:
    from .platform import detect

    info = detect(args.device or None)
    doc = info.to_json()
    try:
        import torch

        doc["devices"] = [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
        doc["cpu_threads"] = torch.get_num_threads()
    except Exception:  # pragma: no cover - torch missing is reported by detect already
        pass
    if args.json:
        print(json.dumps(doc, indent=2))
        return EXIT_OK
    from rich.console import Console

    c = Console()
    c.print(f"platform  [bold]{info.key}[/]  ({info.device_name})")
    for k, v in info.versions.items():
        c.print(f"  {k:<10} {v}")
    c.print(f"  devices    {', '.join(doc.get('devices') or ['cpu'])}")
    return EXIT_OK


def cmd_check(args: argparse.Namespace) -> int:
    from .runners import get_runner
    from .session import GoldenSession
    from .stores import open_store
    from .suite import load_suite

    suite = load_suite(args.suite)
    store = open_store(suite)
    session = GoldenSession(suite, store=store)
    for case in suite.cases:
        get_runner(case.pipeline)
        session.precision_for(case)
    used = {c.id for c in suite.cases}
    goldens = store.entries()
    unused = sorted({(c, p) for c, p in goldens if c not in used})
    print(f"{suite.path}: {len(suite.cases)} cases, {len(goldens)} goldens, store {suite.store.kind} at "
          f"{store.revision}")
    for c, p in unused:
        print(f"  unused golden: {c} [{p}]")
    return EXIT_OK


def _compare_thresholds(suite_path: Path) -> tuple[dict[str, float], str]:
    from .suite import load_suite

    if suite_path.exists():
        suite = load_suite(suite_path)
        return dict(suite.defaults), f"suite default ({suite_path})"
    return dict(DEFAULT_THRESHOLDS), "regress default"


def cmd_compare(args: argparse.Namespace) -> int:
    from .metrics.catalog import WORST_OF
    from .metrics.compare import compare_outputs
    from .outputs import Output
    from .verdict import Threshold, judge_metrics

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
        from .verdict import _json_safe

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


def cmd_refresh(args: argparse.Namespace) -> int:
    from rich.console import Console

    from .precision import parse_override
    from .refresh import RefreshError, refresh
    from .session import GoldenSession, Options
    from .suite import load_suite

    suite = load_suite(args.suite)
    try:
        precision = dict(parse_override(t) for t in args.precision)
    except ValueError as exc:
        raise RegressError(f"--precision: {exc}") from None
    opts = Options(platform=args.platform, device=args.device, update=args.only, precision=precision,
                   force=args.force)
    session = GoldenSession(suite, opts)
    cases = suite.select(args.expr)
    console = Console(stderr=True)
    with console.status(f"refreshing {len(cases)} case(s) on {session.platform}") as status:
        def progress(case: Any, verdict: Any) -> None:
            status.update(f"{case.id}: {verdict.status}")
            console.print(f"  {case.id} [{verdict.platform}] {verdict.status}", markup=False, highlight=False)

        try:
            result = refresh(session, cases, progress=progress)
        except RefreshError as exc:
            status.stop()
            print(f"regress: {exc}", file=sys.stderr)
            return EXIT_REGRESSION
    if result.written:
        console.print(f"wrote {len(result.written)} golden(s): {', '.join(result.written)}; "
                      f"{suite.lock_path} pins {result.revision}", markup=False, soft_wrap=True)
    else:
        console.print("nothing to refresh: every selected case has an up-to-date golden")
    return EXIT_OK


_COMMANDS = {"env": cmd_env, "check": cmd_check, "compare": cmd_compare, "refresh": cmd_refresh}

if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
