"""Refresh: regenerate the selected goldens on this platform, gate them, publish as one change.

All cases run first; only when every one of them ran and passed the quality gate is anything
written, and the store then publishes files and lock together (all or nothing). A refresh
that fails at any step leaves the store and the lock as they were.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from .errors import RegressError
from .session import GoldenSession
from .suite import Case
from .verdict import ERROR, Verdict

REFRESH_MODES = ("missing", "failed", "all")


class RefreshError(RegressError):
    """A refresh stopped before publishing; nothing was changed."""


@dataclass
class RefreshResult:
    revision: str | None
    written: list[str] = field(default_factory=list)
    verdicts: list[Verdict] = field(default_factory=list)


def refresh(session: GoldenSession, cases: list[Case], *,
            progress: Callable[[Case, Verdict], None] | None = None) -> RefreshResult:
    """Run ``cases`` under ``session.options.update`` and publish what it stages."""
    if session.options.update not in REFRESH_MODES:
        raise RefreshError(f"refresh mode must be one of {', '.join(REFRESH_MODES)}")
    if not cases:
        raise RefreshError("no case selected (check -k)")
    verdicts = []
    for case in cases:
        v = session.check(case).verdict
        verdicts.append(v)
        if progress:
            progress(case, v)
    errors = [v for v in verdicts if v.status == ERROR]
    if errors:
        session.staged.clear()
        raise RefreshError(f"{len(errors)} case(s) did not run, nothing published: " + errors[0].message())
    if session.gate_refusals:
        session.staged.clear()
        raise RefreshError("quality gate refused, nothing published: " + session.gate_refusals[0])
    written = [g.case_id for g in session.staged]
    try:
        revision = session.publish()
    except RegressError as exc:
        raise RefreshError(f"publishing failed, store and lock unchanged: {exc}") from None
    return RefreshResult(revision=revision, written=written, verdicts=verdicts)
