"""Judge a comparison: each metric against its threshold and where that threshold came from,
and the precision fingerprint diff (the perf diff is :mod:`regress.perf_diff`'s). A
:class:`Verdict` is one record of ``results.json`` and the source of every failure message.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any

from .errors import redact
from .metrics.catalog import METRICS
from .perf_diff import PerfDiff
from .status import Status, is_failure
from .thresholds import Threshold

# The statuses by their old names (regress.status.Status is the one declaration).
PASSED, FAILED, MISSING, ERROR = Status.PASSED, Status.FAILED, Status.MISSING, Status.ERROR
SKIPPED, XFAILED, WRITTEN = Status.SKIPPED, Status.XFAILED, Status.WRITTEN


@dataclass
class MetricResult:
    name: str = field(metadata={"schema": False})  # the key it is filed under in results.json
    value: float | None
    threshold: float | None
    op: str
    source: str | None
    passed: bool | None  # None: reported, not gated (no threshold)
    note: str | None = None  # e.g. why a gated metric has no value ('unavailable: ...')

    def line(self) -> str:
        unit = METRICS[self.name].unit if self.name in METRICS else ""
        val = _fmt(self.value)
        if self.value is None and self.note:
            return f"{self.name}=n/a ({self.note})"
        if self.threshold is None:
            return f"{self.name}={val}{unit}"
        return f"{self.name}={val}{unit} (needs {self.op} {_fmt(self.threshold)}, {self.source})"


def _fmt(v: float | None) -> str:
    if v is None:
        return "n/a"
    if isinstance(v, float) and (math.isnan(v) or math.isinf(v)):
        return str(v)
    if abs(v) >= 100:
        return f"{v:.2f}"
    return f"{v:.6g}"


@dataclass
class Verdict:
    """Everything known about one case on one platform (a results.json record)."""

    id: str
    platform: str
    status: Status
    kind: str | None = None
    model: str | None = None  # the case's model ('tiny': a random-weight test pipeline, noise by design)
    golden: dict[str, Any] = field(default_factory=dict)  # platform, match, revision, path
    metrics: dict[str, MetricResult] = field(default_factory=dict)
    precision: dict[str, Any] = field(default_factory=dict)  # golden, current, changed
    settings: dict[str, Any] = field(default_factory=dict)  # golden, current, changed (regress.settings)
    perf: PerfDiff | None = None  # golden, current, ratio, gates (regress.perf_diff); None: not judged
    reasons: list[str] = field(default_factory=list)  # why it failed, one line each
    warnings: list[str] = field(default_factory=list)
    worst_frame: int | None = None
    metric_info: dict[str, Any] = field(default_factory=dict)  # e.g. lpips: weights sha256, source, mode
    duration_s: float | None = None
    per_frame: dict[str, list[float]] = field(default_factory=dict)  # video: 'ssim', 'psnr' per frame
    numerics: dict[str, Any] = field(default_factory=dict)  # regime (exact / drift) and why (regress.numerics)
    stages: list[dict[str, Any]] = field(default_factory=list)  # per stage checkpoint: key, cos, rel_l2, note
    bisect: dict[str, Any] = field(default_factory=dict)  # --golden-bisect: regress.bisect.Bisection.to_json()
    ab: dict[str, Any] = field(default_factory=dict)  # --golden-baseline: regress.ab.ab_record()
    reference: dict[str, Any] = field(default_factory=dict)  # judged against this identity's reference (regress.references)

    def derived(self) -> Verdict:
        """A new record from this one, for a step after the judgement (a reference, an A/B,
        the run's duration): the judged verdict itself is final and is never changed."""
        import dataclasses

        return dataclasses.replace(self, reasons=list(self.reasons), warnings=list(self.warnings),
                                   numerics=dict(self.numerics))

    @property
    def failed(self) -> bool:
        return is_failure(self.status, self.reasons)

    def message(self) -> str:
        """Short and complete: what failed, by how much, against what, and what changed."""
        head = f"{self.id} [{self.platform}] {self.status}"
        g = self.golden
        if g.get("match") == "nearest":
            head += f" (nearest golden: {g.get('platform')})"
        parts = list(self.reasons)
        line = self.numerics.get("line")
        if line and (self.numerics.get("regime") == "drift" or (self.reasons and self.status == FAILED)):
            parts.append(line)
        for w in self.warnings:
            parts.append(f"warning: {w}")
        return redact(head + (": " + "; ".join(parts) if parts else ""))

    def to_json(self) -> dict[str, Any]:
        """A fresh JSON-safe dict (no containers shared with the verdict). Built field by
        field: ``dataclasses.asdict`` deep-copies every per-frame list first, which made this
        a visible part of a run's fixed cost. (results.json's record adds the report's media
        records: regress.report.results.)"""
        d = {f.name: getattr(self, f.name) for f in fields(self)}
        d["reasons"] = [redact(r) for r in self.reasons]  # a runner's own message may carry a URL
        d["warnings"] = [redact(w) for w in self.warnings]
        d["metrics"] = {k: {f.name: getattr(m, f.name) for f in fields(m) if f.name != "name"}
                        for k, m in self.metrics.items()}
        d["perf"] = self.perf.to_json() if self.perf is not None else None
        return json_safe(d)


def json_safe(x: Any) -> Any:
    """JSON has no NaN/Infinity: write them as strings so results.json stays strict JSON.
    Returns new dicts and lists throughout."""
    t = type(x)
    if t is float:
        return x if math.isfinite(x) else ("nan" if math.isnan(x) else ("inf" if x > 0 else "-inf"))
    if t is dict or isinstance(x, dict):
        return {k: json_safe(v) for k, v in x.items()}
    if t is list or isinstance(x, (list, tuple)):
        return [json_safe(v) for v in x]
    if isinstance(x, float):  # numpy float64 is a float subclass
        return json_safe(float(x))
    return x


def judge_metrics(values: Mapping[str, float], thresholds: Mapping[str, Threshold], *,
                  skip: Mapping[str, Any] = {}) -> dict[str, MetricResult]:  # noqa: B006 (read only)
    """Each value against its threshold (``skip``: metrics judged already, left out)."""
    out: dict[str, MetricResult] = {}
    for name, value in values.items():
        if name in skip:
            continue
        spec = METRICS.get(name)
        th = thresholds.get(name)
        op = spec.op if spec else ""
        if th is None or spec is None:
            # Reported, not gated -- but NaN is never acceptable, gated or not.
            bad = value is None or (isinstance(value, float) and math.isnan(value))
            out[name] = MetricResult(name, value, None, op, None, False if bad else None)
            continue
        out[name] = MetricResult(name, value, th.value, op, th.source,
                                 value is not None and spec.within(value, th.value))  # (spec.passes, inline)
    return out


def precision_diff(golden: Mapping[str, str] | None, current: Mapping[str, str]) -> dict[str, Any]:
    """The verdict's ``precision`` record: both fingerprints and the components whose observed
    dtype differs, as ``{component, golden, current}`` rows (a component on one side only is a
    change too, ``None`` on the missing side; no golden fingerprint: nothing is known to differ)."""
    changed: list[dict[str, str | None]] = []
    for comp in sorted(set(golden) | set(current)) if golden is not None else ():
        g, c = golden.get(comp), current.get(comp)  # type: ignore[union-attr]
        if g != c:
            changed.append({"component": comp, "golden": g, "current": c})
    return {"golden": dict(golden) if golden is not None else None, "current": dict(current), "changed": changed}


def describe_precision_change(changed: list[dict[str, Any]]) -> str:
    return "precision changed: " + ", ".join(f"{r['component']} {r['golden']} -> {r['current']}" for r in changed)
