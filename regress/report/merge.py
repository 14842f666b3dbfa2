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
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .. import __version__
from ..errors import RegressError
from .records import CaseResult, ResultsRecord, results_record
from .results import RESULTS_FILE, RESULTS_SCHEMA, now, read_results, summarize


@dataclass(frozen=True)
class RunDir:
    """A results document and the directory its media paths are relative to. ``doc`` is the
    document as written (merged records are copied through, every key kept, known or not);
    ``record`` is the same document typed, what the merge reads."""

    root: Path
    doc: Mapping[str, Any]
    label: str
    record: ResultsRecord = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        file = self.label if self.label.endswith(RESULTS_FILE) else f"{self.label}/{RESULTS_FILE}"
        object.__setattr__(self, "record", results_record(self.doc, file=file))


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


def _copy_media(run: RunDir, raw: dict[str, Any], case: CaseResult, out: Path | None,
                taken: set[str]) -> dict[str, Any]:
    """Copy a record's media directory into ``out`` (renamed if another run took the name);
    returns the record as written (``raw``), its paths rewritten where it was renamed."""
    rel = f"cases/{case.id}/{case.platform}"
    if not case.files:
        return raw
    dest, n = rel, 1
    while dest in taken:
        n += 1
        dest = f"{rel}~{n}"
    taken.add(dest)
    if dest != rel:
        raw = _relocate(raw, rel, dest)
    if out is not None:
        src = run.root / rel
        target = out / dest
        if not _inside(target, out) or not _inside(src, run.root):  # read_results checks ids; this is the last line
            raise RegressError(f"{run.label}: media of {case.id!r} [{case.platform!r}] would leave the report "
                               "directory")
        if src.is_dir() and not src.is_symlink() and src.resolve() != target.resolve():
            if target.exists():
                shutil.rmtree(target)
            shutil.copytree(src, target)
    return raw


def _inside(path: Path, root: Path) -> bool:
    try:
        path.resolve().relative_to(root.resolve())
    except ValueError:
        return False
    return path.resolve() != root.resolve()


def _expected_cases(selected: Sequence[str], cases: Sequence[CaseResult]) -> list[str]:
    return sorted({c.id for c in cases} | set(selected))


def merge_docs(runs: Sequence[RunDir], *, out: Path | None = None, expect_platforms: Sequence[str] | None = None,
               coverage: bool = True) -> dict[str, Any]:
    """Merge results documents into one; copy media into ``out`` when given.

    ``coverage``: compute the coverage block over ``expect_platforms`` (or, without them, over
    the platforms seen); the xdist controller turns it off, since one pytest run is one shard.
    """
    if not runs:
        raise RegressError("nothing to merge: give at least one report directory")
    # Read from the typed records; written as the records were (``raw``: every key kept).
    cases: list[tuple[dict[str, Any], CaseResult]] = []
    all_runs: list[dict[str, Any]] = []
    read_runs = []
    entries: set[tuple[str, str]] = set()
    has_entries = False
    taken: set[str] = set()
    suite = None
    for run in runs:
        rec = run.record
        suite = suite or rec.suite
        for raw_run, r in zip(run.doc.get("runs") or [], rec.runs, strict=True):
            all_runs.append({**raw_run, "source": r.source or run.label})
            read_runs.append(r)
        if rec.store_entries is not None:
            has_entries = True
            entries.update((c, p) for c, p in rec.store_entries)
        for raw, c in zip(run.doc.get("cases") or [], rec.cases, strict=True):
            cases.append((_copy_media(run, dict(raw), c, out, taken), c))
    seen: dict[tuple[str, str], int] = {}
    for _, c in cases:
        seen[(c.id, c.platform)] = seen.get((c.id, c.platform), 0) + 1
    for raw, c in cases:
        n = seen[(c.id, c.platform)]
        if n > 1:
            note = f"this case ran {n} times on {c.platform} in the merged runs"
            if note not in raw.setdefault("warnings", []):
                raw["warnings"].append(note)
    platforms = sorted({c.platform for _, c in cases} | {r.platform for r in read_runs if r.platform}
                       | set(expect_platforms or []))
    revisions = sorted({str(r.revision) for r in read_runs})
    used = {(c, p) for r in read_runs for c, p in r.goldens_used}
    doc: dict[str, Any] = {
        "schema": RESULTS_SCHEMA,
        "regress_version": __version__,
        "suite": suite,
        "platform": platforms[0] if len(platforms) == 1 else None,
        "platforms": platforms,
        "revision": revisions[0] if len(revisions) == 1 else None,
        "created": now(),
        "summary": summarize(c.status for _, c in cases),
        "cases": [raw for raw, _ in cases],
        "runs": all_runs,
        "store_entries": sorted([c, p] for c, p in entries) if has_entries else None,
        "coverage": None,
        "unused_goldens": sorted([c, p] for c, p in entries - used) if has_entries else None,
    }
    if len(revisions) > 1:
        doc["warnings"] = [f"runs used different store revisions: {', '.join(revisions)}"]
    if coverage:
        want = sorted(expect_platforms) if expect_platforms else platforms
        expected = _expected_cases([cid for r in read_runs for cid in r.selected], [c for _, c in cases])
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
