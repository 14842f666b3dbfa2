"""Judge a comparison: each metric against its threshold and where that threshold came from,
the precision fingerprint diff, and the perf diff. A :class:`Verdict` is one record of
``results.json`` and the source of every failure message.
"""

from __future__ import annotations

import fnmatch
import math
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any

from .errors import redact
from .metrics.catalog import METRICS, WORST_OF
from .precision import diff_fingerprints
from .status import Status, is_failure
from .suite import Case, Suite

# The statuses by their old names (regress.status.Status is the one declaration).
PASSED, FAILED, MISSING, ERROR = Status.PASSED, Status.FAILED, Status.MISSING, Status.ERROR
SKIPPED, XFAILED, WRITTEN = Status.SKIPPED, Status.XFAILED, Status.WRITTEN


@dataclass(frozen=True)
class Threshold:
    value: float
    source: str  # 'suite default', "platform overlay 'rocm-*'", 'case', 'cross-platform fallback', ...
    # From the suite's [fallback]: a guess, not a measurement of this golden's legal drift. A
    # verdict that leans on one says so, and fails under --golden-strict unless the suite opts in.
    guess: bool = False
    # A bound from the golden's own meta.json (noise floor, drift) looser than META_CAPS: held at the cap.
    capped: bool = False


# The loosest bound a golden's own meta.json may set (calibrated noise floor, measured drift).
# Why: the meta travels with the golden, and a hand edit or a hostile pull request that claims
# bounds accepting anything (ssim 0, psnr 0 dB, lpips 1) must not switch judging off. Each cap
# sits past the loosest drift bound regress has measured for a committed golden (wan-tiny on an
# AVX2 CPU: ssim 0.896, psnr 35.4 dB, mean_abs 3.21, max_abs 48; ltx2-tiny's stages on CUDA:
# cos 0.784, rel L2 1.01), so no measured bound is held; past it a bound is no longer a
# measurement of drift. The suite's own thresholds (case, defaults) are not capped: the suite
# is reviewed code, the meta is data. docs/platform-identity.md explains them.
META_CAPS: dict[str, float] = {
    "ssim": 0.85, "ssim_worst": 0.6, "psnr": 30.0, "psnr_worst": 28.0, "max_abs": 64.0, "mean_abs": 4.0,
    "lpips": 0.1, "lpips_worst": 0.2, "audio_snr": 30.0, "audio_mel": 1.0, "audio_max_abs": 0.1,
    "stage_cos": 0.75, "stage_rel_l2": 1.5,
}


def meta_bound(name: str, value: float, source: str) -> Threshold:
    """A threshold the golden's meta.json sets, held at :data:`META_CAPS` when looser."""
    cap = META_CAPS.get(name)
    spec = METRICS.get(name)
    if cap is None or spec is None or not (value < cap if spec.higher_is_better else value > cap):
        return Threshold(value, source)
    return Threshold(cap, f"{source}, held at the sanity cap {spec.op} {cap:g} (the meta claims {value:g})",
                     capped=True)


def resolve_thresholds(suite: Suite, case: Case | Mapping[str, float], platform: str, *,
                       nearest_from: str | None = None,
                       calibrated: Mapping[str, float] | None = None) -> dict[str, Threshold]:
    """Layer the thresholds: suite default < platform overlays (in file order) < calibrated
    noise floor < case (a suite case, or the thresholds a hand-written test passes). A golden
    borrowed from another platform (``nearest_from``) loosens each metric to the suite's
    ``[fallback]`` value where that is looser."""
    out: dict[str, Threshold] = {k: Threshold(v, "suite default") for k, v in suite.defaults.items()}
    for glob, table in suite.platforms.items():
        if fnmatch.fnmatchcase(platform, glob):
            out.update({k: Threshold(v, f"platform overlay '{glob}'") for k, v in table.items()})
    for k, v in (calibrated or {}).items():
        out[k] = meta_bound(k, float(v), "calibrated")  # meta.json writes infinities as "inf"
    own = case if isinstance(case, Mapping) else case.thresholds
    out.update({k: Threshold(v, "case") for k, v in own.items()})
    if nearest_from:
        for k, v in suite.fallback.items():
            cur = out.get(k)
            spec = METRICS[k]
            looser = cur is None or (v < cur.value if spec.higher_is_better else v > cur.value)
            if looser:
                out[k] = Threshold(v, f"cross-platform fallback (golden from {nearest_from})", guess=True)
    for worst, mean in WORST_OF.items():
        if worst not in out and mean in out:
            out[worst] = Threshold(out[mean].value, f"{out[mean].source} (as {mean})", guess=out[mean].guess)
    return out


def drift_thresholds(exact: Mapping[str, Threshold], suite: Suite,
                     drift: Mapping[str, Any] | None) -> dict[str, Threshold]:
    """The thresholds of the drift regime: each exact-regime threshold loosened to the golden's
    measured drift bound (``regress calibrate --drift``, source ``drift-calibrated``) where that
    is looser; a metric the calibration did not measure (or a golden never drift-calibrated)
    falls back to the suite's ``[fallback]`` value, and its source says that it is a guess.
    Never tighter than the exact regime: drift must not fail what an exact run would pass."""
    bounds = (drift or {}).get("thresholds") if isinstance(drift, Mapping) else None
    bounds = bounds if isinstance(bounds, Mapping) else {}
    label = drift_label(drift) if bounds else None
    out = dict(exact)
    names = set(exact) | {k for k in bounds if k in METRICS} | set(suite.fallback)
    for name in names:
        spec = METRICS.get(name)
        if spec is None:
            continue
        bound = bounds.get(name)
        bound = float(bound) if bound in ("inf", "-inf") or isinstance(bound, (int, float)) else None
        if bound is not None and not math.isnan(bound):
            cand = meta_bound(name, bound, label or "drift-calibrated")
        elif name in suite.fallback:
            cand = Threshold(suite.fallback[name], "suite [fallback] (no measured drift bound: `regress calibrate "
                                                   "--drift`)", guess=True)
        else:
            continue
        cur = out.get(name)
        if cur is None:
            if name in exact or name in bounds:
                out[name] = cand
            continue
        looser = cand.value < cur.value if spec.higher_is_better else cand.value > cur.value
        if looser:
            out[name] = cand
    for worst, mean in WORST_OF.items():  # a worst-frame bound never stays tighter than its mean's
        if mean in out and worst not in bounds and worst not in suite.fallback:
            cur, m = out.get(worst), out[mean]
            if cur is None or (m.value < cur.value if METRICS[worst].higher_is_better else m.value > cur.value):
                out[worst] = Threshold(m.value, f"{m.source} (as {mean})", guess=m.guess, capped=m.capped)
    return out


def drift_label(drift: Mapping[str, Any] | None) -> str:
    """'drift-calibrated on Intel Xeon (spread x2 over 6 kernel paths and 3 goldens)': where the
    bounds came from, in every drift line."""
    if not isinstance(drift, Mapping):
        return "drift-calibrated"
    paths = drift.get("paths") or []
    goldens = drift.get("goldens") or []
    margin = drift.get("margin")
    over = f"{len(paths)} kernel path{'s' if len(paths) != 1 else ''}"
    if goldens:
        over += f" and {len(goldens)} golden{'s' if len(goldens) != 1 else ''}"
    machine = drift.get("machine")
    head = f"drift-calibrated on {machine}" if isinstance(machine, str) and machine else "drift-calibrated"
    return f"{head} (spread x{margin:g} over {over})" if isinstance(margin, (int, float)) else f"{head} (over {over})"


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
    perf: dict[str, Any] = field(default_factory=dict)  # golden, current, ratio
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


def judge_metrics(values: Mapping[str, float], thresholds: Mapping[str, Threshold]) -> dict[str, MetricResult]:
    out: dict[str, MetricResult] = {}
    for name, value in values.items():
        spec = METRICS.get(name)
        th = thresholds.get(name)
        op = spec.op if spec else ""
        if th is None or spec is None:
            # Reported, not gated -- but NaN is never acceptable, gated or not.
            bad = value is None or (isinstance(value, float) and math.isnan(value))
            out[name] = MetricResult(name, value, None, op, None, False if bad else None)
            continue
        out[name] = MetricResult(name, value, th.value, op, th.source, spec.passes(value, th.value))
    return out


def precision_diff(golden: Mapping[str, str] | None, current: Mapping[str, str]) -> dict[str, Any]:
    changed = diff_fingerprints(golden, current)
    return {"golden": dict(golden) if golden is not None else None, "current": dict(current), "changed": changed}


def describe_precision_change(changed: list[dict[str, Any]]) -> str:
    return "precision changed: " + ", ".join(f"{r['component']} {r['golden']} -> {r['current']}" for r in changed)


def _mib(n: float) -> str:
    return f"{n / (1 << 20):.2f} MiB"


def _weights_cause(golden: Mapping[str, int], current: Mapping[str, int]) -> str:
    """Which components' resident weights moved: the part of a peak change that is weights,
    not activations. Empty when either side did not record weights."""
    if not golden or not current:
        return ""
    moved = [f"{k} {_mib(golden[k])} -> {_mib(current[k])}" for k in sorted(set(golden) & set(current))
             if golden[k] != current[k]]
    return f"; weights: {', '.join(moved)}" if moved else "; weights unchanged: activations moved"


def perf_gates(perf: Mapping[str, Any], *, memory_tolerance: float | None,
               time_tolerance: float | None) -> dict[str, dict[str, Any]]:
    """Each gated perf figure of a :func:`perf_diff` result: ``peak_memory.<stage>`` and
    ``wall_s`` -> ``{tolerance, change, passed, text}``. The report marks these rows as gated.

    Peak memory is compared per stage, and only when both sides were measured the same way
    (the CUDA allocator's peak is not comparable with the CPU profiler's). Growth beyond the
    tolerance fails with both figures and the stage; a drop beyond it is an improvement (a
    note, never a failure). Wall time works the same, when switched on.
    """
    golden, current = perf.get("golden") or {}, perf.get("current") or {}
    gates: dict[str, dict[str, Any]] = {}
    if not golden:
        return gates
    if memory_tolerance is not None and golden.get("memory_source") == current.get("memory_source") != "none":
        gm, cm = golden.get("peak_memory") or {}, current.get("peak_memory") or {}
        cause = _weights_cause(golden.get("weights") or {}, current.get("weights") or {})
        for stage in sorted(set(gm) & set(cm)):
            g, c = gm[stage], cm[stage]
            if not g:
                continue
            change = c / g - 1.0
            gates[f"peak_memory.{stage}"] = {
                "tolerance": memory_tolerance, "change": change, "passed": change <= memory_tolerance,
                "text": f"peak memory {stage} {_mib(g)} -> {_mib(c)} ({change:+.1%}, tolerance "
                        f"{memory_tolerance:.0%}, {current.get('memory_source')}){cause}"}
    if time_tolerance is not None and golden.get("wall_s") and current.get("wall_s") is not None:
        change = current["wall_s"] / golden["wall_s"] - 1.0
        gates["wall_s"] = {"tolerance": time_tolerance, "change": change, "passed": change <= time_tolerance,
                           "text": f"wall time {golden['wall_s']:.3f}s -> {current['wall_s']:.3f}s ({change:+.1%}, "
                                   f"tolerance {time_tolerance:.0%})"}
    return gates


def perf_gate(perf: Mapping[str, Any], *, memory_tolerance: float | None,
              time_tolerance: float | None) -> tuple[list[str], list[str]]:
    """(failures, notes) of :func:`perf_gates`."""
    gates = perf_gates(perf, memory_tolerance=memory_tolerance, time_tolerance=time_tolerance)
    return ([g["text"] for g in gates.values() if not g["passed"]],
            ["improvement: " + g["text"] for g in gates.values() if g["change"] < -g["tolerance"]])


def perf_diff(golden: Mapping[str, Any] | None, current: Mapping[str, Any]) -> dict[str, Any]:
    """Golden vs now for wall time and peak memory (ratios current / golden)."""
    ratio: dict[str, float] = {}
    if golden:
        if golden.get("wall_s") and current.get("wall_s") is not None:
            ratio["wall_s"] = current["wall_s"] / golden["wall_s"]
        gm, cm = golden.get("peak_memory") or {}, current.get("peak_memory") or {}
        for stage in sorted(set(gm) & set(cm)):
            if gm[stage]:
                ratio[f"peak_memory.{stage}"] = cm[stage] / gm[stage]
    return {"golden": dict(golden) if golden else None, "current": dict(current), "ratio": ratio}
