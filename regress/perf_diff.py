"""A verdict's ``perf`` block as a record: the golden's and this run's cost, their ratios, and
the figures gated against the suite's tolerances.

Why typed here and not a dict: judging reads both sides' :class:`PerfRecord` (memory source,
peak per stage, resident weights) and the report reads the same block back from results.json;
one declaration serves the judge, the verdict's JSON, the results schema and the report
(:mod:`regress.report.blocks` re-exports these). Peak memory is compared per stage and only
when both sides measured it the same way (the CUDA allocator's peak is not comparable with the
CPU profiler's); growth beyond the tolerance fails with both figures and the stage, a drop
beyond it is an improvement (a note, never a failure). Wall time works the same when switched on.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from .golden_records import PerfRecord
from .json_record import Record

__all__ = ["PerfDiff", "PerfGate", "PerfRecord", "perf_diff"]


@dataclass(frozen=True)
class PerfGate(Record):
    """A gated perf figure: ``change`` is current / golden - 1."""

    tolerance: float | None = None
    change: float | None = None
    passed: bool | None = None
    text: str | None = None

    _numbers = frozenset({"tolerance", "change"})


@dataclass(frozen=True)
class PerfDiff(Record):
    """``perf``: the golden's and this run's cost (``golden`` None: the golden recorded none;
    ``current`` None: nothing measured), ``ratio`` current / golden per figure, and ``gates``:
    the figures judged against a tolerance (empty where perf is not gated: another platform,
    the drift regime, a changed setting)."""

    golden: PerfRecord | None = None
    current: PerfRecord | None = None
    ratio: dict[str, float] = field(default_factory=dict)
    gates: dict[str, PerfGate] = field(default_factory=dict, metadata={"doc": "'wall_s', 'peak_memory.<stage>'"})

    _nested = {"golden": PerfRecord, "current": PerfRecord}
    _tables = {"gates": PerfGate}
    _numbers = frozenset({"ratio"})
    empty_is_none = True  # an empty side: older verdicts wrote {} for "nothing measured"

    def check(self, *, memory_tolerance: float | None, time_tolerance: float | None) -> dict[str, PerfGate]:
        """Each figure judged against its tolerance: ``peak_memory.<stage>`` and ``wall_s``."""
        golden, current = self.golden, self.current
        gates: dict[str, PerfGate] = {}
        if golden is None or current is None:
            return gates
        if memory_tolerance is not None and golden.memory_source == current.memory_source != "none":
            gm, cm = golden.peak_memory, current.peak_memory
            cause = _weights_cause(golden.weights or {}, current.weights or {})
            for stage in sorted(set(gm) & set(cm)):
                g, c = gm[stage], cm[stage]
                if not g:
                    continue
                change = c / g - 1.0
                gates[f"peak_memory.{stage}"] = PerfGate(
                    tolerance=memory_tolerance, change=change, passed=change <= memory_tolerance,
                    text=f"peak memory {stage} {_mib(g)} -> {_mib(c)} ({change:+.1%}, tolerance "
                         f"{memory_tolerance:.0%}, {current.memory_source}){cause}")
        if time_tolerance is not None and golden.wall_s and current.wall_s is not None:
            change = current.wall_s / golden.wall_s - 1.0
            gates["wall_s"] = PerfGate(
                tolerance=time_tolerance, change=change, passed=change <= time_tolerance,
                text=f"wall time {golden.wall_s:.3f}s -> {current.wall_s:.3f}s ({change:+.1%}, "
                     f"tolerance {time_tolerance:.0%})")
        return gates


def perf_diff(golden: PerfRecord | None, current: PerfRecord | None) -> PerfDiff:
    """Golden vs now for wall time and peak memory (ratios current / golden), not gated yet."""
    ratio: dict[str, float] = {}
    if golden is not None and current is not None:
        if golden.wall_s and current.wall_s is not None:
            ratio["wall_s"] = current.wall_s / golden.wall_s
        gm, cm = golden.peak_memory, current.peak_memory
        for stage in sorted(set(gm) & set(cm)):
            if gm[stage]:
                ratio[f"peak_memory.{stage}"] = cm[stage] / gm[stage]
    return PerfDiff(golden=golden, current=current, ratio=ratio)


def gate_lines(gates: Mapping[str, PerfGate]) -> tuple[list[str], list[str]]:
    """(failures, notes) of judged figures: growth beyond the tolerance, and improvements."""
    return ([g.text or "" for g in gates.values() if not g.passed],
            ["improvement: " + (g.text or "") for g in gates.values()
             if g.change is not None and g.tolerance is not None and g.change < -g.tolerance])


def _mib(n: float) -> str:
    return f"{n / (1 << 20):.2f} MiB"


def _weights_cause(golden: Mapping[str, float], current: Mapping[str, float]) -> str:
    """Which components' resident weights moved: the part of a peak change that is weights,
    not activations. Empty when either side did not record weights."""
    if not golden or not current:
        return ""
    moved = [f"{k} {_mib(golden[k])} -> {_mib(current[k])}" for k in sorted(set(golden) & set(current))
             if golden[k] != current[k]]
    return f"; weights: {', '.join(moved)}" if moved else "; weights unchanged: activations moved"
