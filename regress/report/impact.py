"""The impact table of an A/B run: what a change did to each case, as a reviewer reads it.

Why: the pull request regress was born from carried a hand-made table (Qwen-Image peak memory
64098 MB -> 58518 MB, -8.71%, quality acceptable). An A/B run (:mod:`regress.ab`) has every
figure of that table, measured on one machine: per case what changed (dtypes, settings, the
first diverging stage), the output metrics against the base, peak memory and time before and
after. Cases that did not move are counted, not listed. A reader of ``results.json`` only: the
same Markdown goes to ``impact.md``, the GitHub job summary (a PR comment body) and the HTML
report.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from collections.abc import Callable, Mapping
from typing import Any

from .records import AbRecord, CaseResult, PerfRecord, ResultsRecord, results_record
from .summary import as_float

IMPACT_FILE = "impact.md"
_OUTPUT_METRICS = (("ssim", "ssim", "{:.6g}"), ("psnr", "psnr", "{:.4g} dB"), ("max_abs", "max_abs", "{:g}/255"),
                   ("audio_snr", "audio snr", "{:.4g} dB"), ("lpips", "lpips", "{:.4g}"))


def ab_cases(doc: ResultsRecord | Mapping[str, Any]) -> list[CaseResult]:
    """The case records of a results document that carry an A/B judgement."""
    return [c for c in results_record(doc).cases if c.ab is not None]


def _before_after(before: float | None, after: float | None, fmt: Callable[[float], str], unit: str) -> str:
    """'9.47 → 19.89 MiB (+109.9%)'."""
    a, b = as_float(before), as_float(after)
    if a is None and b is None:
        return "–"
    text = f"{fmt(a) if a is not None else '–'} → {fmt(b) if b is not None else '–'}{unit}"
    if a and b is not None:
        text += f" ({(b - a) / a * 100:+.1f}%)"
    return text


def _what_changed(ab: AbRecord) -> str:
    parts = [f"{r.component} {r.golden} → {r.current}" for r in (ab.precision.changed if ab.precision else [])]
    parts += [f"{r.setting} {r.golden} → {r.current}" for r in (ab.settings.changed if ab.settings else [])]
    first = next((r for r in [*ab.reasons, *ab.warnings]
                  if isinstance(r, str) and r.startswith("first divergence: ")), None)
    if first:
        where = first.removeprefix("first divergence: ")
        parts.append("only the decoded output (every checkpoint matches)" if where.startswith("after the last")
                     else f"first diverges in {where.split(' (')[0]}")
    return "; ".join(parts) or "outputs only"


def _metrics(ab: AbRecord) -> str:
    out = []
    for key, label, fmt in _OUTPUT_METRICS:
        m = ab.metrics.get(key)
        v = as_float(m.value) if m is not None else None
        if v is None or (key == "psnr" and math.isinf(v)):
            continue
        out.append(f"{label} {fmt.format(v)}")
    return ", ".join(out) or "–"


def _perf(ab: AbRecord) -> tuple[str, str]:
    """(peak memory, wall time) before and after: the whole call's figures."""
    none = PerfRecord()
    golden = (ab.perf.golden if ab.perf else None) or none
    current = (ab.perf.current if ab.perf else None) or none
    mem = _before_after(golden.peak_memory.get("total"), current.peak_memory.get("total"),
                        lambda v: f"{v / 2**20:.2f}", " MiB")
    return mem, _before_after(golden.wall_s, current.wall_s, lambda v: f"{v:.3g}", " s")


@dataclass(frozen=True)
class ImpactRow:
    """One case that moved, as the table shows it."""

    id: str
    status: str | None
    what: str
    metrics: str
    memory: str
    time: str


@dataclass(frozen=True)
class Impact:
    """The impact table: against what, on which platform, the cases that moved and the rest."""

    against: str
    platform: str
    rows: list[ImpactRow]
    still: int
    missing: list[str]


def impact(doc: ResultsRecord | Mapping[str, Any]) -> Impact | None:
    """The impact of an A/B results document as rows (the HTML report's section and the
    Markdown are both made from it); None when the document has no A/B records."""
    rec = results_record(doc)
    judged = [(c, c.ab) for c in rec.cases if c.ab is not None]
    if not judged:
        return None
    moved = [(c, ab) for c, ab in judged if ab.moved]
    missing = [c.id for c, ab in judged if ab.status == "missing"]
    rows = []
    for c, ab in moved:
        mem, time = _perf(ab)
        rows.append(ImpactRow(c.id, ab.status, _what_changed(ab), _metrics(ab), mem, time))
    return Impact(against=next((ab.against for _, ab in judged if ab.against), "the base"),
                  platform=rec.platform or "this machine", rows=rows,
                  still=len(judged) - len(moved) - len(missing), missing=missing)


def markdown(doc: ResultsRecord | Mapping[str, Any]) -> str:
    """The impact table of an A/B results document ('' when it has no A/B records)."""
    found = impact(doc)
    if found is None:
        return ""
    lines = [f"## Impact against {found.against} on {found.platform}", ""]
    if found.rows:
        lines += ["| case | verdict | what changed | against the base | peak memory | time |",
                  "| --- | --- | --- | --- | --- | --- |"]
        lines += [f"| {r.id} | {r.status} | {_md(r.what)} | {_md(r.metrics)} | {r.memory} | {r.time} |"
                  for r in found.rows]
        lines.append("")
    lines.append(f"{found.still} case(s) did not move (same output bits, dtypes and settings)"
                 + (f"; {len(found.rows)} moved" if found.rows else ": no output moved") + ".")
    if found.missing:
        lines.append(f"{len(found.missing)} case(s) have no run in the base: {', '.join(found.missing)}.")
    return "\n".join(lines) + "\n"


def _md(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")

