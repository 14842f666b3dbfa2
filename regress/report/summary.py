"""What every view of a report agrees on: the order of cases (failures first), the one metric
that best says how bad a case is, and the case-by-platform grid of a merged report.

The HTML page, the GitHub job summary and the merge command's console line all read these,
so a case that is first in one is first in all.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from ..status import is_failure, rank
from .records import CaseResult, MetricRecord, case_result

__all__ = ["rank", "is_bad", "case_rank", "sort_cases", "worst_text", "cell_text", "grid"]


def is_bad(case: CaseResult) -> bool:
    """:func:`regress.status.is_failure` of a case record."""
    return is_failure(case.status, case.reasons)


def case_rank(case: CaseResult) -> int:
    return rank("failed") if is_bad(case) and case.status == "missing" else rank(case.status)


def sort_cases(cases: Iterable[CaseResult]) -> list[CaseResult]:
    """Failures first, then by id and platform (stable across runs)."""
    return sorted(cases, key=lambda c: (case_rank(c), c.id, c.platform))


def as_float(x: Any) -> float | None:
    """results.json writes non-finite numbers as strings: read them back as floats."""
    if isinstance(x, bool) or x is None:
        return None
    if isinstance(x, (int, float)):
        return float(x)
    if isinstance(x, str):
        try:
            return float(x)
        except ValueError:
            return None
    return None


def headroom(m: MetricRecord) -> float:
    """How far a metric is from its threshold, in units of the threshold's slack (negative:
    failing). SSIM-like scores are measured against their distance from 1 so that 0.9990 vs
    0.9999 reads as far out, not as 0.1% away."""
    v, t = as_float(m.value), as_float(m.threshold)
    if v is None or math.isnan(v):
        return -math.inf
    if t is None:
        return math.inf
    higher = m.op == ">="
    diff = (v - t) if higher else (t - v)
    if math.isinf(diff):
        return diff
    scale = (1.0 - t) if higher and t < 1.0 and t > 0.5 else abs(t)
    return diff / max(scale, 1e-9)


def worst_metric(case: CaseResult) -> tuple[str, MetricRecord] | None:
    """The gated metric with the least headroom (the most failing one when any fails)."""
    gated = [(k, m) for k, m in case.metrics.items() if m.threshold is not None or m.passed is False]
    if not gated:
        return None
    return min(gated, key=lambda km: (headroom(km[1]), km[0]))


def fmt_value(x: Any) -> str:
    f = as_float(x)
    if f is None:
        return "n/a" if x is None else str(x)
    if math.isnan(f) or math.isinf(f):
        return str(x)
    if f == int(f) and abs(f) < 1e6:
        return str(int(f))
    return f"{f:.2f}" if abs(f) >= 100 else f"{f:.6g}"


def worst_text(case: CaseResult) -> str:
    """'ssim 0.9812 (needs >= 0.9999)' or '' when nothing is gated."""
    w = worst_metric(case)
    if w is None:
        return ""
    name, m = w
    if m.threshold is None:
        return f"{name} {fmt_value(m.value)}"
    return f"{name} {fmt_value(m.value)} (needs {m.op} {fmt_value(m.threshold)})"


def first_reason(case: CaseResult) -> str:
    return str(case.reasons[0]) if case.reasons else ""


CELL_CHARS = 140  # a table cell names the reason; the case card has it in full


def cell_text(case: CaseResult) -> str:
    """What a case's cell in a table says: for a case that failed (or was expected to), the
    reason it failed: the failing metric against its threshold, or else the first reason (peak
    memory, a precision change, an error); never a passing metric. A passing case shows its
    tightest metric."""
    if case.reasons and case.status != "passed":
        w = worst_metric(case)
        if w is not None and w[1].passed is False:
            return worst_text(case)
        text = first_reason(case)
        return text if len(text) <= CELL_CHARS else text[:CELL_CHARS - 3].rstrip() + "..."
    return worst_text(case)


def grid(cases: Sequence[CaseResult], platforms: Sequence[str]) -> list[tuple[str, dict[str, list[CaseResult]]]]:
    """Rows of (case id, {platform: records}) ordered by each row's worst record, so that a
    case failing on any platform leads the table whatever the others say."""
    rows: dict[str, dict[str, list[CaseResult]]] = {}
    for c in cases:
        rows.setdefault(c.id, {p: [] for p in platforms}).setdefault(c.platform, []).append(c)

    def key(item: tuple[str, dict[str, list[CaseResult]]]) -> tuple[int, str]:
        recs = [r for rs in item[1].values() for r in rs]
        return (min((case_rank(r) for r in recs), default=99), item[0])

    return sorted(rows.items(), key=key)


def drift_lines(cases: Iterable[CaseResult]) -> list[str]:
    """One line per case record judged in the drift regime, passed ones too: a user must see
    that a case was judged against another machine's golden, with drift bounds."""
    return [f"{c.id} [{c.platform}] {c.status}: {c.numerics_line}" for c in cases if c.regime == "drift"]


def write_drift_lines(terminalreporter: Any, records: Iterable[CaseResult | Mapping[str, Any]]) -> None:
    """The terminal summary's drift section (the plugin's, and the xdist controller's), from
    case records as results.json holds them (parsed here, once)."""
    cases = [case_result(c) for c in records]
    lines = drift_lines(cases)
    if lines:
        unmeasured = sum(1 for c in cases if c.numerics is not None and c.numerics.unmeasured)
        referenced = sum(1 for c in cases if c.regime == "drift" and c.reference is not None)
        terminalreporter.write_sep("-", f"regress: {len(lines)} judged in the drift regime"
                                   + (f" ({referenced} of them exactly against this machine's references too)"
                                      if referenced else "")
                                   + (f", {unmeasured} of them WITHOUT measured drift bounds (guessed from "
                                      "[fallback])" if unmeasured else ""))
        for line in lines:
            terminalreporter.write_line(line)
