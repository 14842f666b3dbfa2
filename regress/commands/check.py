"""`regress check`: validate the suite, the lock and the store's pin; list unused goldens.

A golden is used when a case of the suite, or a test that uses the ``golden`` fixture (found
by collecting the project with pytest), files under its id."""

from __future__ import annotations

import argparse

from ..env import in_ci
from . import add_runner_option
from ..errors import EXIT_OK, EXIT_REGRESSION


def add_parser(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser("check", parents=[common], help="validate the suite, the lock and the store's pin")
    add_runner_option(p)
    p.add_argument("--unused", action="store_true",
                   help="list, per platform, goldens in the pinned revision that no case and no test using the "
                        "golden fixture (as pytest collects them) refers to (exit 1 if any)")


def run(args: argparse.Namespace) -> int:
    from ..project import fixture_tests
    from ..runners import get_runner
    from ..session import GoldenSession
    from ..stores import open_store
    from ..suite import load_suite

    suite = load_suite(args.suite)
    store = open_store(suite, strict=in_ci())
    session = GoldenSession(suite, store=store)
    for case in suite.cases:
        get_runner(case.pipeline)
        session.precision_for(case)
    used = {c.id for c in suite.cases}
    goldens = store.entries()
    fixture = {t.case_id for t in fixture_tests(suite_path=suite.path)} if args.unused else set()
    unused = sorted({(c, p) for c, p in goldens if c not in used | fixture and _base_id(c) not in fixture})
    tests = f", {len(fixture)} golden fixture test(s)" if fixture else ""
    print(f"{suite.path}: {len(suite.cases)} cases{tests}, {len(goldens)} goldens, store {suite.store.kind} at "
          f"{store.revision}")
    if not args.unused:
        for c, p in unused:
            print(f"  unused golden: {c} [{p}]")
        return EXIT_OK
    by_platform: dict[str, list[str]] = {}
    for c, p in unused:
        by_platform.setdefault(p, []).append(c)
    if not by_platform:
        print("no unused goldens")
        return EXIT_OK
    print(f"{len(unused)} unused golden(s) (cases/<id>/<platform>/ that no case of the suite refers to):")
    for p, ids in sorted(by_platform.items()):
        print(f"  {p}: {', '.join(ids)}")
    return EXIT_REGRESSION


def _base_id(case_id: str) -> str:
    """The fixture id of a later ``golden.check`` call's golden (``<id>.2``, ``<id>.3``...: see
    :class:`regress.fixture.GoldenCheck`), or ``case_id`` itself."""
    base, sep, index = case_id.rpartition(".")
    return base if sep and index.isdigit() and int(index) >= 2 else case_id
