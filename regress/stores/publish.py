"""What every publisher shares: one commit's files, its provenance message, and the rules that
keep a publish all-or-nothing.

A publish of new goldens is ONE commit on top of the pinned revision (the Hub: one
``HfApi.create_commit``; git: one commit pushed). The store rewrites the lock only after that
commit exists, so a failure (or a kill) at any earlier point leaves the lock, and therefore
what every checkout tests against, exactly as it was.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol

from ..env import REGRESS_FAIL_AT
from ..errors import StoreError
from .base import StagedGolden


@dataclass(frozen=True)
class PublishResult:
    """The commit a publish made: its sha (what the lock will pin) and where to review it."""

    sha: str
    url: str | None = None  # the commit, or the Hub pull request when one was opened
    pull_request: bool = False


class Publisher(Protocol):
    """Writes one commit: ``files`` (repo path -> bytes) added or replaced, ``deletes`` removed,
    on top of ``parent``, which must still be the head of the target branch (a stale base
    fails instead of overwriting someone else's goldens)."""

    target: str  # for messages: 'the Hub (org/name)', 'git <url>'

    def commit(self, files: dict[str, bytes], deletes: list[str], *, parent: str, title: str,
               body: str) -> PublishResult: ...


def golden_dir(case_id: str, platform: str) -> str:
    return f"cases/{case_id}/{platform}/"


def plan(staged: Iterable[StagedGolden], existing: Iterable[str]) -> tuple[dict[str, bytes], list[str]]:
    """The commit's content: every staged golden's files, and the deletion of files left in
    those golden directories by the old golden (an output that changed kind, say)."""
    files: dict[str, bytes] = {}
    dirs: set[str] = set()
    for g in staged:
        d = golden_dir(g.case_id, g.platform)
        dirs.add(d)
        for name, data in g.files().items():
            files[d + name] = data
    deletes = sorted(p for p in existing if p not in files and any(p.startswith(d) for d in dirs))
    return files, deletes


def provenance(staged: list[StagedGolden], *, parent: str, title: str) -> tuple[str, str]:
    """(title, body) of the commit message: which cases, which platform and versions, which
    source commit produced them, on top of which golden revision. Reviewers read this on the
    Hub PR or in ``git log``; nothing secret goes in it (no tokens, no environment)."""
    metas = [g.meta for g in staged]
    platforms = sorted({g.platform for g in staged})
    lines = [f"cases: {', '.join(sorted({g.case_id for g in staged}))}",
             f"platform: {', '.join(platforms)}"]
    devices = sorted({str((m.get("platform") or {}).get("device_name")) for m in metas
                      if (m.get("platform") or {}).get("device_name")})
    if devices:
        lines.append(f"device: {', '.join(devices)}")
    versions: dict[str, set[str]] = {}
    for m in metas:
        for k, v in ((m.get("platform") or {}).get("versions") or {}).items():
            versions.setdefault(k, set()).add(str(v))
    if versions:
        lines.append("versions: " + ", ".join(f"{k} {'/'.join(sorted(v))}" for k, v in sorted(versions.items())))
    sources = sorted({str(m.get("source_commit")) for m in metas if m.get("source_commit")})
    lines.append(f"source commit: {', '.join(sources) if sources else 'unknown (not a git checkout)'}")
    producers = sorted({str(m.get("regress_version")) for m in metas if m.get("regress_version")})
    if producers:
        lines.append(f"regress: {', '.join(producers)}")
    for g in sorted(staged, key=lambda g: (g.case_id, g.platform)):
        prec = g.meta.get("precision") or {}
        if prec:
            lines.append(f"precision {g.case_id} [{g.platform}]: "
                         + ", ".join(f"{c}={d}" for c, d in sorted(prec.items())))
    lines.append(f"parent: {parent}")
    return title, "\n".join(lines) + "\n"


def fail_point(name: str) -> None:
    """Tests set ``REGRESS_FAIL_AT=NAME`` to make this step raise, or ``NAME:kill`` to SIGKILL
    the process here, and then prove that nothing changed. Steps: ``before-publish`` (nothing
    sent yet), ``before-push`` (git: the commit exists locally only), ``before-lock`` (the
    commit exists remotely; the lock still pins the old revision)."""
    point, _, action = os.environ.get(REGRESS_FAIL_AT, "").partition(":")
    if point != name:
        return
    if action == "kill":
        os.kill(os.getpid(), signal.SIGKILL)
    raise StoreError(f"injected failure at '{name}' ({REGRESS_FAIL_AT})")


def redact(text: str, *secrets: str | None) -> str:
    """:func:`regress.errors.redact`, plus the given secrets (the token in use, which may not
    be in the environment)."""
    from ..errors import redact as redact_common

    for s in secrets:
        if s and len(s) >= 4:
            text = text.replace(s, "***")
    return redact_common(text)
