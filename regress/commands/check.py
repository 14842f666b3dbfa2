"""`regress check`: validate the suite, the lock and the store's pin; list unused goldens."""

from __future__ import annotations

import argparse

from ..errors import EXIT_OK


def add_parser(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    sub.add_parser("check", parents=[common], help="validate the suite, the lock and the store's pin")


def run(args: argparse.Namespace) -> int:
    from ..runners import get_runner
    from ..session import GoldenSession
    from ..stores import open_store
    from ..suite import load_suite

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
