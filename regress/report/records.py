"""A results.json document as the report reads it: typed, read-only records, parsed once.

Why types and not the dicts ``json.loads`` gives: the page, the GitHub summary and
annotations, the impact table and the merge each read a case record's blocks (perf, numerics,
the golden it matched, metrics, precision and settings diffs, stages, the A/B judgement), and as
dicts every reader repeated its own ``.get(...) or {}``. Here a document is parsed once where a
view of the report starts (:func:`results_record`); one read from a file is first checked
against a schema made from these same classes (:mod:`regress.schema`, as
:mod:`regress.golden_records` is), so that a block of the wrong type is one line naming the file
and the field. Readers use attributes.

The blocks are :class:`regress.verdict.Verdict`'s (``Verdict.to_json``; plain dicts there) and
the report media (:mod:`.media_records`). Only the fields the report reads are declared; any
other key (a newer regress's field) loads, kept in ``extra``. An empty block (``{}``: the verdict
has not filled it) reads as None. A non-finite metric value or perf figure (the string
``"nan"``/``"inf"``) reads as a float; stage distances and per-frame values keep the string
(the page shows and scripts them as written).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from ..records import check
from ..schema import schema_of
from .blocks import (AbRecord, Change, Diff, GoldenMatch, MetricRecord, NumericsRecord, PerfDiff, PerfGate, PerfRecord,
                     ReportRecord, StageRow)
from .media_records import CaseMedia

__all__ = ["AbRecord", "CaseResult", "Change", "CoverageRecord", "Diff", "GoldenMatch", "MetricRecord",
           "NumericsRecord", "PerfDiff", "PerfGate", "PerfRecord", "ResultsRecord", "RunInfo", "StageRow",
           "case_result", "results_record"]



@dataclass(frozen=True)
class CaseResult(ReportRecord):
    """A results.json case record: one case on one platform (regress.models.CaseRecord)."""

    id: str = ""
    platform: str = ""
    status: str = ""
    kind: str | None = None
    model: str | None = None
    golden: GoldenMatch | None = None
    metrics: dict[str, MetricRecord] = field(default_factory=dict)
    precision: Diff | None = None
    settings: Diff | None = None
    perf: PerfDiff | None = None
    reasons: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    worst_frame: int | None = None
    duration_s: float | None = None
    per_frame: dict[str, list[float | str]] = field(default_factory=dict, metadata={
        "doc": "as written: the page's script reads them ('nan' stays a string)"})
    numerics: NumericsRecord | None = None
    stages: list[StageRow] = field(default_factory=list)
    ab: AbRecord | None = None
    reference: AbRecord | None = field(default=None, metadata={"doc": "judged against this machine's reference "
                                                                      "too (regress.references)"})
    files: dict[str, str] = field(default_factory=dict)
    media: CaseMedia | None = None

    _nested = {"golden": GoldenMatch, "precision": Diff, "settings": Diff, "perf": PerfDiff,
               "numerics": NumericsRecord, "stages": StageRow, "ab": AbRecord, "reference": AbRecord, "media": CaseMedia}
    _tables = {"metrics": MetricRecord}
    _numbers = frozenset({"duration_s"})

    @property
    def regime(self) -> str | None:
        return self.numerics.regime if self.numerics else None

    @property
    def numerics_line(self) -> str | None:
        return self.numerics.line if self.numerics else None


@dataclass(frozen=True)
class RunInfo(ReportRecord):
    """One run of the document (regress.models.RunRecord)."""

    platform: str | None = None
    revision: str | None = None
    shard: str | None = None
    worker: str | None = None
    created: str | None = None
    selected: list[str] = field(default_factory=list)
    goldens_used: list[list[str]] = field(default_factory=list)
    summary: dict[str, int] = field(default_factory=dict)
    source: str | None = None


@dataclass(frozen=True)
class CoverageRecord(ReportRecord):
    """``coverage`` of a merged document (regress.models.Coverage)."""

    platforms: list[str] = field(default_factory=list)
    cases: list[str] = field(default_factory=list)
    missing: list[list[str]] = field(default_factory=list)
    complete: bool | None = None
    enforced: bool | None = None


@dataclass(frozen=True)
class ResultsRecord(ReportRecord):
    """results.json (regress.models.ResultsDocument); every field may be absent (a view of a
    few records, e.g. the terminal's impact table, is a document too)."""

    schema: int | None = None
    regress_version: str | None = None
    suite: str | None = None
    platform: str | None = None
    platforms: list[str] = field(default_factory=list)
    revision: str | None = None
    created: str | None = None
    summary: dict[str, int] = field(default_factory=dict)
    cases: list[CaseResult] = field(default_factory=list)
    runs: list[RunInfo] = field(default_factory=list)
    store_entries: list[list[str]] | None = None
    coverage: CoverageRecord | None = None
    unused_goldens: list[list[str]] | None = None
    warnings: list[str] = field(default_factory=list)

    _nested = {"cases": CaseResult, "runs": RunInfo, "coverage": CoverageRecord}


@cache
def _case_schema() -> Mapping[str, Any]:
    out = schema_of(CaseResult, json_floats=True)
    # The media and the per-frame values have their own schema in results.schema.json
    # (regress.models), which read_results checks a file against; here they are only passed to
    # the page (hundreds of numbers, not walked again on every report), and in a document of
    # this process the writer's audio envelopes are tuples (regress.report.results.case_record).
    out["properties"]["media"] = {"type": ["object", "null"]}
    out["properties"]["per_frame"] = {"type": "object"}
    return out


@cache
def _results_schema() -> Mapping[str, Any]:
    out = schema_of(ResultsRecord, json_floats=True)
    out["properties"]["cases"] = {"type": "array", "items": _case_schema()}
    return out


def results_record(doc: ResultsRecord | Mapping[str, Any], *, file: str | Path | None = None) -> ResultsRecord:
    """The typed record of a results document (itself when it is one already).

    ``file``: the document was read from that file (someone else may have written it): it is
    checked first, and a field of the wrong type raises :class:`~regress.errors.RegressError`,
    one line naming the file and the field. Without it the document is this process's own
    (``results_doc`` from its verdicts, a merge of checked files): parsed, not walked again,
    which would cost more than rendering the page (7.6 ms against 5.1 ms for the tiny suite's
    ten cases, 2-core CPU machine)."""
    if isinstance(doc, ResultsRecord):
        return doc
    if file is not None:
        check(doc, _results_schema(), file=file)
    return ResultsRecord.from_json(doc)


def case_result(case: CaseResult | Mapping[str, Any], *, file: str | Path | None = None,
                where: str = "") -> CaseResult:
    """The typed record of one case record (``file``: checked first, see :func:`results_record`)."""
    if isinstance(case, CaseResult):
        return case
    if file is not None:
        check(case, _case_schema(), file=file, field=where)
    return CaseResult.from_json(case)
