"""One report from several runs: shards, xdist workers, the CUDA and the ROCm jobs.

Records are kept as they are (one per case and platform and run), so platforms sit side by
side. Two checks only a merged view can make:

* coverage: every case any run was asked for (its ``selected`` list, taken before sharding)
  has a record on every expected platform. A shard that crashed, a runner that never
  started, a platform whose job filtered a case out: each shows up as a gap.
* unused goldens: what the store holds (``store_entries``) minus what some run compared
  against (``goldens_used``), across the whole matrix; a golden unused by one shard may be
  used by another, so no single run can say this.

The same code merges xdist workers' results at the pytest controller and directories given to
``regress report merge``.
"""

from __future__ import annotations

import shutil
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .. import __version__
from ..errors import RegressError
from .results import RESULTS_FILE, RESULTS_SCHEMA, now, read_results, summarize


@dataclass(frozen=True)
class RunDir:
    """A results document and the directory its media paths are relative to."""

    root: Path
    doc: Mapping[str, Any]
    label: str


def load_run(path: Path) -> RunDir:
    """A report directory (or its results.json); errors name the file."""
    root = path.parent if path.name == RESULTS_FILE and path.is_file() else path
    if not root.exists():
        raise RegressError(f"{path}: no such directory")
    return RunDir(root=root, doc=read_results(root / RESULTS_FILE), label=str(path))


def _relocate(value: Any, old: str, new: str) -> Any:
    """Rewrite report-relative paths that start with ``old`` (media moved on a name clash)."""
    if isinstance(value, str):
        return new + value[len(old):] if value == old or value.startswith(old + "/") else value
    if isinstance(value, dict):
        return {k: _relocate(v, old, new) for k, v in value.items()}
    if isinstance(value, list):
        return [_relocate(v, old, new) for v in value]
    return value


def _copy_media(run: RunDir, case: dict[str, Any], out: Path | None, taken: set[str]) -> dict[str, Any]:
    """Copy a record's media directory into ``out`` (renamed if another run took the name)."""
    rel = f"cases/{case['id']}/{case['platform']}"
    if not case.get("files"):
        return case
    dest, n = rel, 1
    while dest in taken:
        n += 1
        dest = f"{rel}~{n}"
    taken.add(dest)
    if dest != rel:
        case = _relocate(case, rel, dest)
    if out is not None:
        src = run.root / rel
        target = out / dest
        if not _inside(target, out) or not _inside(src, run.root):  # read_results checks ids; this is the last line
            raise RegressError(f"{run.label}: media of {case['id']!r} [{case['platform']!r}] would leave the report "
                               "directory")
        if src.is_dir() and not src.is_symlink() and src.resolve() != target.resolve():
            if target.exists():
                shutil.rmtree(target)
            shutil.copytree(src, target)
    return case


def _inside(path: Path, root: Path) -> bool:
    try:
        path.resolve().relative_to(root.resolve())
    except ValueError:
        return False
    return path.resolve() != root.resolve()


def _expected_cases(runs: Sequence[Mapping[str, Any]], cases: Sequence[Mapping[str, Any]]) -> list[str]:
    ids: set[str] = {c["id"] for c in cases}
    for r in runs:
        ids.update(r.get("selected") or [])
    return sorted(ids)


def merge_docs(runs: Sequence[RunDir], *, out: Path | None = None, expect_platforms: Sequence[str] | None = None,
               coverage: bool = True) -> dict[str, Any]:
    """Merge results documents into one; copy media into ``out`` when given.

    ``coverage``: compute the coverage block over ``expect_platforms`` (or, without them, over
    the platforms seen); the xdist controller turns it off, since one pytest run is one shard.
    """
    if not runs:
        raise RegressError("nothing to merge: give at least one report directory")
    cases: list[dict[str, Any]] = []
    all_runs: list[dict[str, Any]] = []
    entries: set[tuple[str, str]] = set()
    has_entries = False
    taken: set[str] = set()
    suite = None
    for run in runs:
        doc = run.doc
        suite = suite or doc.get("suite")
        for r in doc.get("runs") or []:
            all_runs.append({**r, "source": r.get("source") or run.label})
        if doc.get("store_entries") is not None:
            has_entries = True
            entries.update((c, p) for c, p in doc["store_entries"])
        for c in doc.get("cases") or []:
            cases.append(_copy_media(run, dict(c), out, taken))
    seen: dict[tuple[str, str], int] = {}
    for c in cases:
        seen[(c["id"], c["platform"])] = seen.get((c["id"], c["platform"]), 0) + 1
    for c in cases:
        n = seen[(c["id"], c["platform"])]
        if n > 1:
            note = f"this case ran {n} times on {c['platform']} in the merged runs"
            if note not in c.setdefault("warnings", []):
                c["warnings"].append(note)
    platforms = sorted({c["platform"] for c in cases} | {r["platform"] for r in all_runs if r.get("platform")}
                       | set(expect_platforms or []))
    revisions = sorted({str(r.get("revision")) for r in all_runs})
    used = {(c, p) for r in all_runs for c, p in (r.get("goldens_used") or [])}
    doc: dict[str, Any] = {
        "schema": RESULTS_SCHEMA,
        "regress_version": __version__,
        "suite": suite,
        "platform": platforms[0] if len(platforms) == 1 else None,
        "platforms": platforms,
        "revision": revisions[0] if len(revisions) == 1 else None,
        "created": now(),
        "summary": summarize(cases),
        "cases": cases,
        "runs": all_runs,
        "store_entries": sorted([c, p] for c, p in entries) if has_entries else None,
        "coverage": None,
        "unused_goldens": sorted([c, p] for c, p in entries - used) if has_entries else None,
    }
    if len(revisions) > 1:
        doc["warnings"] = [f"runs used different store revisions: {', '.join(revisions)}"]
    if coverage:
        want = sorted(expect_platforms) if expect_platforms else platforms
        expected = _expected_cases(all_runs, cases)
        present = set(seen)
        missing = [[cid, p] for p in want for cid in expected if (cid, p) not in present]
        doc["coverage"] = {"platforms": want, "cases": expected, "missing": missing, "complete": not missing,
                           "enforced": bool(expect_platforms)}
    return doc


def merge_reports(paths: Sequence[Path], out: Path, *, expect_platforms: Sequence[str] | None = None,
                  coverage: bool = True) -> dict[str, Any]:
    """Read report directories, merge them into ``out`` (results.json, index.html, media)."""
    from . import write_doc_report

    runs = [load_run(p) for p in paths]
    out.mkdir(parents=True, exist_ok=True)
    doc = merge_docs(runs, out=out, expect_platforms=expect_platforms, coverage=coverage)
    # The merged document holds to results.schema.json, the contract its readers rely on: a
    # record that slipped past the reads above is refused here, before anything is written.
    from ..records import check, results_document_schema

    check(doc, results_document_schema(), file=out / RESULTS_FILE, field="")
    write_doc_report(out, doc)
    return doc
