"""The one judging step: everything measured about a case in, the verdict's findings out.

Why one place: whether a case failed, and why, must not depend on who asks (the pytest item,
the ``golden`` fixture, ``regress refresh``). The session gathers the evidence (it runs the
pipeline, reads the golden, computes the metrics, probes the kernels); :func:`judge` decides,
with no I/O, from that evidence alone:

1. the numerics regime (:mod:`regress.numerics`): ``exact`` when the kernel probe matches the
   golden's machine, ``drift`` when it does not;
2. the thresholds of that regime with their sources: exact-regime layering
   (:func:`regress.verdict.resolve_thresholds`), loosened in the drift regime to the golden's
   measured drift bounds (:func:`regress.verdict.drift_thresholds`);
3. each metric against its threshold; NaN/Inf never passes;
4. the precision fingerprint, gated exactly in *both* regimes: a dtype change fails whatever
   machine it runs on;
5. peak memory and time, gated only where they mean something: same platform key, exact
   numerics, same backend settings. Otherwise both figures are reported and not gated.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from .numerics import Numerics
from .suite import Case, Suite
from .verdict import (Threshold, Verdict, backend_flag_changes, describe_precision_change, drift_thresholds,
                      judge_metrics, perf_diff, perf_gate, perf_gates, precision_diff, resolve_thresholds)


@dataclass(frozen=True)
class Evidence:
    """What was measured for one case against one golden."""

    case: Case
    platform: str  # this run's key
    golden_platform: str
    golden_meta: Mapping[str, Any]
    numerics: Numerics
    values: Mapping[str, float]  # metric -> value (regress.metrics.compare)
    mismatch: list[str] = field(default_factory=list)
    worst_frame: int | None = None
    worst_frames: Mapping[str, int] = field(default_factory=dict)
    per_frame: Mapping[str, list[float]] = field(default_factory=dict)
    fingerprint: Mapping[str, str] = field(default_factory=dict)
    perf: Mapping[str, Any] = field(default_factory=dict)
    versions: Mapping[str, Any] = field(default_factory=dict)
    stages: list[Any] | None = None  # regress.metrics.stages.StageDistance per checkpoint; None: not compared


def thresholds_for(suite: Suite, case: Case, platform: str, *, golden_platform: str,
                   golden_meta: Mapping[str, Any], regime: str) -> dict[str, Threshold]:
    """The thresholds a case is judged with against this golden in this regime."""
    nearest_from = golden_platform if golden_platform != platform else None
    calibrated = (golden_meta.get("noise_floor") or {}).get("thresholds")
    if regime == "drift":
        # The exact regime's layering without the cross-platform guess: drift bounds replace it.
        exact = resolve_thresholds(suite, case, platform, calibrated=calibrated)
        return drift_thresholds(exact, suite, golden_meta.get("drift"))
    return resolve_thresholds(suite, case, platform, nearest_from=nearest_from, calibrated=calibrated)


def first_divergence(stages: list[Any], thresholds: Mapping[str, Threshold]) -> str | None:
    """'first divergence: text_encode (text_encode/call1/out0: stage_cos 0.9981, needs >= 0.99999)':
    the earliest stage checkpoint outside its thresholds, or (none set) the earliest that
    differs at all. None when every checkpoint matches."""
    th_cos, th_rel = thresholds.get("stage_cos"), thresholds.get("stage_rel_l2")
    for d in stages:
        if d.note:
            return f"first divergence: {d.stage} ({d.key}: {d.note})"
        bad = []
        if d.cos is not None and (d.cos != d.cos or (th_cos is not None and d.cos < th_cos.value)
                                  or (th_cos is None and th_rel is None and d.cos < 1.0)):
            bad.append(f"stage_cos {d.cos:.6g}" + (f", needs >= {th_cos.value:.6g}" if th_cos else ""))
        if d.rel_l2 is not None and (d.rel_l2 != d.rel_l2 or (th_rel is not None and d.rel_l2 > th_rel.value)
                                     or (th_cos is None and th_rel is None and d.rel_l2 > 0.0)):
            bad.append(f"stage_rel_l2 {d.rel_l2:.3g}" + (f", needs <= {th_rel.value:.3g}" if th_rel else ""))
        if bad:
            return f"first divergence: {d.stage} ({d.key}: {'; '.join(bad)})"
    return None


def judge(verdict: Verdict, ev: Evidence, thresholds: Mapping[str, Threshold], *, suite: Suite) -> None:
    """Fill ``verdict`` (metrics, precision, perf, numerics, reasons, warnings) from the
    evidence. LPIPS availability is folded in by the caller beforehand (it names weights)."""
    verdict.numerics = ev.numerics.to_json()
    verdict.metrics.update(judge_metrics({k: v for k, v in ev.values.items() if k not in verdict.metrics},
                                         thresholds))
    verdict.worst_frame = ev.worst_frame
    verdict.per_frame = dict(ev.per_frame)
    verdict.reasons.extend(ev.mismatch)
    if not ev.mismatch and not any(m.threshold is not None for m in verdict.metrics.values()):
        # A check that cannot fail is not a pass: nothing was compared against anything.
        verdict.status = "error"
        verdict.reasons.append(f"no threshold applies to any metric of this {verdict.kind or 'output'} "
                               f"({', '.join(sorted(ev.values)) or 'no metrics'}): nothing was judged; set them in "
                               "the suite's [defaults] (e.g. ssim = 0.9999, max_abs = 2, audio_snr = 60.0) or the "
                               "case's thresholds")
    # frames are counted from 1 in every message, as on the report's scrubber (indices stay 0-based)
    failing = [m.line() + (f" at frame {ev.worst_frames[m.name] + 1}" if m.name in ev.worst_frames else "")
               for m in verdict.metrics.values() if m.passed is False]
    if failing:
        where = f" (worst frame {ev.worst_frame + 1})" if ev.worst_frame is not None else ""
        verdict.reasons.append("; ".join(failing) + where)

    if ev.stages is not None:
        verdict.stages = [{"key": d.key, "cos": d.cos, "rel_l2": d.rel_l2, "note": d.note} for d in ev.stages]
        line = first_divergence(ev.stages, thresholds)
        if line is None and failing and ev.stages and not any(d.note for d in ev.stages):
            last = ev.stages[-1].stage
            line = (f"first divergence: after the last checkpoint ({ev.stages[-1].key}): every intermediate tensor "
                    f"matches the golden, the {'decoded output' if last != 'audio_decode' else 'waveform'} does not")
        if line:
            (verdict.reasons if failing else verdict.warnings).insert(0, line)

    verdict.precision = precision_diff(ev.golden_meta.get("precision"), dict(ev.fingerprint))
    changed = verdict.precision["changed"]
    if changed:
        line = describe_precision_change(changed)
        if suite.fingerprint == "fail":
            verdict.reasons.insert(0, line)  # the cause before its symptoms (the metrics it moved)
        else:
            verdict.warnings.append(line)

    verdict.perf = perf_diff(ev.golden_meta.get("perf"), dict(ev.perf))
    flags = backend_flag_changes((ev.golden_meta.get("platform") or {}).get("versions") or {}, ev.versions)
    if flags:
        verdict.warnings.append("backend settings differ from the golden's: " + "; ".join(flags)
                                + " (they choose the kernels: pixels may move; peak memory and time are not "
                                  "gated against a golden made under other settings)")
    failures, notes = perf_gate(verdict.perf, memory_tolerance=suite.memory_tolerance,
                                time_tolerance=suite.time_tolerance)
    gated = ev.golden_platform == ev.platform and ev.numerics.exact and not flags
    if gated:
        verdict.perf["gates"] = perf_gates(verdict.perf, memory_tolerance=suite.memory_tolerance,
                                           time_tolerance=suite.time_tolerance)
        verdict.reasons.extend(failures)
        verdict.warnings.extend(notes)
    elif failures:
        why = "platform drift" if not ev.numerics.exact else f"golden from {ev.golden_platform}"
        verdict.warnings.append(f"not gated ({why}: memory and time depend on the kernels): " + "; ".join(failures))

    spec_hash = ev.golden_meta.get("spec_hash")
    if spec_hash not in (None, ev.case.spec_hash()):
        verdict.warnings.append("the golden was made from a different case spec (inputs changed since); "
                                f"refresh it with `regress refresh -k {ev.case.id}`")
    if not ev.numerics.exact:
        sources = sorted({m.source for m in verdict.metrics.values() if m.source and m.threshold is not None})
        verdict.numerics["line"] = (verdict.numerics["line"] + "; judged with drift bounds (thresholds from "
                                    + ", ".join(dict.fromkeys(s.split(" (")[0] for s in sources)) + ")")
        if failing and not changed:
            drift = ev.golden_meta.get("drift") or {}
            paths = [p.get("label") for p in drift.get("paths") or [] if isinstance(p, Mapping)]
            measured = (f"its drift bounds were measured on {drift.get('machine') or 'another machine'} over "
                        f"{len(paths)} kernel paths ({', '.join(paths)})") if paths else "it has no measured drift bounds"
            verdict.reasons.append(f"moved beyond platform drift as measured: {measured}; if this machine's path is "
                                   "legal, `regress calibrate --drift` here measures it")
        if ev.golden_platform != ev.platform:
            verdict.numerics["line"] += (f"; golden {ev.golden_platform} stood in (none for {ev.platform}: "
                                         "`regress refresh --only missing` makes this machine's own)")
