"""The outcome of one case on one platform, and the one rule that says whether it is a failure.

Every reader of an outcome (the pytest plugin, ``results.json``, ``report merge``, the GitHub
annotations and job summary, the HTML page) asks :func:`is_failure` here, so that an
``xfailed`` case, for example, can never be counted as a failure by one of them and not by
another.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from enum import Enum
from typing import Any


class Status(str, Enum):
    """A case's status. A ``str`` subclass: it compares equal to, and is written to JSON as,
    its value (``Status.FAILED == "failed"``), so results.json stays plain strings."""

    ERROR = "error"  # the case could not run or be judged
    FAILED = "failed"  # judged, and a gate failed
    MISSING = "missing"  # no golden (a failure under --golden-strict: the verdict then has reasons)
    WRITTEN = "written"  # a golden was written by --golden-update / regress refresh
    XFAILED = "xfailed"  # failed, and pytest expected it to (an xfail rule or mark): not a failure
    SKIPPED = "skipped"  # the suite skips the case on this platform
    PASSED = "passed"

    def __str__(self) -> str:
        return self.value


# Lower ranks first: what needs a reader's attention leads (every view sorts by this).
RANK: dict[str, int] = {s.value: i for i, s in enumerate(Status)}
STATUSES: tuple[str, ...] = tuple(s.value for s in Status)


def is_failure(status: str, reasons: Iterable[Any] | None = None) -> bool:
    """Failed, error, or missing with reasons (a missing golden under --golden-strict).
    ``xfailed`` is never a failure: pytest expected it."""
    return status in (Status.FAILED, Status.ERROR) or (status == Status.MISSING and bool(reasons))


def record_is_failure(record: Mapping[str, Any]) -> bool:
    """:func:`is_failure` of a results.json case record."""
    return is_failure(record["status"], record.get("reasons"))


def rank(status: str) -> int:
    return RANK.get(status, len(RANK))
