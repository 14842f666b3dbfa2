"""References adopted per numerics identity: exact judging on machines that made no golden.

Why: the reviewed golden of a platform key is made on one machine. Every other machine of that
key whose kernels differ (another CPU model, another kernel path, a card without flash
attention) can only be judged against it in the drift regime, whose bounds also pass small
real changes (on an AVX2-only EPYC, 19 of 73 realistic regressions passed inside them) and do
not gate peak memory or time. A *reference* is that machine's own output of a case, judged
against the reviewed golden in the drift regime and found within its measured bounds, then
published beside it (``regress adopt``, or ``pytest -m golden --golden-adopt`` on the main
branch). A later run on the same numerics identity is judged exactly against its reference
(outputs, stage checkpoints, dtypes, settings, the memory gate) *and* against the reviewed
golden with drift bounds; the verdict says both.

Layout: ``refs/<case>/<golden key>/<identity digest>/{output.*, meta.json}`` in the golden
store, outside ``cases/`` (published with the store's ``publish_files``: one commit, the lock
moves). The reference's meta is a golden's meta (identity, precision, settings, perf) plus a
``reference`` block: the reviewed golden's files (sha256), its store revision, when, from
which commit and run, on which machine. Refreshing the reviewed golden changes its files, and
every reference of it retires: judged no more, reported as retired, adopted again on request.

Nothing adopts outside an explicit command or option, and a working tree with local changes
refuses to adopt (a reference must come from committed code).
"""

from __future__ import annotations

import datetime as _dt
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .errors import RegressError
from .stores.base import META_FILE, Golden, StagedGolden, Store, load_meta

REFS_DIR = "refs"
RETIRED = "retired"
_RUN_VARS = ("GITHUB_SERVER_URL", "GITHUB_REPOSITORY", "GITHUB_RUN_ID", "GITHUB_RUN_ATTEMPT", "GITHUB_SHA")


def ref_dir(case_id: str, golden_platform: str, digest: str) -> str:
    return f"{REFS_DIR}/{case_id}/{golden_platform}/{digest}"


@dataclass(frozen=True)
class Reference:
    golden: Golden  # the reference, as a golden (its directory, meta, verified output)
    output: Any
    adopted: Mapping[str, Any]  # the meta's reference block

    def label(self) -> str:
        when = str(self.adopted.get("adopted") or "")[:10]
        commit = str(self.adopted.get("source_commit") or "")[:12]
        return f"this machine's reference (adopted {when}" + (f" at {commit}" if commit else "") + ")"


def find(store: Store, case_id: str, golden: Golden, digest: str) -> Reference | str | None:
    """This identity's reference of ``golden``; :data:`RETIRED` when one exists but was adopted
    against a golden since refreshed; None when there is none."""
    base = ref_dir(case_id, golden.platform, digest)
    meta_path = store.file(f"{base}/{META_FILE}")
    if meta_path is None:
        return None
    meta = load_meta(meta_path.parent)
    adopted = meta.get("reference")
    if not isinstance(adopted, Mapping) or adopted.get("golden_files") != golden.meta.get("files"):
        return RETIRED
    for name in meta["files"]:  # a Hub store fetches each file into the same snapshot directory
        if store.file(f"{base}/{name}") is None:
            raise RegressError(f"{base}/{name} is listed in the reference's meta.json but not in the store")
    ref = Golden(case_id=case_id, platform=golden.platform, directory=meta_path.parent, meta=meta,
                 revision=golden.revision)
    return Reference(golden=ref, output=ref.output(), adopted=adopted)


def reference_files(*, case_id: str, golden: Golden, output: Any, meta: Mapping[str, Any], digest: str,
                    store_revision: str | None) -> dict[str, bytes]:
    """The files of a new reference (store-relative path -> bytes), with its provenance."""
    block = {"golden_platform": golden.platform, "golden_files": dict(golden.meta.get("files") or {}),
             "golden_revision": store_revision, "identity": digest,
             "adopted": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
             "source_commit": meta.get("source_commit"),
             "machine": _machine(meta), "run": {k: os.environ[k] for k in _RUN_VARS if os.environ.get(k)}}
    staged = StagedGolden(case_id, golden.platform, output, {**meta, "reference": block})
    base = ref_dir(case_id, golden.platform, digest)
    return {f"{base}/{name}": data for name, data in staged.files().items()}


def _machine(meta: Mapping[str, Any]) -> str:
    inst = (meta.get("identity") or {}).get("installed") or {}
    return str(inst.get("gpu.name") or inst.get("cpu.model") or "unknown")


def commit_hint(suite: Any) -> str:
    """'; commit goldens/goldens.lock and goldens/store/refs/' for an in-repository store."""
    import os

    if suite.store.kind != "file" or suite.store.path is None:
        return "; commit the lock"
    base = suite.path.parent
    lock = os.path.relpath(suite.lock_path, base.parent)
    refs = os.path.relpath(suite.store.path / REFS_DIR, base.parent)
    return f"; commit {lock} and {refs}/ (the lock pins them)"


def working_tree_changes(directory: Any) -> list[str]:
    """Tracked files with local changes in the git checkout holding ``directory`` (untracked files
    do not count: a report directory must not block). Not a git checkout: [] (nothing to compare)."""
    import subprocess

    try:
        proc = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=directory,
                              capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired):
        return []
    if proc.returncode != 0:
        return []
    return [line[3:] for line in proc.stdout.splitlines() if line.strip()]


def refuse_dirty(directory: Any) -> None:
    changed = working_tree_changes(directory)
    if changed:
        raise RegressError(f"adopting needs committed code: the working tree has local changes ({changed[0]}"
                           + (f" and {len(changed) - 1} more" if len(changed) > 1 else "")
                           + "); commit or stash them first")


def judge_reference(session: Any, judged: Any, subject: Any, case: Any, golden: Golden) -> Any:
    """The session's reference step, for a case judged in the drift regime: with a reference of
    this identity, judge the run exactly against it too (a failure there fails the case, named
    first); without one, under ``adopt``, keep a pass for adoption (never one that leaned on
    ``[fallback]`` guesses). Returns the case's record: ``judged`` itself is not changed."""
    import dataclasses

    from .ab import ab_record, judge_baseline
    from .verdict import ERROR, FAILED, PASSED

    verdict = judged.derived()
    try:
        found = find(session.store, subject.id, golden, session.identity.digest)
        if isinstance(found, Reference):
            ref = dataclasses.replace(found.golden, platform=session.platform)  # this machine's own: gated
            other = judge_baseline(subject, case, baseline=(ref, found.output), suite=session.suite,
                                   platform=session.platform, device=session.device, identity=session.identity,
                                   label=found.label())
    except RegressError as exc:
        verdict.reasons.append(f"reference: {exc}")
        verdict.status = ERROR
        return verdict
    if not isinstance(found, Reference):
        if found == RETIRED:
            verdict.warnings.append("this machine's reference was retired (the reviewed golden was refreshed since "
                                    "it was adopted): `regress adopt` adopts it again")
        if session.options.adopt and verdict.status == PASSED and not verdict.numerics.get("unmeasured"):
            session.adoptable.append((subject, case, golden))
        return verdict
    verdict.reference = ab_record(other, label=found.label(), revision=found.adopted.get("golden_revision"))
    verdict.numerics["line"] = (f"numerics: exact against {found.label()} (outputs, stages, memory gated); "
                                f"against the reviewed golden {golden.platform}: {verdict.numerics['line']}")
    if other.failed:
        verdict.reasons.insert(0, f"against {found.label()}: " + "; ".join(other.reasons))
        if verdict.status == PASSED:
            verdict.status = FAILED
    return verdict


def publish(session: Any) -> tuple[list[str], str | None]:
    """Publish the references the session kept for adoption as one change; (case ids, revision)."""
    from .provenance import meta_maker

    if not session.adoptable:
        return [], None
    files: dict[str, bytes] = {}
    for subject, case, golden in session.adoptable:
        files.update(reference_files(case_id=subject.id, golden=golden, output=subject.output,
                                     meta=meta_maker(session, subject, case)(), digest=session.identity.digest,
                                     store_revision=session.store.revision))
    ids = [s.id for s, _, _ in session.adoptable]
    revision = session.store.publish_files(files, message=f"regress: references of {', '.join(ids)} for numerics "
                                                          f"identity {session.identity.digest} ({session.platform})")
    session.adoptable = []
    return ids, revision
