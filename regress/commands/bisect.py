"""`regress bisect CASE`: which difference from the golden makes a failing case fail."""

from __future__ import annotations

import argparse
import json
import sys

from . import add_runner_option
from ..devices import add_device_option
from ..errors import EXIT_OK, EXIT_REGRESSION


def add_parser(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser("bisect", parents=[common],
                       help="revert each difference from the golden (dtypes, backend settings) to find the cause")
    add_runner_option(p)
    p.add_argument("case", help="case id")
    p.add_argument("--precision", action="append", default=[], metavar="COMPONENT=DTYPE",
                   help="run the case with this override (the failing run's --golden-precision); repeatable")
    p.add_argument("--platform", default=None, help="judge against the goldens of this platform key")
    add_device_option(p)
    p.add_argument("--exact", action="store_true",
                   help="judge in the exact regime even where the kernel probe differs: find what moved the output "
                        "at all (e.g. TF32 or an attention backend), not only what fails it beyond platform drift")
    p.add_argument("--json", action="store_true", help="print the bisection as JSON")


def run(args: argparse.Namespace) -> int:
    from .. import kernels
    from ..bisect import bisect, table_lines
    from ..precision import parse_overrides
    from ..session import GoldenSession, Options
    from ..suite import load_suite

    suite = load_suite(args.suite)
    precision = parse_overrides(args.precision)
    kernels.from_env()  # validated before anything runs (REGRESS_KERNELS: the failing run's settings)
    session = GoldenSession(suite, Options(platform=args.platform, device=args.device, precision=precision,
                                           exact=args.exact,
                                           freeze_heap=True))
    case = suite.case(args.case)

    def announce() -> None:
        print(f"bisecting {case.id} on {session.platform}: each difference from the golden reverted in turn",
              file=sys.stderr)

    try:
        result = bisect(session, case, announce=announce)
    finally:
        session.close()
    if result.baseline.status == "error" and not result.cause:
        # The failing run itself does not run here (a runner that raises): no table to read.
        print(f"regress: bisect {case.id}: the case does not run here: {result.baseline.line}", file=sys.stderr)
        return EXIT_REGRESSION
    if args.json:
        print(json.dumps(result.to_json(), indent=2))
    else:
        for line in table_lines(result):
            print(line)
    return EXIT_OK if result.cause or result.baseline.restored else EXIT_REGRESSION
