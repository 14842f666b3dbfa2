"""`regress refresh`: regenerate goldens on this platform, gate, publish, bump the lock."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from ..devices import add_device_option
from ..modes import PUBLISH_TARGETS, REFRESH_MODES
from ..select import K_HELP
from . import add_runner_option, select_cases
from ..errors import EXIT_OK, EXIT_REGRESSION


def add_parser(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser("refresh", parents=[common], help="regenerate goldens on this platform and rewrite the lock")
    add_runner_option(p)
    p.add_argument("-k", dest="expr", default=None, help=K_HELP)
    p.add_argument("--only", choices=REFRESH_MODES, default="all",
                   help="which of the selected cases to regenerate (default all)")
    p.add_argument("--platform", default=None, help="file goldens under this key instead of the detected one")
    add_device_option(p)
    p.add_argument("--precision", action="append", default=[], metavar="COMPONENT=DTYPE")
    p.add_argument("--force", action="store_true",
                   help="publish outputs that fail the quality gate (blank, constant, NaN, noise, drift cap)")
    p.add_argument("--replace-other-machine", action="store_true",
                   help="replace goldens of this platform key that another machine made (refused by default: "
                        "refresh them on that machine)")
    p.add_argument("--publish", choices=PUBLISH_TARGETS, default=None,
                   help="Hub stores: commit through the Hub API or git (default: 'git' for kind = \"git\", else 'hub')")
    p.add_argument("--create-pr", action="store_true", help="Hub stores: publish as a Hub pull request")
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--stage", type=Path, default=None, metavar="DIR",
                      help="regenerate and gate, then write the goldens under DIR instead of publishing "
                           "(one platform's part of a multi-platform refresh)")
    mode.add_argument("--staged", type=Path, nargs="+", default=None, metavar="DIR",
                      help="publish goldens staged by --stage on one or more platforms as ONE commit; runs nothing")


def run(args: argparse.Namespace) -> int:
    from rich.console import Console

    from ..precision import parse_overrides
    from ..refresh import RefreshError, publish_staged, refresh, stage
    from ..session import GoldenSession, Options
    from ..suite import load_suite

    suite = load_suite(args.suite)
    precision = parse_overrides(args.precision)
    opts = Options(platform=args.platform, device=args.device, update=args.only, precision=precision,
                   force=args.force, publish=args.publish, create_pr=args.create_pr, freeze_heap=True,
                   replace_other_machine=args.replace_other_machine)
    session = GoldenSession(suite, opts)
    console = Console(stderr=True)
    if args.staged:
        try:
            result = publish_staged(session, args.staged)
        except RefreshError as exc:
            print(f"regress: {exc}", file=sys.stderr)
            return EXIT_REGRESSION
        console.print(f"published {len(result.written)} golden(s): {', '.join(result.written)}; "
                      f"{suite.lock_path} pins {result.revision}", markup=False, soft_wrap=True)
        return EXIT_OK
    cases = select_cases(suite, args.expr, platform=lambda: session.platform, fixture_hint=True)
    with console.status(f"refreshing {len(cases)} case(s) on {session.platform}") as status:
        def progress(case: Any, verdict: Any) -> None:
            status.update(f"{case.id}: {verdict.status}")
            console.print(f"  {case.id} [{verdict.platform}] {verdict.status}", markup=False, highlight=False)

        try:
            if args.stage is not None:
                result = stage(session, cases, args.stage, progress=progress)
            else:
                result = refresh(session, cases, progress=progress)
        except RefreshError as exc:
            status.stop()
            print(f"regress: {exc}", file=sys.stderr)
            return EXIT_REGRESSION
    if args.stage is not None:
        console.print(f"staged {len(result.written)} golden(s) under {args.stage}; publish them with "
                      f"`regress refresh --staged {args.stage} ...`", markup=False, soft_wrap=True)
        return EXIT_OK
    if result.written:
        console.print(f"wrote {len(result.written)} golden(s): {', '.join(result.written)}; "
                      f"{suite.lock_path} pins {result.revision}", markup=False, soft_wrap=True)
        last = session.store.last_publish
        if last is not None and last.url:
            console.print(f"review: {last.url}", markup=False, soft_wrap=True)
    same = [v.id for v in result.verdicts if any(w.startswith("bit-identical to its golden") for w in v.warnings)]
    if same:
        console.print(f"bit-identical to their goldens, not republished (calibration kept): {', '.join(same)}",
                      markup=False, soft_wrap=True)
    failing = [v for v in result.verdicts if v.failed]
    if failing:  # --only missing: a failing case is left as it was, and is a regression (exit 1)
        console.print(f"{len(failing)} selected case(s) fail and were not regenerated (--only {args.only}): "
                      f"{', '.join(v.id for v in failing)}", markup=False, soft_wrap=True)
        return EXIT_REGRESSION
    if not result.written:
        console.print("nothing to refresh: every selected case has an up-to-date golden")
    return EXIT_OK
