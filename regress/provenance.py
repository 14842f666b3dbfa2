"""Where a golden came from: the meta.json record written next to its files.

Everything a later reader needs to tell whether a difference is the code's or the machine's:
the case spec, the platform and its library versions, the numerics identity, the observed
precision, perf, the LPIPS weights it is judged with, and the git commit of the code.
"""

from __future__ import annotations

import datetime as _dt
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from . import __version__
from .golden_records import GoldenMeta
from .judge import Subject
from .numerics import Identity
from .parallel import run_identity
from .platform import PlatformInfo

if TYPE_CHECKING:
    from .stores.base import Store
    from .suite import Suite
    from .thresholds import Owned


def golden_meta(subject: Subject, *, platform: str, platform_info: PlatformInfo, identity: Identity,
                lpips_weights: dict[str, str] | None, source_dir: Path) -> dict[str, Any]:
    """The meta.json of a golden made from ``subject`` on this machine (``platform_info``: the
    detected platform, ``identity``: this machine's numerics identity), as the store writes it;
    :func:`record_maker` reads it as the record staging compares."""
    info = platform_info.to_json()
    info["key"] = platform
    info["versions"] = {**info.get("versions", {}), **subject.versions}
    out = subject.output
    meta: dict[str, Any] = {
        "case": subject.id,
        "spec": dict(subject.spec or {}),  # a hand-written test's output: no spec is known
        "platform": info,
        "identity": identity.to_json(),
        "precision": dict(subject.fingerprint),
        "settings": dict(subject.settings),
        "kind": out.kind,
        "shapes": out.shapes(),
        "fps": out.fps,
        "sample_rate": out.sample_rate,
        "perf": subject.perf.to_json() if subject.perf is not None else {},
        "noise_floor": None,
        "lpips_weights": lpips_weights,
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "regress_version": __version__,
        "source_commit": source_commit(source_dir),
    }
    if subject.spec_hash is not None:
        meta["spec_hash"] = subject.spec_hash
    return meta


class RunFacts(Protocol):
    """What a golden's meta records of the run that made it (a GoldenSession has these): typed
    here, not imported, so that the judging layer does not reach up to the session."""

    platform: str
    platform_info: PlatformInfo
    identity: Identity
    device: str
    suite: Suite
    store: Store



def record_maker(session: RunFacts, subject: Subject, case: Owned) -> Callable[[], GoldenMeta]:
    """:func:`meta_maker`'s meta.json as the typed record (what :mod:`regress.staging` reads)."""
    make = meta_maker(session, subject, case)
    return lambda: GoldenMeta.from_json(make())


def meta_maker(session: RunFacts, subject: Subject, case: Owned) -> Callable[[], dict[str, Any]]:
    """What makes ``subject``'s meta.json in ``session`` when a golden is staged (only then: it
    runs ``git`` and resolves the LPIPS weights)."""
    def make() -> dict[str, Any]:
        return golden_meta(subject, platform=session.platform, platform_info=session.platform_info,
                           identity=run_identity(session.identity, case, session.device),  # and a layout
                           lpips_weights=lpips_record(session.suite, session.store, case, session.platform),
                           source_dir=session.suite.path.parent)

    return make


def lpips_record(suite: Suite, store: Store, case: Owned, platform: str) -> dict[str, str] | None:
    """The LPIPS weights ``case`` is judged with (recorded in its golden's meta), when the
    suite gates LPIPS and weights are available."""
    from .lpips_policy import lpips_setup
    from .thresholds import resolve_thresholds

    lp = lpips_setup(suite, store, resolve_thresholds(suite, case, platform))
    return lp.weights.to_json() if lp is not None and lp.weights is not None else None


def source_commit(directory: Path) -> str | None:
    """The git commit of the code that produced a golden (provenance), if in a git checkout."""
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=directory, capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.TimeoutExpired):
        return None
    sha = out.stdout.strip()
    return sha if out.returncode == 0 and len(sha) == 40 else None
