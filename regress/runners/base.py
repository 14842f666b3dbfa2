"""The runner contract: a case and a device in, an :class:`RunResult` out.

Built-in diffusers families and custom engines implement the same protocol, so the rest of
regress (compare, verdict, report, refresh) never knows which engine produced an output.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from ..outputs import Output
from ..suite import Case

if TYPE_CHECKING:
    from ..golden_records import PerfRecord


@dataclass
class Perf:
    """How long a run took and how much memory it needed.

    ``stages`` maps a stage name ('text_encode', 'denoise', 'decode', 'audio_decode') to its
    wall seconds; ``peak_memory`` maps the same names (and 'total') to peak bytes allocated
    by torch during that stage. ``memory_source`` says how memory was measured
    ('cuda.max_memory_allocated', 'profiler', or 'none').
    """

    wall_s: float
    stages: dict[str, float] = field(default_factory=dict)
    peak_memory: dict[str, int] = field(default_factory=dict)
    memory_source: str = "none"
    build_s: float | None = None
    # Resident bytes per component after the call (parameters and buffers): the part of a peak
    # that is weights, so a memory verdict can say whether weights or activations moved.
    weights: dict[str, int] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        d = {"wall_s": self.wall_s, "stages": self.stages, "peak_memory": self.peak_memory,
             "memory_source": self.memory_source, "build_s": self.build_s}
        if self.weights:
            d["weights"] = self.weights
        return d

    def record(self) -> PerfRecord:
        """:meth:`to_json` as the record a golden keeps (what judging compares): every key
        present, nothing to convert (these are numbers and tables already)."""
        from ..golden_records import PerfRecord

        d = self.to_json()
        return PerfRecord(**d, present=tuple(d))

    @classmethod
    def from_json(cls, d: Mapping[str, Any] | None) -> Perf | None:
        if not d:
            return None
        return cls(wall_s=float(d.get("wall_s", 0.0)), stages=dict(d.get("stages", {})),
                   peak_memory={k: int(v) for k, v in d.get("peak_memory", {}).items()},
                   memory_source=d.get("memory_source", "none"), build_s=d.get("build_s"),
                   weights={k: int(v) for k, v in d.get("weights", {}).items()})


@dataclass
class RunResult:
    output: Output
    fingerprint: dict[str, str]  # component -> observed dtype ('bf16', 'mixed(bf16,fp32)', ...)
    perf: Perf
    versions: dict[str, str] = field(default_factory=dict)  # torch, diffusers, ... for provenance
    # The engine's precision settings (regress.settings): TF32, SDPA backends, autocast, replaced
    # torch functions, ... at the call's start, and NAME@STAGE where a stage began with another value.
    settings: dict[str, str] = field(default_factory=dict)


@runtime_checkable
class Runner(Protocol):
    """What a pipeline family (or a custom engine) provides.

    ``default_precision`` is the family's per-component dtype table (component -> 'bf16', ...);
    a case's ``precision`` and ``--golden-precision`` override entries of it, and only its
    components may be named. ``run`` is called once per case; ``build`` once per
    (model, revision, precision, device) per process: the session caches what it returns.
    """

    name: str
    output_kind: str  # 'image', 'video', 'audio', 'video+audio' or 'mesh'
    default_precision: Mapping[str, str]

    def build(self, case: Case, precision: Mapping[str, str], device: str) -> Any: ...

    def run(self, pipe: Any, case: Case, device: str) -> RunResult: ...
