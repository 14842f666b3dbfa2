"""Refresh: regenerate the selected goldens on this platform, gate them, publish as one change.

All cases run first; only when every one of them ran and passed the quality gate is anything
written, and the store then publishes files and lock together (all or nothing). A refresh
that fails at any step leaves the store and the lock as they were.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from .errors import RegressError
from .session import GoldenSession
from .staging import check_mode, publish_refusal
from .stores.base import META_FILE, Golden, StagedGolden, load_meta
from .suite import Case
from .modes import REFRESH_MODES
from .verdict import Verdict

__all__ = ["REFRESH_MODES", "RefreshError", "RefreshResult", "refresh", "stage", "load_staged", "publish_staged"]


class RefreshError(RegressError):
    """A refresh stopped before publishing (a case did not run, the gate refused one, the
    publish failed); nothing was changed. Exit code 1, as a regression: bad input to a refresh
    (a mode, a selection, a staging directory) is a plain :class:`RegressError`, exit code 2."""


@dataclass
class RefreshResult:
    revision: str | None
    written: list[str] = field(default_factory=list)
    verdicts: list[Verdict] = field(default_factory=list)


def refresh(session: GoldenSession, cases: list[Case], *,
            progress: Callable[[Case, Verdict], None] | None = None) -> RefreshResult:
    """Run ``cases`` under ``session.options.update`` and publish what it stages."""
    verdicts = _run_gated(session, cases, progress)
    written = [g.case_id for g in session.staged]
    try:
        revision = session.publish()
    except RegressError as exc:
        raise RefreshError(f"publishing failed, store and lock unchanged: {exc}") from None
    return RefreshResult(revision=revision, written=written, verdicts=verdicts)


def _run_gated(session: GoldenSession, cases: list[Case],
               progress: Callable[[Case, Verdict], None] | None) -> list[Verdict]:
    """Run every case; stop with nothing staged if one did not run or the quality gate refused one."""
    check_mode(session.options.update, modes=REFRESH_MODES, what="refresh mode")  # usage: exit 2
    if not cases:
        raise RegressError("no case selected (check -k)")  # usage, as in every command: exit 2
    verdicts = []
    for case in cases:
        v = session.check(case).verdict
        verdicts.append(v)
        if progress:
            progress(case, v)
    refusal = publish_refusal(verdicts=verdicts, gate_refusals=session.gate_refusals,
                              expected=[c.id for c in cases])
    if refusal:
        session.staged.clear()
        raise RefreshError(refusal)
    return verdicts


# ---------------------------------------------------------------------- multi-platform refresh
#
# One Hub commit for several platforms: each platform's runner regenerates and gates its
# goldens into a staging directory (``--stage DIR``, nothing published), the directories
# travel as CI artifacts, and one job publishes them all (``--staged DIR...``) as ONE commit
# on the pinned sha, then rewrites the lock.


def stage(session: GoldenSession, cases: list[Case], directory: Path, *,
          progress: Callable[[Case, Verdict], None] | None = None) -> RefreshResult:
    """Like :func:`refresh`, but write the gated goldens under ``directory`` in the store
    layout (``cases/<id>/<platform>/``) instead of publishing them."""
    verdicts = _run_gated(session, cases, progress)
    written: list[str] = []
    for g in session.take_staged():
        g.write(directory / "cases" / g.case_id / g.platform)
        written.append(g.case_id)
    return RefreshResult(revision=None, written=written, verdicts=verdicts)


def load_staged(directories: list[Path]) -> list[StagedGolden]:
    """Goldens written by :func:`stage`, verified against their meta's sha256."""
    staged: list[StagedGolden] = []
    seen: dict[tuple[str, str], Path] = {}
    for root in directories:
        metas = sorted((root / "cases").glob(f"*/*/{META_FILE}"))
        if not metas:  # bad input (exit 2), as a tampered staged golden is
            raise RegressError(f"{root}: no staged goldens (expected cases/<id>/<platform>/{META_FILE})")
        for meta_path in metas:
            d = meta_path.parent
            key = (d.parent.name, d.name)
            if key in seen:
                raise RegressError(f"{d}: case '{key[0]}' on {key[1]} is staged twice (also in {seen[key]})")
            seen[key] = d
            golden = Golden(case_id=key[0], platform=key[1], directory=d, meta=load_meta(d))
            output = golden.output()  # checks every file against meta's sha256
            meta = {k: v for k, v in golden.meta.items() if k not in ("files", "schema")}
            staged.append(StagedGolden(key[0], key[1], output, meta))
    return staged


def publish_staged(session: GoldenSession, directories: list[Path]) -> RefreshResult:
    """Publish goldens staged on several platforms as one change and move the lock."""
    session.staged = load_staged(directories)
    written = [f"{g.case_id} [{g.platform}]" for g in session.staged]
    try:
        revision = session.publish()
    except RegressError as exc:
        raise RefreshError(f"publishing failed, store and lock unchanged: {exc}") from None
    return RefreshResult(revision=revision, written=written)
