"""``regress`` command line: a thin shell over :mod:`regress.session` and friends.

Each command lives in ``regress/commands/<name>.py`` with ``add_parser`` and ``run``; this
module only dispatches. Exit codes: 0 ok, 1 regression (or a refresh that published
nothing), 2 bad input or usage. Bad input is one line on stderr, never a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence
from pathlib import Path

from .errors import EXIT_USAGE, RegressError

# Order is the order of `regress --help`.
COMMANDS = ("init", "env", "check", "compare", "fetch", "pin", "refresh", "calibrate", "sweep", "bisect", "ab", "adopt", "lpips",
            "report", "shard")


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # argparse exits 2 too; keep it to one line
        self.exit(EXIT_USAGE, f"regress: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--suite", default="goldens/suite.toml", type=Path,
                        help="suite file (default goldens/suite.toml; the lock sits beside it)")
    parser = _Parser(prog="regress", description="Golden-output regression testing for diffusion pipelines.")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    for name in COMMANDS:
        importlib.import_module(f"regress.commands.{name}").add_parser(sub, common)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        if hasattr(args, "runner"):
            from .project import load_runners

            load_runners(suite_path=args.suite, runner_refs=args.runner)
        return int(importlib.import_module(f"regress.commands.{args.command}").run(args))
    except RegressError as exc:
        print(f"regress: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("regress: interrupted; nothing was published", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
