"""The blocks of a results.json case record as the report reads them (:mod:`.records` holds
the case record and the document, and says why they are types): the golden it matched, its
metrics, precision and settings diffs, perf, numerics regime, stage checkpoints and A/B judgement.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..json_record import Record
from ..perf_diff import PerfDiff, PerfGate, PerfRecord  # (the verdict's own perf block)

__all__ = ["AbRecord", "Change", "Diff", "GoldenMatch", "MetricRecord", "NumericsRecord", "PerfDiff", "PerfGate",
           "PerfRecord", "ReportRecord", "StageRow"]



@dataclass(frozen=True)
class ReportRecord(Record):
    """A results.json object: an empty nested block is None; ``_tables`` name the fields that
    map a name to a record (``metrics``: metric -> :class:`MetricRecord`)."""

    empty_is_none = True


@dataclass(frozen=True)
class GoldenMatch(ReportRecord):
    """``golden``: the golden a case was judged against (regress.judge)."""

    platform: str | None = None
    match: str | None = field(default=None, metadata={"doc": "'exact', 'nearest', 'missing', ..."})
    revision: str | None = None
    path: str | None = None


@dataclass(frozen=True)
class MetricRecord(ReportRecord):
    """One metric of ``metrics`` (regress.verdict.MetricResult as written)."""

    value: float | None = None
    threshold: float | None = None
    op: str = ""
    source: str | None = None
    passed: bool | None = None
    note: str | None = None

    _numbers = frozenset({"value", "threshold"})


@dataclass(frozen=True)
class Change(ReportRecord):
    """One row of a precision diff (``component``) or a settings diff (``setting``)."""

    component: str | None = None
    setting: str | None = None
    golden: str | None = None
    current: str | None = None


@dataclass(frozen=True)
class Diff(ReportRecord):
    """``precision`` (component -> dtype) or ``settings`` (setting -> value): golden, current, changed."""

    golden: dict[str, str] | None = None
    current: dict[str, str] = field(default_factory=dict)
    changed: list[Change] = field(default_factory=list)

    _nested = {"changed": Change}


@dataclass(frozen=True)
class NumericsRecord(ReportRecord):
    """``numerics``: the regime a case was judged in and the line that says why (regress.numerics)."""

    regime: str | None = field(default=None, metadata={"doc": "'exact' or 'drift'"})
    line: str | None = None
    unmeasured: list[str] | None = field(default=None, metadata={"doc": "metrics judged with guessed drift bounds"})


@dataclass(frozen=True)
class StageRow(ReportRecord):
    """One stage checkpoint's distance from the golden (a non-finite one is the string as written)."""

    key: str | None = None
    cos: float | str | None = None
    rel_l2: float | str | None = None
    note: str | None = None


@dataclass(frozen=True)
class AbRecord(ReportRecord):
    """``ab``: the judgement against the recorded base run (regress.ab.ab_record)."""

    status: str | None = None
    moved: bool | None = None
    against: str | None = None
    revision: str | None = None
    reasons: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    metrics: dict[str, MetricRecord] = field(default_factory=dict)
    precision: Diff | None = None
    settings: Diff | None = None
    perf: PerfDiff | None = None

    _nested = {"precision": Diff, "settings": Diff, "perf": PerfDiff}
    _tables = {"metrics": MetricRecord}
