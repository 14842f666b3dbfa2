"""`regress ab BASE`: A/B a change on this machine, BASE against the working tree (regress.abrun)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..devices import add_device_option
from ..errors import EXIT_OK, EXIT_REGRESSION
from ..select import K_HELP


def add_parser(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser("ab", parents=[common],
                       help="run BASE (a git revision) and the working tree on this machine; judge the working tree "
                            "exactly against BASE and print the change's impact table")
    p.add_argument("base", metavar="BASE", help="a git revision: HEAD~1, main, a sha")
    p.add_argument("-k", dest="expr", default=None, help=K_HELP)
    p.add_argument("--report", type=Path, default=Path("ab-report"),
                   help="where the head's report, impact.md and both runs' logs go (default ab-report)")
    add_device_option(p, help="run both revisions on this torch device (default: cuda if available)")
    p.add_argument("--no-cache", action="store_true",
                   help="run BASE again even if its run on this machine is cached")


def run(args: argparse.Namespace) -> int:
    from ..abrun import resolve, run_ab
    from ..suite import load_suite
    from . import select_cases

    resolve(args.base, suite=args.suite)  # one line, before anything runs
    suite = load_suite(args.suite)
    if args.expr:  # the working tree's selection (BASE's is checked when it runs)
        select_cases(suite, args.expr, platform=lambda: _platform(args.device))
    print(f"regress: running {args.base} in a worktree, then the working tree, on this machine ...", file=sys.stderr)
    result = run_ab(args.base, suite=args.suite, expr=args.expr, report=args.report, device=args.device,
                    cache=not args.no_cache)
    print(f"base {result.base[:12]}{' (its run on this machine was cached)' if result.cached else ''}; "
          f"report {result.report}", file=sys.stderr)
    print(result.impact, end="")
    if result.head_exit not in (0, 1):
        print(f"regress: the working tree's run ended with pytest exit {result.head_exit} "
              f"(see {result.report / 'head.log'})", file=sys.stderr)
        return EXIT_REGRESSION
    return EXIT_REGRESSION if result.failed else EXIT_OK


def _platform(device: str | None) -> str:
    """This machine's key, for a -k expression that names one (imports torch only then)."""
    from ..platform import detect

    return detect(device).key
