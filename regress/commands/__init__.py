"""One module per ``regress`` subcommand: ``add_parser(sub, common)`` and ``run(args) -> int``."""

from __future__ import annotations

import argparse


def add_runner_option(p: argparse.ArgumentParser) -> None:
    """For the commands that run or list cases: they load the project's runners as pytest
    does (:mod:`regress.project`), plus any named here."""
    p.add_argument("--runner", action="append", default=[], metavar="MODULE:OBJECT",
                   help="register this runner (besides those the project's conftest.py registers), "
                        "e.g. my_runner:MyRunner; repeatable")
