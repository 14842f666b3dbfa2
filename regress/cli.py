"""``regress`` command line: a thin shell over :mod:`regress.session` and friends.

Each command lives in ``regress/commands/<name>.py`` with ``add_parser`` and ``run``; this
module only dispatches. Exit codes (docs/reference.md): 0 ok, 1 regression (or a refresh that
published nothing because a case did not run, was refused, or the publish failed), 2 bad input
or usage, 130 interrupted. Bad input is one line on stderr, never a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence
from pathlib import Path

from .errors import EXIT_USAGE, RegressError
from .kernels import cap_onednn_beside_aten

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
    cap_onednn_beside_aten()  # before torch's first op (regress.kernels)
    lock = _lock_of(args)
    pinned = _read(lock)
    try:
        if hasattr(args, "runner"):
            from .project import load_runners

            load_runners(suite_path=args.suite, runner_refs=args.runner)
        return int(importlib.import_module(f"regress.commands.{args.command}").run(args))
    except RegressError as exc:
        print(f"regress: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print(f"regress: interrupted; {_published_line(lock, pinned)}", file=sys.stderr)
        return 130


def _lock_of(args: argparse.Namespace) -> Path | None:
    from .suite import LOCK_NAME

    suite = getattr(args, "suite", None)
    return Path(suite).parent / LOCK_NAME if suite is not None else None


def _read(path: Path | None) -> bytes | None:
    """The lock's bytes (a lock is small: more than 64 KiB is read no further), or None."""
    try:
        if path is None or not path.is_file():
            return None
        with path.open("rb") as f:
            return f.read(64 * 1024 + 1)
    except OSError:
        return None


def _published_line(lock: Path | None, before: bytes | None) -> str:
    """What an interrupted command published, told from the lock (the commit point of every
    publish: a store's files count only once the lock pins them): the lock it moved and what
    it pins now, or that nothing was published. Why not a fixed "nothing was published": the
    interrupt can come after a publish (while the command prints, or between two publishes)."""
    after = _read(lock)
    if lock is None or after == before:
        return "nothing was published (the lock did not move)"
    from .lock import read_lock

    try:
        pinned = read_lock(lock)
        revision = pinned.revision if pinned is not None else "nothing"
    except Exception:  # noqa: BLE001 - the line must still be said
        revision = "a new revision"
    return f"goldens were published before the interrupt: {lock} now pins {revision}"


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
