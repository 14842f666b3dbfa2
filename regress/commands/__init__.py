"""One module per ``regress`` subcommand: ``add_parser(sub, common)`` and ``run(args) -> int``."""

from __future__ import annotations

import argparse
from typing import Any


def add_runner_option(p: argparse.ArgumentParser) -> None:
    """For the commands that run or list cases: they load the project's runners as pytest
    does (:mod:`regress.project`), plus any named here."""
    p.add_argument("--runner", action="append", default=[], metavar="MODULE:OBJECT",
                   help="register this runner (besides those the project's conftest.py registers), "
                        "e.g. my_runner:MyRunner; repeatable")


def select_cases(suite: Any, expr: str | None, *, platform: Any, fixture_hint: bool = False) -> list[Any]:
    """The cases ``-k`` selects; selecting none is a usage error (exit 2) in every command.
    With ``fixture_hint``, an expression that names a test using the ``golden`` fixture says
    the command that makes that golden (pytest runs the test; the CLI cannot)."""
    from ..errors import RegressError
    from ..select import select

    cases = select(suite, expr, platform=platform)
    if cases:
        return cases
    if fixture_hint and expr:
        import shlex

        from ..project import fixture_tests

        try:
            found = fixture_tests(suite_path=suite.path)
        except RegressError:  # the tests do not collect: say what -k did select, below
            found = []
        tests = [t for t in found if expr in t.case_id or expr in t.nodeid]
        if tests:
            ids = " ".join(shlex.quote(t.nodeid) for t in tests)
            raise RegressError(f"-k {expr!r} names golden fixture test(s), which pytest runs: "
                               f"`pytest {ids} --golden-update=all`")
    known = ", ".join(c.id for c in suite.cases[:8]) + (", ..." if len(suite.cases) > 8 else "")
    raise RegressError(f"-k {expr!r} selects no case (cases: {known or 'none'})", file=suite.path)
