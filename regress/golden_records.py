"""A golden's records as runtime types: its meta.json and the blocks in it (perf, numerics
identity, calibrated noise floor, measured drift bounds).

Why types and not the dicts ``json.loads`` gives: judging, staging, bisect and the report each
read these blocks, and as dicts every reader repeated its own ``.get(...) or {}`` and
``isinstance`` checks, each a little differently. Here a record is parsed once, where the
golden is read (:func:`regress.stores.base.load_meta` has checked it against the schema made
from these same classes), and readers use attributes.

Why plain frozen dataclasses (not msgspec, not pydantic): ``import regress.judge`` loads these
in every pytest run of an environment; the dataclasses cost nothing extra to import (measured:
``python -X importtime -c "import regress.judge"``, see docs/architecture.md), and
:mod:`regress.schema` already emits JSON Schema from them (``schemas/meta.schema.json``).

Each record writes back exactly the JSON it was read from (:class:`regress.json_record.Record`):
re-serialising every committed golden's meta.json through these types gives the same bytes
(tests/test_golden_records.py).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from .json_record import Record

__all__ = ["DriftPair", "DriftPath", "DriftRecord", "GoldenMeta", "GoldenPlatform", "IdentityRecord",
           "NoiseFloorRecord", "NoiseRun", "PerfRecord", "Record"]

_SHA256 = {"pattern": "^[0-9a-f]{64}$"}


@dataclass(frozen=True)
class PerfRecord(Record):
    """``perf``: what the golden's run cost (regress.runners.measurement.Perf.to_json)."""

    wall_s: float | None = None
    build_s: float | None = None
    memory_source: str | None = field(default=None, metadata={"doc": "how peak memory was measured: 'cuda', "
                                                                      "'profiler', 'none'"})
    peak_memory: dict[str, float] = field(default_factory=dict, metadata={"doc": "stage -> peak bytes"})
    stages: dict[str, float] = field(default_factory=dict, metadata={"doc": "stage -> seconds"})
    weights: dict[str, float] | None = field(default=None, metadata={"doc": "component -> resident weight bytes"})

    _numbers = frozenset({"wall_s", "build_s"})


@dataclass(frozen=True)
class IdentityRecord(Record):
    """``identity``: the numerics identity of the machine that made the golden
    (:class:`regress.numerics.Identity` is the same record, as this machine measures it)."""

    schema: int | None = None
    device: str | None = None
    digest: str | None = None
    installed: dict[str, str] = field(default_factory=dict, metadata={"doc": "library versions, device, settings"})
    probe: dict[str, str] = field(default_factory=dict, metadata={"doc": "kernel probe op -> digest"})
    probe_ms: float | None = None

    @property
    def machine(self) -> str | None:
        """The GPU or CPU model it names (what 'another machine' means), or None."""
        name = self.installed.get("gpu.name") or self.installed.get("cpu.model")
        return str(name) if name else None


@dataclass(frozen=True)
class NoiseRun(Record):
    """One run of a noise-floor calibration, or one pair of outputs a drift calibration compared."""

    label: str | None = None
    values: dict[str, float] = field(default_factory=dict)

    _numbers = frozenset({"values"})


@dataclass(frozen=True)
class NoiseFloorRecord(Record):
    """``noise_floor``: what ``regress calibrate`` measured on the golden's platform;
    ``thresholds`` (None until ``--write``) are the calibrated bounds judging layers in."""

    schema: int | None = None
    thresholds: dict[str, float] | None = None
    lpips_weights: dict[str, str] | None = None
    platform: str | None = None
    device: str | None = None
    created: str | None = None
    regress_version: str | None = None
    runs: list[NoiseRun] = field(default_factory=list)
    floor: dict[str, float] = field(default_factory=dict)
    quantum: dict[str, float] = field(default_factory=dict)
    suggested: dict[str, float] = field(default_factory=dict)
    bit_identical: bool | None = None
    margin: float | None = None
    rule: str | None = None
    not_written: list[str] = field(default_factory=list)

    _nested = {"runs": NoiseRun}
    _numbers = frozenset({"thresholds", "floor", "quantum", "suggested", "margin"})


@dataclass(frozen=True)
class DriftPath(Record):
    """One legal kernel path a drift calibration ran."""

    label: str | None = None
    platform: str | None = None
    probe: str | None = None
    runs: int | None = None
    modes: int | None = None


@dataclass(frozen=True)
class DriftPair(Record):
    """Two outputs a drift calibration compared (kernel paths or stored goldens)."""

    a: str | None = None
    b: str | None = None
    values: dict[str, float] = field(default_factory=dict)

    _numbers = frozenset({"values"})


@dataclass(frozen=True)
class DriftRecord(Record):
    """``drift``: the bounds ``regress calibrate --drift`` measured over the legal kernel paths
    of the golden's backend; ``thresholds`` loosen judging in the drift regime."""

    schema: int | None = None
    thresholds: dict[str, float] | None = None
    machine: str | None = None
    device: str | None = None
    margin: float | None = None
    paths: list[DriftPath] = field(default_factory=list)
    goldens: list[str] = field(default_factory=list)
    pairs: list[DriftPair] = field(default_factory=list)
    spread: dict[str, float] = field(default_factory=dict)
    quantum: dict[str, float] = field(default_factory=dict)
    bimodal: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    rule: str | None = None
    created: str | None = None
    regress_version: str | None = None

    _nested = {"paths": DriftPath, "pairs": DriftPair}
    _numbers = frozenset({"thresholds", "spread", "quantum", "margin"})

    @property
    def path_labels(self) -> list[str]:
        return [p.label for p in self.paths if isinstance(p, DriftPath) and p.label]


@dataclass(frozen=True)
class GoldenPlatform(Record):
    """``platform``: the platform key and library versions of the machine that made the golden
    (:class:`regress.platform.PlatformInfo` as written)."""

    key: str | None = None
    backend: str | None = None
    arch: str | None = None
    device: str | None = None
    device_name: str | None = None
    versions: dict[str, str] = field(default_factory=dict)

    open_record = False  # as strict as PlatformInfo, which writes it


@dataclass(frozen=True)
class GoldenMeta(Record):
    """meta.json beside a golden's files: what made it, on what, and how to check it."""

    # Required by the schema (models.meta_schema); defaults here so that a golden a test builds
    # in memory, with only the blocks it is about, still reads.
    schema: Literal[1] = 1
    case: str = ""
    files: dict[str, str] = field(default_factory=dict, metadata={"schema": {"additionalProperties": {"type": "string", **_SHA256}},
                                            "doc": "file name -> sha256 of its bytes"})
    spec_hash: str | None = field(default=None, metadata={"schema": {"anyOf": [{"type": "string", **_SHA256},
                                                                               {"type": "null"}]}})
    spec: dict[str, Any] = field(default_factory=dict)  # refined in models.meta_schema(): the case's spec fields
    platform: GoldenPlatform | None = None
    identity: IdentityRecord | None = None
    precision: dict[str, str] | None = None
    settings: dict[str, str] | None = field(default=None, metadata={
        "doc": "the engine's precision settings (regress.settings): TF32, SDPA backends, autocast, ..."})
    kind: str | None = None
    shapes: dict[str, list[int]] = field(default_factory=dict)
    fps: float | None = None
    sample_rate: int | None = None
    perf: PerfRecord | None = None
    noise_floor: NoiseFloorRecord | None = None
    drift: DriftRecord | None = None
    reference: dict[str, Any] | None = field(default=None, metadata={
        "doc": "a reference (refs/...): the reviewed golden it was judged against and its provenance"})
    lpips_weights: dict[str, str] | None = field(default=None, metadata={
        "doc": "the LPIPS weights it is judged with (regress.metrics.lpips_weights.LpipsWeights.to_json)"})
    created: str | None = None
    regress_version: str | None = None
    source_commit: str | None = None

    _nested = {"platform": GoldenPlatform, "identity": IdentityRecord, "perf": PerfRecord,
               "noise_floor": NoiseFloorRecord, "drift": DriftRecord}
    _numbers = frozenset({"fps"})
    open_record = False  # the committed schema is strict; records.meta_schema lets a newer regress's keys through

    @property
    def lpips_sha256(self) -> str | None:
        """The LPIPS weights the golden was calibrated (else recorded) with, if any."""
        for rec in (self.noise_floor.lpips_weights if self.noise_floor is not None else None, self.lpips_weights):
            if rec is not None and isinstance(rec.get("sha256"), str):
                return rec["sha256"]
        return None

    @property
    def versions(self) -> dict[str, str]:
        return self.platform.versions if self.platform is not None else {}

    @property
    def machine(self) -> str | None:
        """The GPU or CPU model that made the golden (its identity, else the device its
        provenance names, for a golden from before identities); None when nothing says."""
        if self.identity is not None and self.identity.machine:
            return self.identity.machine
        dev = self.versions.get("device")
        return str(dev) if dev else None


EMPTY_META = GoldenMeta(schema=1, case="", files={})
