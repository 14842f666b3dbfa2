"""``results.json``: the machine-readable outcome of a run (or of several, merged).

Its fields are declared by :class:`regress.models.ResultsDocument` (each case record is a
:class:`~regress.verdict.Verdict` plus its report media), published as
``schemas/results.schema.json`` (``schema: 1``).

``runs`` says where the records came from: one entry for a plain run, one per merged run
otherwise. Each run lists the cases it was asked to run before sharding (``selected``) and
the goldens it compared against (``goldens_used``), and the document lists what the store
held (``store_entries``): that is what lets ``regress report merge`` check that every case
ran on every platform and find goldens no case used, across a whole CI matrix.

NaN/Inf values are written as the strings "nan"/"inf" (strict JSON).
"""

from __future__ import annotations

import collections
import datetime as _dt
import json
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .. import __version__
from ..atomic import write_atomic
from ..errors import RegressError
from ..suite import Suite
from ..verdict import Verdict

if TYPE_CHECKING:
    from .assets import CaseMedia

RESULTS_SCHEMA = 1
RESULTS_FILE = "results.json"
MAX_RESULTS_BYTES = 512 << 20  # results.json of a large merged matrix with its waveforms: tens of MiB


def now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


def summarize(statuses: Iterable[str]) -> dict[str, int]:
    """status -> how many case records have it."""
    counts = collections.Counter(statuses)
    return dict(sorted(counts.items()))


def goldens_used(pairs: Iterable[tuple[str, str | None]]) -> list[list[str]]:
    """(case, golden platform) for every record that was compared against a golden, from each
    record's (case id, platform of the golden it matched, None for none)."""
    used = set(pairs)
    return sorted([cid, p] for cid, p in used if p)


def results_doc(verdicts: Sequence[Verdict], *, suite: Suite | None, platform: str, revision: str | None,
                selected: Sequence[str] | None = None, shard: str | None = None, worker: str | None = None,
                store_entries: Iterable[tuple[str, str]] | None = None,
                media: Mapping[tuple[str, str], CaseMedia] | None = None) -> dict[str, Any]:
    """The document of one run. ``selected`` defaults to the cases that produced a verdict;
    ``media``: what regress.report.assets wrote for each (case id, platform)."""
    cases = [case_record(v, (media or {}).get((v.id, v.platform))) for v in verdicts]
    summary = summarize(v.status for v in verdicts)
    created = now()
    run = {
        "platform": platform,
        "revision": revision,
        "shard": shard,
        "worker": worker,
        "created": created,
        "selected": sorted(set(selected) if selected is not None else {v.id for v in verdicts}),
        "goldens_used": goldens_used((v.id, v.golden.get("platform")) for v in verdicts),
        "summary": summary,
    }
    return {
        "schema": RESULTS_SCHEMA,
        "regress_version": __version__,
        "suite": str(suite.path) if suite else None,
        "platform": platform,
        "platforms": [platform],
        "revision": revision,
        "created": created,
        "summary": dict(summary),  # the run's and the document's: equal now, apart after a merge
        "cases": cases,
        "runs": [run],
        "store_entries": sorted([c, p] for c, p in store_entries) if store_entries is not None else None,
        "coverage": None,
        "unused_goldens": None,
    }


def case_record(verdict: Verdict, media: CaseMedia | None) -> dict[str, Any]:
    """A results.json case record: the verdict, plus the report media written for it."""
    rec = verdict.to_json()
    rec["files"] = dict(media.files) if media else {}
    # The media (frame paths, audio waveforms: hundreds of numbers) are finite by construction
    # (report/assets.py), so they are not walked value by value (a non-finite value would
    # still fail results.json's strict dump); their waveforms are tuples, shared.
    rec["media"] = _copy_containers(media.media) if media else {}
    return rec


def _copy_containers(x: Any) -> Any:
    """New dicts and lists throughout; tuples (immutable) and scalars are shared."""
    t = type(x)
    if t is dict:
        return {k: _copy_containers(v) for k, v in x.items()}
    if t is list:
        return [_copy_containers(v) for v in x]
    return x


def write_doc(path: Path, doc: Mapping[str, Any]) -> None:
    """Compact JSON, one line: ``json`` encodes in C only without ``indent``; for the tiny
    suite's document the indented pure-Python encoder took 2.8 ms against 0.56 ms (2-core CPU
    machine), every run. ``jq .`` prints it indented."""
    # a reader (the xdist controller, a CI upload) never sees half a file
    write_atomic(path, json.dumps(doc, allow_nan=False, separators=(",", ":")) + "\n")


def write_results(path: Path, verdicts: Sequence[Verdict], *, suite: Suite | None, platform: str,
                  revision: str | None, **run: Any) -> dict[str, Any]:
    doc = results_doc(verdicts, suite=suite, platform=platform, revision=revision, **run)
    write_doc(path, doc)
    return doc


def read_results(path: Path) -> dict[str, Any]:
    """Read and check a results.json; every problem is one line that names the file."""
    from ..records import read_json

    if path.is_dir():
        path = path / RESULTS_FILE
    doc = read_json(path, max_bytes=MAX_RESULTS_BYTES, missing="no such file (a report directory holds results.json)")
    if not isinstance(doc, dict):
        raise RegressError(f"{path}: expected a JSON object, got {type(doc).__name__}")
    if doc.get("schema") != RESULTS_SCHEMA:
        raise RegressError(f"{path}: unknown results schema {doc.get('schema')!r} (this regress reads "
                           f"{RESULTS_SCHEMA})")
    for key in ("suite", "platform", "revision"):
        if doc.get(key) is not None and not isinstance(doc[key], str):
            raise RegressError(f"must be a string or null, got {type(doc[key]).__name__}", file=path, field=key)
    cases = doc.get("cases")
    if not isinstance(cases, list):
        raise RegressError(f"{path}: 'cases' must be a list")
    from ..platform import is_valid_key
    from ..suite import CASE_ID_RE

    from ..records import case_record_schema, check, run_record_schema

    for i, c in enumerate(cases):
        if not isinstance(c, dict) or not all(isinstance(c.get(k), str) for k in ("id", "platform", "status")):
            raise RegressError(f"{path}: cases[{i}] needs string fields id, platform and status")
        # every record as results.schema.json declares it (a media height of "abc", metrics as
        # a list): refused here, naming the field, not a traceback while merging or rendering
        check(c, case_record_schema(), file=path, field=f"cases[{i}]")
        # ids and platform keys become directory names when media are merged: never a path
        if not CASE_ID_RE.match(c["id"]) or c["id"] in (".", ".."):
            raise RegressError(f"{path}: cases[{i}].id {c['id']!r} is not a case id (letters, digits, '.', '_', "
                               "'-'; not a path)")
        if not is_valid_key(c["platform"]):
            raise RegressError(f"{path}: cases[{i}].platform {c['platform']!r} is not a platform key "
                               "(e.g. cpu-avx2, cuda-sm90)")
    runs = doc.get("runs")
    if runs is None:  # written before runs were recorded: describe it from what it holds
        from .records import case_result

        recs = [case_result(c, file=path, where=f"cases[{i}]") for i, c in enumerate(cases)]
        doc["runs"] = [{"platform": doc.get("platform"), "revision": doc.get("revision"), "shard": None,
                        "worker": None, "created": doc.get("created"), "selected": sorted({c.id for c in recs}),
                        "goldens_used": goldens_used((c.id, c.golden.platform if c.golden else None) for c in recs),
                        "summary": summarize(c.status for c in recs)}]
    elif not isinstance(runs, list) or not all(isinstance(r, dict) for r in runs):
        raise RegressError(f"{path}: 'runs' must be a list of objects")
    else:
        for i, r in enumerate(runs):
            check(r, run_record_schema(), file=path, field=f"runs[{i}]")
    entries = doc.get("store_entries")
    if entries is not None and not (isinstance(entries, list) and all(
            isinstance(e, list) and len(e) == 2 and all(isinstance(x, str) for x in e) for e in entries)):
        raise RegressError(f"{path}: 'store_entries' must be a list of [case, platform] pairs")
    return doc
