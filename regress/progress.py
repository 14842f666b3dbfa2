"""Progress for long CLI work: a rich progress bar on a terminal, one plain line per step in
a log (CI, a pipe), where a redrawn bar would be noise. Always on stderr, so that stdout keeps
only the result (a table, JSON)."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TextIO

Update = Callable[[int, int, str], None]  # (steps done, steps in all, the step starting now)


@contextmanager
def steps(what: str, *, stream: TextIO | None = None) -> Iterator[Update]:
    """``with steps("sweep sd-tiny") as update: update(i, n, "vae=bf16")`` before each step."""
    out = stream or sys.stderr
    if not out.isatty():
        def line(done: int, total: int, label: str) -> None:
            print(f"{what} [{done + 1}/{total}] {label}", file=out, flush=True)

        yield line
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  console=Console(file=out), transient=True) as bar:
        task = bar.add_task(what, total=None)

        def advance(done: int, total: int, label: str) -> None:
            bar.update(task, completed=done, total=total, description=f"{what}: {label}")

        yield advance
