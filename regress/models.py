"""The files regress writes and reads, as typed models with a published JSON Schema.

* ``results.json`` (:class:`ResultsDocument`): each case record is a :class:`~regress.verdict.Verdict`
  (``Verdict.to_json``) plus its report media (:class:`CaseRecord`), so the record's fields are
  declared once, by the verdict;
* ``meta.json`` of each golden (:class:`~regress.golden_records.GoldenMeta`, the runtime record
  judging reads); its ``spec`` is the case's spec (:data:`regress.suite.SPEC_FIELDS`, declared
  by :class:`~regress.suite.Case`);
* ``suite.toml`` (:func:`suite_schema`): ``[[case]]`` tables are :class:`~regress.suite.Case`,
  the other tables come from the parser's own key tables in :mod:`regress.suite`.

The schemas are committed under ``schemas/`` (``python -m regress.models schemas`` writes them)
and tests validate files that regress wrote against them. Other tools (a dashboard, a CI
step) read these files: the schemas are what they can rely on.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from .golden_records import GoldenMeta
from .schema import DIALECT, dataclass_schema, schema_of
from .verdict import Verdict

SCHEMA_DIR = Path(__file__).resolve().parents[1] / "schemas"
PAIR = tuple[str, str]  # [case id, platform key]


BOUNDED = {"minimum": 0, "maximum": 1 << 20}  # a size, a count, a scale: never negative, never absurd


@dataclass
class ImageMedia:
    """The report's image track (report/assets.py): its size and the heat-map's scale."""

    height: int = field(metadata={"schema": BOUNDED})
    width: int = field(metadata={"schema": BOUNDED})
    scale: int = field(metadata={"schema": BOUNDED})
    identical: bool
    diff_peak: int | None = field(default=None, metadata={"schema": {"maximum": 255}})


@dataclass
class VideoMedia:
    """The report's video track: frame folders and counts, size, fps."""

    frames: int = field(metadata={"schema": BOUNDED})
    counts: dict[str, int]
    fps: float | None
    dirs: dict[str, str]
    height: int = field(metadata={"schema": BOUNDED})
    width: int = field(metadata={"schema": BOUNDED})
    scale: int = field(metadata={"schema": BOUNDED})
    identical: bool
    diff_peak: int | None = field(default=None, metadata={"schema": {"maximum": 255}})


@dataclass
class AudioMedia:
    """The report's audio track: its format and (min, max) waveform envelopes per label."""

    sample_rate: int = field(metadata={"schema": BOUNDED})
    channels: int = field(metadata={"schema": BOUNDED})
    samples: int
    waveform: dict[str, list[tuple[float, float]]]
    identical: bool


@dataclass
class MeshMedia:
    """The report's mesh track: the render grid's size, the mesh sizes per label, the error scale."""

    height: int = field(metadata={"schema": BOUNDED})
    width: int = field(metadata={"schema": BOUNDED})
    views: int = field(metadata={"schema": BOUNDED})
    vertices: dict[str, int]
    faces: dict[str, int]
    identical: bool
    error_peak: float | None = field(default=None, metadata={"doc": "largest per-vertex distance / golden diagonal"})


@dataclass
class ReportMedia:
    """What the page needs to show a record's media (any of the four tracks)."""

    image: ImageMedia | None = None
    video: VideoMedia | None = None
    audio: AudioMedia | None = None
    mesh: MeshMedia | None = None


@dataclass
class CaseRecord(Verdict):
    """A results.json case record: the verdict and the report media written for it."""

    files: dict[str, str] = field(default_factory=dict, metadata={"doc": "report-relative paths: golden, actual, "
                                                                         "diff, audio_*, mesh_*"})
    media: ReportMedia = field(default_factory=ReportMedia, metadata={"doc": "what the page needs to show them"})


@dataclass
class RunRecord:
    """One run of a (possibly merged) report: where its records came from."""

    platform: str | None
    revision: str | None
    shard: str | None
    worker: str | None
    created: str | None
    selected: list[str] = field(metadata={"doc": "case ids the run was asked for, before sharding"})
    goldens_used: list[PAIR]
    summary: dict[str, int]
    source: str | None = field(default=None, metadata={"doc": "merge: the report directory it came from"})


@dataclass
class Coverage:
    """merge: did every case run on every platform?"""

    platforms: list[str]
    cases: list[str]
    missing: list[PAIR]
    complete: bool
    enforced: bool


@dataclass
class ResultsDocument:
    """results.json: the outcome of one run, or of several merged (``regress report merge``)."""

    schema: Literal[1]
    regress_version: str
    suite: str | None
    platform: str | None
    platforms: list[str]
    revision: str | None
    created: str
    summary: dict[str, int]
    cases: list[CaseRecord]
    runs: list[RunRecord]
    store_entries: list[PAIR] | None
    coverage: Coverage | None
    unused_goldens: list[PAIR] | None
    warnings: list[str] = field(default_factory=list)


def results_schema() -> dict[str, Any]:
    return schema_of(ResultsDocument, json_floats=True, title="regress results.json")


def meta_schema() -> dict[str, Any]:
    from .suite import SPEC_FIELDS, Case

    out = schema_of(GoldenMeta, json_floats=True, title="regress golden meta.json")
    out["required"] = ["schema", "case", "files"]  # what every writer writes (defaults only for in-memory records)
    case = dataclass_schema(Case, True)["properties"]
    out["properties"]["spec"] = {"type": "object", "properties": {k: case[k] for k in SPEC_FIELDS},
                                 "additionalProperties": False}
    return out


def suite_schema() -> dict[str, Any]:
    """suite.toml (as the JSON that a TOML parser makes of it)."""
    from .metrics.catalog import METRICS
    from .precision import DTYPES
    from .suite import _METRICS_KEYS, _SUITE_KEYS, _TYPE_NAMES, STORE_FIELDS, STORE_KINDS, Case

    json_type = {str: "string", int: "integer", float: "number", dict: "object", list: "array", bool: "boolean"}

    def types_of(t: type | tuple[type, ...]) -> dict[str, Any]:
        ts = t if isinstance(t, tuple) else (t,)
        assert all(x in _TYPE_NAMES for x in ts)
        return {"type": sorted({json_type[x] for x in ts})}

    thresholds = {"type": "object", "additionalProperties": False,
                  "properties": {k: {"type": "number", "minimum": m.low, "maximum": m.high} for k, m in METRICS.items()}}
    case = dataclass_schema(Case)
    case["properties"]["thresholds"] = thresholds
    case["properties"]["precision"] = {"type": "object", "additionalProperties": {"type": "string"},
                                       "description": f"component -> dtype ({', '.join(DTYPES)})"}
    settings = {"type": "object", "additionalProperties": False,
                "properties": {k: types_of(t) for k, t in _SUITE_KEYS.items()}}
    settings["properties"]["fingerprint"] = {"enum": ["fail", "warn"]}
    settings["properties"]["unmeasured_drift"] = {"enum": ["fail", "fallback"]}
    settings["properties"]["allowed_settings"] = {"type": "array", "items": {"type": "string", "minLength": 1}}
    settings["properties"]["drift_cap"] = thresholds
    store = {"type": "object", "additionalProperties": False, "required": ["kind"],
             "properties": {k: {"type": "string"} for k in STORE_FIELDS}}
    store["properties"]["kind"] = {"enum": list(STORE_KINDS)}
    metrics = {"type": "object", "additionalProperties": False,
               "properties": {k: ({"enum": list(v)} if v else {"type": "string"}) for k, v in _METRICS_KEYS.items()}}
    return {"$schema": DIALECT, "title": "regress suite.toml", "type": "object",
            "additionalProperties": False, "required": ["store"],
            "properties": {"suite": settings, "store": store, "defaults": thresholds, "fallback": thresholds,
                           "platforms": {"type": "object", "additionalProperties": thresholds},
                           "case": {"type": "array", "items": case}, "metrics": metrics}}


SCHEMAS = {"results.schema.json": results_schema, "meta.schema.json": meta_schema,
           "suite.schema.json": suite_schema}


def render(name: str) -> str:
    return json.dumps(SCHEMAS[name](), indent=2, sort_keys=False) + "\n"


def write_schemas(directory: Path = SCHEMA_DIR) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    out = []
    for name in SCHEMAS:
        (directory / name).write_text(render(name), encoding="utf-8")
        out.append(directory / name)
    return out


if __name__ == "__main__":  # python -m regress.models schemas [DIR]
    if sys.argv[1:2] != ["schemas"]:
        sys.exit("usage: python -m regress.models schemas [DIR]")
    for p in write_schemas(Path(sys.argv[2]) if len(sys.argv) > 2 else SCHEMA_DIR):
        print(p)
