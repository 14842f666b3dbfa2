"""Errors that users act on.

Every error regress raises for bad input is a :class:`RegressError` whose ``str()`` is one
line naming where the problem is (file, case id, field) and what to do. The CLI turns them
into exit code 2 without a traceback; the pytest plugin turns them into a collection error
with the same line.
"""

from __future__ import annotations

from pathlib import Path

EXIT_OK = 0
EXIT_REGRESSION = 1
EXIT_USAGE = 2


class RegressError(Exception):
    """Bad input or environment: a one-line, actionable message (exit code 2)."""

    def __init__(self, message: str, *, file: str | Path | None = None, case: str | None = None,
                 field: str | None = None) -> None:
        self.file = str(file) if file is not None else None
        self.case = case
        self.field = field
        self.detail = message
        super().__init__(self._line())

    def _line(self) -> str:
        where = []
        if self.file:
            where.append(self.file)
        if self.case:
            where.append(f"case '{self.case}'")
        if self.field:
            where.append(f"field '{self.field}'")
        prefix = ": ".join(where)
        return f"{prefix}: {self.detail}" if prefix else self.detail


class SuiteError(RegressError):
    """The suite file or the lock is invalid."""


class StoreError(RegressError):
    """The golden store is unreadable, does not match its pin, or cannot be written."""


class RunnerError(RegressError):
    """A runner could not be found, built, or returned something that is not an Output."""


class OutputError(RegressError):
    """An output file is unreadable or two outputs cannot be compared."""
