"""The one judging step: everything measured about a case in, the verdict's findings out.

Why one place: whether a case failed, and why, must not depend on who asks (the pytest item,
the ``golden`` fixture, ``regress refresh``, ``regress compare``, bisect). The caller gathers the
evidence (:mod:`regress.evidence`: it reads the golden, computes the metrics, probes the
kernels); :func:`judge` decides, with no I/O, from what it is handed, and returns a new
:class:`~regress.verdict.Verdict`:

1. the numerics regime (:mod:`regress.numerics`): ``exact`` when the kernel probe matches the
   golden's machine, ``drift`` when it does not;
2. the thresholds of that regime with their sources (:mod:`regress.thresholds`,
   :func:`thresholds_for`): exact-regime layering, loosened in the drift regime to the golden's
   measured drift bounds; LPIPS gated only where the suite asks for it (:mod:`regress.lpips_policy`);
3. each metric against its threshold; NaN/Inf never passes;
4. the precision fingerprint and the engine's precision settings (:mod:`regress.settings`),
   gated exactly in *both* regimes: a dtype change, TF32 switched on, another SDPA backend
   set, a wrapped attention function fail whatever machine they run on (unless the suite
   allows the setting);
5. peak memory and time, gated only where they mean something: same platform key, exact
   numerics, same settings. Otherwise both figures are reported and not gated.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from .numerics import EXACT, Numerics
from .suite import Case, Suite
from .settings import describe_changes, diff_settings, golden_settings, is_allowed
from .thresholds import Threshold, thresholds_for
from .perf_diff import gate_lines, perf_diff
from .verdict import ERROR, FAILED, MISSING, PASSED, Verdict, describe_precision_change, judge_metrics, precision_diff

__all__ = ["Evidence", "Subject", "first_divergence", "judge", "thresholds_for"]

if TYPE_CHECKING:
    from .golden_records import PerfRecord
    from .metrics.compare import Comparison
    from .lpips_policy import LpipsSetup
    from .metrics.stages import StageDistance
    from .outputs import Output
    from .runners.base import RunResult
    from .stores.base import Golden


@dataclass(frozen=True)
class Subject:
    """What is judged: a suite case's run, or an output a hand-written test hands the
    ``golden`` fixture (no spec, no perf: nothing is invented for it)."""

    id: str
    output: Output
    fingerprint: Mapping[str, str] = field(default_factory=dict)
    perf: PerfRecord | None = None  # what the run cost (as a golden records it); None: not measured
    versions: Mapping[str, Any] = field(default_factory=dict)
    settings: Mapping[str, str] = field(default_factory=dict)  # regress.settings; {}: not recorded
    spec: Mapping[str, Any] | None = None  # what determines the output (Case.spec()); None: unknown
    spec_hash: str | None = None
    model: str | None = None  # the model a suite case runs; None for a test's own output
    create_with: str | None = None  # the command that makes a missing golden (default: regress refresh -k ID)

    @classmethod
    def of_run(cls, case: Case, result: RunResult) -> Subject:
        spec, spec_hash = case.recorded_spec
        return cls(id=case.id, output=result.output, fingerprint=result.fingerprint, perf=result.perf.record(),
                   versions=result.versions, settings=result.settings, spec=spec, spec_hash=spec_hash,
                   model=case.model, create_with=None if case.compile is None else  # a compiled variant's id
                   f"pytest -m golden --golden-compile={case.compile} --golden-update=missing -k {case.id}")


@dataclass(frozen=True)
class Evidence:
    """What was found for a subject: its golden (None: there is none), how it matched, and,
    against a golden, the numerics regime, the comparison, the stage distances and LPIPS."""

    golden: Golden | None
    match: str  # 'exact', 'nearest' or 'missing'
    revision: str | None = None  # the store's pinned revision (named for a missing golden)
    numerics: Numerics | None = None
    comparison: Comparison | None = None
    stages: list[StageDistance] | None = None  # per stage checkpoint; None: not compared
    stage_values: Mapping[str, float] = field(default_factory=dict)
    lpips: LpipsSetup | None = None


def first_divergence(stages: list[StageDistance], thresholds: Mapping[str, Threshold]) -> str | None:
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


def judge(subject: Subject, evidence: Evidence, thresholds: Mapping[str, Threshold], *, platform: str,
          suite: Suite, strict: bool) -> Verdict:
    """The verdict on ``subject`` from ``evidence`` and ``thresholds`` (the judging step; no I/O).

    NaN/Inf in the output fails; a missing golden is a warning, or a failure under ``strict``;
    against a golden, every metric, the precision fingerprint, peak memory and time are judged.
    The facts are asked of their modules first, each once (the regime's record, the thresholds
    judged, the settings that changed, the precision and perf diffs, each metric against its
    threshold); the verdict's lines are then composed from them (:func:`_judge_against`)."""
    out, golden = subject.output, evidence.golden
    verdict = Verdict(id=subject.id, platform=platform, status=PASSED, kind=out.kind, model=subject.model)
    if out.nonfinite:
        verdict.reasons.append(f"output holds {out.nonfinite} NaN/Inf values")
    if golden is None:
        verdict.precision = precision_diff(None, dict(subject.fingerprint))
        verdict.perf = perf_diff(None, subject.perf)
        verdict.status = MISSING
        verdict.golden = {"platform": None, "match": "missing", "revision": evidence.revision}
        make = subject.create_with or f"regress refresh -k {subject.id}"
        note = f"no golden for platform {platform} (nor one of the same backend); create it with `{make}`"
        (verdict.reasons if strict else verdict.warnings).append(note)
    else:
        from .lpips_policy import judged_thresholds, lpips_verdict

        comparison, numerics, meta = evidence.comparison, evidence.numerics, golden.record
        assert comparison is not None and numerics is not None, "a golden is judged with a comparison and a regime"
        verdict.golden = {"platform": golden.platform, "match": evidence.match, "revision": golden.revision,
                          "path": str(golden.directory)}
        verdict.numerics = numerics.to_json()
        thresholds = judged_thresholds(thresholds)  # LPIPS only where the suite gates it
        if evidence.lpips is not None:
            lpips_verdict(evidence.lpips, verdict, comparison, thresholds, meta, strict=strict)
        recorded = golden_settings(meta.settings, meta.platform.versions if meta.platform is not None else None)
        changed = diff_settings(recorded, subject.settings)
        refused = [c for c in changed if not is_allowed(c.name, suite.allowed_settings)] if changed else []
        # peak memory and time are gated only where they mean something (see the module doc)
        gated = golden.platform == platform and numerics.regime == EXACT and not changed
        perf = perf_diff(meta.perf, subject.perf)
        gates = perf.check(memory_tolerance=suite.memory_tolerance, time_tolerance=suite.time_tolerance)
        verdict.perf = replace(perf, gates=gates) if gated else perf
        perf_lines = gate_lines(gates)
        verdict.precision = precision_diff(meta.precision, dict(subject.fingerprint))
        verdict.metrics.update(judge_metrics({**comparison.values, **evidence.stage_values}, thresholds,
                                             skip=verdict.metrics))  # (LPIPS marked above stays)
        _judge_against(verdict, subject, evidence, thresholds, platform=platform, suite=suite, strict=strict,
                       settings=(recorded, changed, refused), perf_lines=perf_lines, gated=gated)
    if verdict.reasons and verdict.status == PASSED:
        verdict.status = FAILED
    return verdict


def _judge_against(verdict: Verdict, subject: Subject, evidence: Evidence, thresholds: Mapping[str, Threshold], *,
                   platform: str, suite: Suite, strict: bool, settings: tuple[dict[str, str], list[Any], list[Any]],
                   perf_lines: tuple[list[str], list[str]], gated: bool) -> None:
    """The verdict's lines against its golden, in their order (the metrics, the stages, the
    precision, the settings, perf, the regime), from the facts :func:`judge` gathered."""
    golden, comparison, numerics = evidence.golden, evidence.comparison, evidence.numerics
    assert golden is not None and comparison is not None and numerics is not None
    meta, exact = golden.record, numerics.regime == EXACT
    values = {**comparison.values, **evidence.stage_values}
    verdict.worst_frame = comparison.worst_frame
    verdict.per_frame = dict(comparison.per_frame)
    verdict.reasons.extend(comparison.mismatch)
    if not comparison.mismatch and not any(m.threshold is not None for m in verdict.metrics.values()):
        # A check that cannot fail is not a pass: nothing was compared against anything.
        verdict.status = ERROR
        verdict.reasons.append(f"no threshold applies to any metric of this {verdict.kind or 'output'} "
                               f"({', '.join(sorted(values)) or 'no metrics'}): nothing was judged; set them in "
                               "the suite's [defaults] (e.g. ssim = 0.9999, max_abs = 2, audio_snr = 60.0) or the "
                               "case's thresholds")
    capped = sorted(k for k, m in verdict.metrics.items()
                    if m.threshold is not None and k in thresholds and thresholds[k].capped)
    if capped:
        verdict.warnings.append("judged at the sanity cap for " + ", ".join(capped) + ": the golden's meta.json claims "
                                "looser bounds than any measured drift (edited by hand?); see "
                                "docs/platform-identity.md")
    # frames are counted from 1 in every message, as on the report's scrubber (indices stay 0-based)
    failing = [m.line() + (f" at frame {comparison.worst_frames[m.name] + 1}"
                           if m.name in comparison.worst_frames else "")
               for m in verdict.metrics.values() if m.passed is False]
    if failing:
        where = f" (worst frame {comparison.worst_frame + 1})" if comparison.worst_frame is not None else ""
        verdict.reasons.append("; ".join(failing) + where)

    if evidence.stages is not None:
        verdict.stages = [{"key": d.key, "cos": d.cos, "rel_l2": d.rel_l2, "note": d.note} for d in evidence.stages]
        line = first_divergence(evidence.stages, thresholds)
        if line is None and failing and evidence.stages and not any(d.note for d in evidence.stages):
            last = evidence.stages[-1].stage
            line = (f"first divergence: after the last checkpoint ({evidence.stages[-1].key}): every intermediate tensor "
                    f"matches the golden, the {'decoded output' if last != 'audio_decode' else 'waveform'} does not")
        if line:
            (verdict.reasons if failing else verdict.warnings).insert(0, line)
        # A checkpoint the run no longer makes, or makes in another shape, is a changed pipeline on
        # any machine (a checkpoint only the run has can be a newer regress recording more: noted).
        lost = [d for d in evidence.stages if d.note and d.note != "not in the golden"]
        if lost:
            verdict.reasons.append("stage checkpoints that cannot be compared with the golden's: "
                                   + "; ".join(f"{d.key}: {d.note}" for d in lost[:3])
                                   + (f" (and {len(lost) - 3} more)" if len(lost) > 3 else "")
                                   + ": the pipeline's stages changed")

    changed = verdict.precision["changed"]
    if changed:
        line = describe_precision_change(changed)
        if suite.fingerprint == "fail":
            verdict.reasons.insert(0, line)  # the cause before its symptoms (the metrics it moved)
        else:
            verdict.warnings.append(line)

    recorded, settings_changed, refused = settings  # (golden's, those that changed, those the suite refuses)
    verdict.settings = {"golden": recorded, "current": dict(subject.settings),
                        "changed": [{"setting": c.name, "golden": c.golden, "current": c.current,
                                     "allowed": c not in refused} for c in settings_changed]}
    if refused:  # the engine's own numerics moved: a cause, named before its symptoms
        verdict.reasons.insert(1 if changed and suite.fingerprint == "fail" else 0, describe_changes(refused)
                               + " (set by the code under test, not the machine; `[suite] allowed_settings` "
                                 "accepts a setting that may differ)")
    if len(refused) < len(settings_changed):
        allowed = [c for c in settings_changed if c not in refused]
        verdict.warnings.append(describe_changes(allowed) + " (allowed by the suite: pixels may move; peak memory "
                                "and time are not gated against a golden made under other settings)")

    failures, notes = perf_lines
    if gated:
        verdict.reasons.extend(failures)
        verdict.warnings.extend(notes)
    elif failures:
        why = "platform drift" if not exact else f"golden from {golden.platform}"
        verdict.warnings.append(f"not gated ({why}: memory and time depend on the kernels): " + "; ".join(failures))

    spec_hash = meta.spec_hash
    if subject.spec_hash is not None and spec_hash not in (None, subject.spec_hash):
        verdict.warnings.append("the golden was made from a different case spec (inputs changed since); "
                                f"refresh it with `regress refresh -k {subject.id}`")
    if not exact:
        # Where the thresholds came from, each named once, without its detail (Threshold.label).
        used = sorted({(thresholds[k].source, thresholds[k].label) for k, m in verdict.metrics.items()
                       if m.source and m.threshold is not None and k in thresholds})
        verdict.numerics["line"] = (verdict.numerics["line"] + "; judged with drift bounds (thresholds from "
                                    + ", ".join(dict.fromkeys(label for _, label in used)) + ")")
        if failing and not changed:
            drift = meta.drift
            paths = drift.path_labels if drift is not None else []
            measured = (f"its drift bounds were measured on {drift.machine or 'another machine'} over "
                        f"{len(paths)} kernel paths ({', '.join(paths)})") if paths else "it has no measured drift bounds"
            verdict.reasons.append(f"moved beyond platform drift as measured: {measured}; if this machine's path is "
                                   "legal, `regress calibrate --drift` here measures it")
        if golden.platform != platform:
            verdict.numerics["line"] += (f"; golden {golden.platform} stood in (none for {platform}: `regress adopt` "
                                         "gives this machine references, `regress refresh --only missing` goldens "
                                         "of its own)")
        guessed = sorted(k for k, m in verdict.metrics.items()
                         if m.threshold is not None and k in thresholds and thresholds[k].guess)
        if guessed:
            _unmeasured(verdict, guessed, suite=suite, strict=strict)


def _unmeasured(verdict: Verdict, guessed: list[str], *, suite: Suite, strict: bool) -> None:
    """A drift-regime verdict that leans on the suite's [fallback] guesses: said in its line and
    counted; under --golden-strict (and in CI) a failure, unless the suite opted in. A guess
    loose enough to pass any legal drift passes small real changes too (measured: a 3-code
    change of half an image passed ssim 0.98 / max_abs 64)."""
    verdict.numerics["unmeasured"] = guessed
    note = (f"UNMEASURED drift bounds for {', '.join(guessed)}: judged by the suite's [fallback] guesses, which cannot "
            "tell a small real change from drift; `regress calibrate --drift` measures bounds, `regress refresh "
            "--only missing` makes this machine's own goldens")
    verdict.numerics["line"] += "; " + note.split(":", 1)[0]
    if strict and suite.unmeasured_drift == "fail":
        verdict.reasons.append(note + " (`[suite] unmeasured_drift = \"fallback\"` accepts the guess)")
    else:
        verdict.warnings.append(note)
