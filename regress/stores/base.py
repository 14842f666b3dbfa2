"""What every store offers: find a golden for (case, platform), list them, publish new ones."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from ..digest import sha256_file
from ..errors import StoreError
from ..golden_records import GoldenMeta, PerfRecord
from ..outputs import OUTPUT_FILES, STAGES_FILE, Output
from ..platform import nearest

META_FILE = "meta.json"
META_SCHEMA = 1


@dataclass
class Golden:
    """A golden on disk: its directory, its meta, and (lazily) its verified output.

    ``meta`` is meta.json as read (the JSON the store's writers copy and extend); ``record`` is
    the same meta parsed once into :class:`~regress.golden_records.GoldenMeta`, which is what
    judging, staging, bisect and drift read."""

    case_id: str
    platform: str
    directory: Path
    meta: dict[str, Any]
    revision: str | None = None
    record: GoldenMeta = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        self.record = GoldenMeta.from_json(self.meta)

    @property
    def precision(self) -> dict[str, str] | None:
        return self.record.precision

    @property
    def perf(self) -> PerfRecord | None:
        return self.record.perf

    def mismatched(self) -> list[tuple[str, str]]:
        """(file name, problem) for every file meta.json lists that is missing or whose bytes do
        not hash to the listed sha256; empty when the golden is intact."""
        files = self.meta.get("files") or {}
        if not files:
            return [(META_FILE, "lists no files")]
        bad = []
        for name, digest in files.items():
            p = self.directory / name
            if not p.is_file():
                bad.append((name, "listed in meta.json but missing"))
            elif sha256_file(p) != digest:
                bad.append((name, "sha256 does not match meta.json"))
        # Output.load reads every track file it finds: one the meta does not list has no hash
        # to verify, so it would be judged against unverified (refused, never ignored silently).
        for name in (*OUTPUT_FILES, STAGES_FILE):
            if name not in files and (self.directory / name).exists():
                bad.append((name, "present but not listed in meta.json (unverified: remove it, or refresh the "
                                  "golden)"))
        return bad

    def verify(self) -> None:
        """Every output file is listed in meta with a sha256 that matches its bytes."""
        for name, problem in self.mismatched():
            hint = " (corrupted or edited by hand)" if problem.startswith("sha256") else ""
            raise StoreError(f"{self.directory / name}: {problem}{hint}")

    def output(self) -> Output:
        self.verify()
        return Output.load(self.directory)


@dataclass
class StagedGolden:
    """A golden about to be published: the output and its provenance."""

    case_id: str
    platform: str
    output: Output
    meta: dict[str, Any] = field(default_factory=dict)

    def files(self) -> dict[str, bytes]:
        """The golden's files by name: the output files and a meta.json listing their sha256.
        A store that publishes elsewhere (a Hub commit, a git commit) uploads exactly these."""
        out = self.output.encode()
        meta = dict(self.meta)
        meta["schema"] = META_SCHEMA
        meta["files"] = {name: hashlib.sha256(data).hexdigest() for name, data in out.items()}
        out[META_FILE] = (json.dumps(meta, indent=2, sort_keys=True) + "\n").encode("utf-8")
        return out

    def write(self, directory: Path) -> None:
        """Write output files and meta.json (with the files' sha256) into ``directory``."""
        directory.mkdir(parents=True, exist_ok=True)
        for name, data in self.files().items():
            (directory / name).write_bytes(data)


MAX_META_BYTES = 16 << 20  # a golden's meta.json (drift pairs included) is a few kB


def load_meta(directory: Path) -> dict[str, Any]:
    """A golden's meta.json, read through the bounded reader (:mod:`regress.records`), held to
    the project's meta schema (``schemas/meta.schema.json``: a ``spec`` that is not the case's
    spec, a ``perf`` of the wrong type) and to what judging needs (:func:`meta_problem`).
    Every problem is one line naming the file and the field."""
    from ..records import check, meta_schema, read_json

    p = directory / META_FILE
    meta = read_json(p, max_bytes=MAX_META_BYTES, error=StoreError, missing="missing (every golden needs its meta.json)")
    if not isinstance(meta, dict) or meta.get("schema") != META_SCHEMA:
        raise StoreError(f"{p}: unknown meta schema {meta.get('schema') if isinstance(meta, dict) else None!r}")
    check(meta, meta_schema(), file=p, error=StoreError)  # the types, from the records' own classes
    problem = meta_problem(meta)  # what a schema cannot say: names, ranges, bounds that cannot fail
    if problem:
        raise StoreError(f"{p}: {problem}")
    return meta


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def meta_problem(meta: dict[str, Any]) -> str | None:
    """The first field of a golden's meta.json that is not what regress reads, or None.

    Checked when a golden is loaded, so that a hand-edited or hostile meta is one line naming
    the field, never a traceback in the middle of a judgement; thresholds it carries
    (calibrated noise floor, drift bounds) must lie in their metric's range and be able to
    fail (a bound no output can cross judges nothing)."""
    from ..metrics.catalog import METRICS

    files = meta.get("files")
    if not isinstance(files, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in files.items()):
        return "field 'files' must map file names to sha256 strings"
    for name in files:
        if "/" in name or "\\" in name or name in (".", "..") or name == META_FILE:
            return f"field 'files' names {name!r}, which is not a file of this golden"
    prec = meta.get("precision")
    if prec is not None and not (isinstance(prec, dict) and all(isinstance(v, str) for v in prec.values())):
        return "field 'precision' must map components to dtype names"
    perf = meta.get("perf")
    if perf is not None:
        if not isinstance(perf, dict):
            return "field 'perf' must be an object"
        if perf.get("wall_s") is not None and not _is_number(perf.get("wall_s")):
            return "field 'perf.wall_s' must be a number"
        for key in ("peak_memory", "stages"):
            table = perf.get(key)
            if table is not None and not (isinstance(table, dict) and all(_is_number(v) for v in table.values())):
                return f"field 'perf.{key}' must map stages to numbers"
    for block in ("noise_floor", "drift"):
        rec = meta.get(block)
        if rec is None:
            continue
        if not isinstance(rec, dict):
            return f"field '{block}' must be an object"
        thresholds = rec.get("thresholds")
        if thresholds is None:
            continue
        if not isinstance(thresholds, dict):
            return f"field '{block}.thresholds' must map metrics to numbers"
        for name, value in thresholds.items():
            spec = METRICS.get(name)
            where = f"field '{block}.thresholds.{name}'"
            if spec is None:
                return f"{where}: unknown metric"
            if value in ("inf", "-inf"):
                value = float(value)
            if not _is_number(value) or value != value:
                return f"{where} must be a number, got {value!r}"
            if not spec.low <= value <= spec.high:
                return f"{where} = {value} is outside the metric's range [{spec.low}, {spec.high}]"
            loosest = spec.low if spec.higher_is_better else spec.high
            if value == loosest:
                return f"{where} = {value} can never fail (no output can cross it)"
    for block in ("identity", "platform"):
        if meta.get(block) is not None and not isinstance(meta.get(block), dict):
            return f"field '{block}' must be an object"
    return None


@runtime_checkable
class Store(Protocol):
    """What every golden store implements (:class:`~regress.stores.file.FileStore`,
    :class:`~regress.stores.hf.HfStore`); callers use these members and nothing else."""

    kind: str  # the suite's [store] kind: 'file', 'hf' or 'git'
    revision: str | None  # what the lock pins
    last_publish: Any  # regress.stores.publish.PublishResult of the last publish (its URL), or None

    def platforms(self, case_id: str) -> list[str]:
        """The platform keys that have a golden of ``case_id``."""
        ...

    def get(self, case_id: str, platform: str) -> Golden | None:
        """The verified golden of ``case_id`` on ``platform``; None when there is none."""
        ...

    def entries(self) -> list[tuple[str, str]]:
        """Every (case id, platform) with a golden."""
        ...

    def file(self, relpath: str) -> Path | None:
        """A file outside ``cases/`` (pinned LPIPS weights under ``_metrics/``); None if absent."""
        ...

    def publish(self, staged: list[StagedGolden], *, message: str = "") -> str:
        """Publish goldens as one change and move the lock; the new revision."""
        ...

    def publish_files(self, files: dict[str, bytes], *, message: str = "") -> str:
        """Publish files outside ``cases/`` as one change and move the lock; the new revision."""
        ...


def store_relpath(relpath: str, *, pinning: bool) -> tuple[str, ...]:
    """The parts of a path inside a store, refused in one line when it could leave the store
    (absolute, ``..``) or, for a file being pinned, land among the goldens (``cases/``)."""
    p = Path(relpath)
    parts = p.parts
    if not parts or p.is_absolute() or ".." in parts or "\\" in relpath:
        raise StoreError(f"{relpath!r}: not a path inside the store")
    if pinning and parts[0] == "cases":
        raise StoreError(f"{relpath!r}: not a path this store can pin (outside cases/, inside the store)")
    return parts


def lookup(store: Store, case_id: str, platform: str, *, identity: Any = None) -> tuple[Golden | None, str]:
    """The golden for this platform ('exact'), else a stand-in of the same backend
    ('nearest'), else (None, 'missing').

    Among stand-ins, one whose recorded kernel probe equals this machine's (``identity``, a
    :class:`regress.numerics.Identity`) comes first: it computes what this machine computes,
    so it is judged in the exact regime. Otherwise the nearest key by score."""
    available = store.platforms(case_id)
    if platform in available:
        return store.get(case_id, platform), "exact"
    key = nearest(platform, available)
    if key is None:
        return None, "missing"
    if identity is not None:
        from ..numerics import probe_matches
        from ..platform import score

        for other in sorted((k for k in available if score(platform, k) > 0),
                            key=lambda k: (-score(platform, k), k)):
            g = store.get(case_id, other)
            if g is not None and probe_matches(g.meta.get("identity"), identity):
                return g, "nearest"
    return store.get(case_id, key), "nearest"


def has_output(directory: Path) -> bool:
    return any((directory / n).exists() for n in OUTPUT_FILES)
