"""`regress adopt`: this machine's passing drift-regime outputs become its references (regress.references)."""

from __future__ import annotations

import argparse
import sys

from ..devices import add_device_option
from ..errors import EXIT_OK, EXIT_REGRESSION
from ..select import K_HELP
from . import add_runner_option, select_cases


def add_parser(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser("adopt", parents=[common],
                       help="run the cases here, judge them against the reviewed goldens with drift bounds, and "
                            "publish those that pass as this machine's references (one commit): later runs on "
                            "this numerics identity are judged exactly")
    add_runner_option(p)
    p.add_argument("-k", dest="expr", default=None, help=K_HELP)
    add_device_option(p)


def run(args: argparse.Namespace) -> int:
    from ..references import publish as publish_references
    from ..references import refuse_dirty
    from ..session import GoldenSession, Options
    from ..suite import load_suite

    suite = load_suite(args.suite)
    refuse_dirty(suite.path.parent)
    session = GoldenSession(suite, Options(device=args.device, strict=True, adopt=True, freeze_heap=True))
    cases = select_cases(suite, args.expr, platform=lambda: session.platform)
    failed = []
    for case in cases:
        v = session.check(case).verdict
        how = ("exact already" if (v.numerics or {}).get("regime") == "exact"
               else "judged against its reference" if v.reference
               else "to adopt" if any(s.id == case.id for s, _, _ in session.adoptable) else "")
        print(f"  {case.id} [{v.platform}] {v.status}" + (f" ({how})" if how else ""), file=sys.stderr)
        if v.failed:
            failed.append(v)
            print(f"    {v.message()}", file=sys.stderr)
    try:
        ids, revision = publish_references(session)
    finally:
        session.close()
    if ids:
        from ..references import commit_hint

        print(f"adopted {len(ids)} reference(s) for numerics identity {session.identity.digest} on "
              f"{session.platform}: {', '.join(ids)}; {suite.lock_path} pins {revision}{commit_hint(suite)}")
    else:
        print("nothing to adopt: every selected case is judged exactly here, has a reference, or failed")
    if failed:
        print(f"regress: {len(failed)} case(s) not adopted: they fail against their reviewed golden", file=sys.stderr)
        return EXIT_REGRESSION
    return EXIT_OK
