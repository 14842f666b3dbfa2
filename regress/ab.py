"""A/B on one machine: a run recorded by one revision is the exact reference of another.

Why: a golden made elsewhere can only judge this machine in the drift regime, whose bounds
cannot tell a small real change from legal variation (on an AVX2-only EPYC, 19 of 73 realistic
regressions passed inside them). Two revisions run on the *same* machine compute on the same
kernels, so the head can be judged exactly against the base: every metric at the suite's exact
thresholds, the stage checkpoints, the precision fingerprint and settings, and the peak-memory
and time gates. That is also the table a pull request like the seed's wants (its author
measured fp32 against bf16 by hand on one H100).

* ``--golden-record DIR`` (pytest) writes every case's output and meta into ``DIR`` in the
  store layout (``cases/<id>/<platform>/``), whatever its verdict against the pinned golden;
* ``--golden-baseline DIR`` judges every case, besides its pinned golden, exactly against the
  output recorded in ``DIR``; the case fails when either judgement fails. The comparison is the
  one judging step (:func:`regress.judge.judge`), with the recorded run as the golden;
* ``regress ab BASE`` (:mod:`regress.commands.ab`) does both on one machine, with BASE in a
  git worktree, and prints the impact table (:mod:`regress.report.impact`).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from .errors import RegressError
from .judge import Evidence, Subject, judge, thresholds_for
from .numerics import EXACT, Identity, Numerics, compare
from .stores.base import META_FILE, Golden, StagedGolden, load_meta
from .suite import Suite
from .thresholds import Owned
from .verdict import Verdict

AB_KEYS = ("status", "reasons", "warnings", "metrics", "precision", "settings", "perf", "stages", "numerics")


def record(directory: Path, *, case_id: str, platform: str, output: Any, make_meta: Callable[[], dict[str, Any]]
           ) -> None:
    """Write a run's output and meta under ``directory`` as a golden would be (``--golden-record``)."""
    try:
        StagedGolden(case_id, platform, output, make_meta()).write(directory / "cases" / case_id / platform)
    except OSError as exc:
        raise RegressError(f"--golden-record: cannot write {directory}: {exc}") from None


def load_baseline(directory: Path, case_id: str, platform: str) -> tuple[Golden, Any] | None:
    """The recorded run of ``case_id`` on ``platform`` (verified against its meta's sha256), or None."""
    d = directory / "cases" / case_id / platform
    if not (d / META_FILE).is_file():
        return None
    golden = Golden(case_id=case_id, platform=platform, directory=d, meta=load_meta(d), revision=None)
    return golden, golden.output()


def judge_baseline(subject: Subject, case: Owned, *, baseline: tuple[Golden, Any], suite: Suite,
                   platform: str, device: str, identity: Identity, label: str) -> Verdict:
    """``subject`` judged against a recorded run of another revision (the A/B judgement).

    Exact regime when the recorded run's kernel probe matches this machine's (a run recorded
    here); a recording from another machine is judged in the drift regime and says so."""
    from .metrics.compare import compare_outputs
    from .metrics.stages import stage_evidence

    golden, golden_output = baseline
    numerics = compare(golden.record.identity, identity, same_key=True, golden_platform=platform)
    if numerics.exact:
        numerics = Numerics(EXACT, known=numerics.known, installed=numerics.installed, golden_platform=platform,
                            notes=(f"A/B: against {label}, run on this machine",))
    thresholds = thresholds_for(suite, case, platform, golden_platform=platform, golden_meta=golden.record,
                                regime=numerics.regime)
    comparison = compare_outputs(golden_output, subject.output, device=device)
    stages, stage_values = stage_evidence(golden_output, subject.output)
    evidence = Evidence(golden=golden, match="exact", numerics=numerics, comparison=comparison, stages=stages,
                        stage_values=stage_values)
    return judge(subject, evidence, thresholds, platform=platform, suite=suite, strict=True)


def ab_record(ab: Verdict, *, label: str, revision: str | None) -> dict[str, Any]:
    """What results.json keeps of the A/B judgement (the case record's ``ab``)."""
    d = ab.to_json()
    out = {k: d[k] for k in AB_KEYS if k in d}
    out["against"] = label
    out["revision"] = revision
    out["moved"] = moved(ab)
    return out


def moved(ab: Verdict) -> bool:
    """Whether anything of the run differs from the recorded one: an output value, a stage
    checkpoint, a dtype, a setting, or a gated perf figure."""
    if ab.failed:
        return True
    exact_values = {"ssim": 1.0, "ssim_worst": 1.0, "max_abs": 0.0, "mean_abs": 0.0, "stage_cos": 1.0,
                    "stage_rel_l2": 0.0, "audio_max_abs": 0.0, "audio_mel": 0.0, "lpips": 0.0}
    for name, m in ab.metrics.items():
        if name in exact_values and m.value is not None and m.value != exact_values[name]:
            return True
    return bool(ab.precision.get("changed") or ab.settings.get("changed"))


def baseline_label(directory: Path) -> tuple[str, str | None]:
    """(how the verdict names the baseline, its source commit) from the recording's metas."""
    for meta_path in sorted((directory / "cases").glob(f"*/*/{META_FILE}"))[:1]:
        try:
            commit = load_meta(meta_path.parent).get("source_commit")
        except RegressError:
            commit = None
        if isinstance(commit, str) and commit:
            return f"base {commit[:12]}", commit
    return f"the run recorded in {directory}", None


def record_and_judge(session: Any, judged: Verdict, subject: Subject, case: Any) -> Verdict:
    """The session's A/B step: ``--golden-record`` keeps this run; ``--golden-baseline`` judges
    it against the recorded one too, and a failure there fails the case, naming the baseline.
    The verdict against the pinned golden is kept; this judgement is attached beside it, in the
    returned record (``judged`` itself is not changed)."""
    from .provenance import meta_maker
    from .verdict import ERROR, FAILED, PASSED

    o, platform = session.options, session.platform
    verdict = judged.derived()
    try:
        if o.record_dir is not None:
            record(o.record_dir, case_id=subject.id, platform=platform, output=subject.output,
                   make_meta=meta_maker(session, subject, case))
        if o.baseline_dir is None:
            return verdict
        label, revision = baseline_label(o.baseline_dir)
        base = load_baseline(o.baseline_dir, subject.id, platform)
        if base is None:
            elsewhere = sorted(p.name for p in (o.baseline_dir / "cases" / subject.id).glob("*") if p.is_dir())
            if elsewhere:  # recorded on another machine: nothing here could be compared, so nothing passes
                raise RegressError(f"{label} ran this case on {', '.join(elsewhere)}, not on {platform}: an A/B "
                                   "compares two runs on one machine (record the base on this runner)")
            verdict.ab = {"against": label, "revision": revision, "status": "missing", "moved": None}
            verdict.warnings.append(f"A/B: {label} has no run of this case on {platform} (a new case?)")
            return verdict
        other = judge_baseline(subject, case, baseline=base, suite=session.suite, platform=platform,
                               device=session.device, identity=session.identity, label=label)
    except RegressError as exc:
        verdict.reasons.append(f"A/B: {exc}")
        verdict.status = ERROR
        return verdict
    verdict.ab = ab_record(other, label=label, revision=revision)
    if other.failed:
        verdict.reasons.append(f"against {label}: " + "; ".join(other.reasons))
        if verdict.status == PASSED:
            verdict.status = FAILED
    return verdict
