"""Errors that users act on.

Every error regress raises for bad input is a :class:`RegressError` whose ``str()`` is one
line naming where the problem is (file, case id, field) and what to do. The CLI turns them
into exit code 2 without a traceback; the pytest plugin turns them into a collection error
with the same line.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from .env import TOKEN_VARS

EXIT_OK = 0
EXIT_REGRESSION = 1
EXIT_USAGE = 2


# What must never reach a log, results.json or a report: credentials in URLs, Hugging Face
# tokens, and the values of the token variables themselves.
_URL_USERINFO = re.compile(r"(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*://)[^/\s@]+@")
_HF_TOKEN = re.compile(r"\bhf_[A-Za-z0-9]{16,}\b")


def redact(text: str) -> str:
    """``text`` with secrets replaced by ``***``: URL credentials (``https://user:token@host``),
    anything shaped like a Hugging Face token, and the value of every token variable set in
    this process. Applied to every message regress shows (:class:`RegressError` does it)."""
    text = _URL_USERINFO.sub(lambda m: m.group("scheme") + "***@", text)
    text = _HF_TOKEN.sub("hf_***", text)
    for var in TOKEN_VARS:
        value = os.environ.get(var, "").strip()
        if len(value) >= 8 and value in text:
            text = text.replace(value, "***")
    return text


class RegressError(Exception):
    """Bad input or environment: a one-line, actionable message (exit code 2)."""

    def __init__(self, message: str, *, file: str | Path | None = None, case: str | None = None,
                 field: str | None = None) -> None:
        self.file = str(file) if file is not None else None
        self.case = case
        self.field = field
        self.detail = redact(message)
        super().__init__(self._line())

    def _line(self) -> str:
        where = []
        if self.file:
            where.append(self.file)
        if self.case:
            where.append(f"case '{self.case}'")
        if self.field:
            where.append(f"field '{self.field}'")
        prefix = redact(": ".join(where))
        return f"{prefix}: {self.detail}" if prefix else self.detail


class SuiteError(RegressError):
    """The suite file or the lock is invalid."""


class StoreError(RegressError):
    """The golden store is unreadable, does not match its pin, or cannot be written."""


class RunnerError(RegressError):
    """A runner could not be found, built, or returned something that is not an Output."""


class OutputError(RegressError):
    """An output file is unreadable or two outputs cannot be compared."""


def one_line(exc: BaseException) -> str:
    """A case's error as one line: regress's own message, or the exception's type and first
    line (a runner's traceback belongs in its own logs, not in results.json)."""
    if isinstance(exc, RegressError):
        return str(exc)
    first = (str(exc).strip().splitlines() or [""])[0][:300]
    return f"the runner raised {type(exc).__name__}" + (f": {first}" if first else "")
