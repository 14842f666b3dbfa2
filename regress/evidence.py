"""Gathering what the judging step needs: the golden, the numerics regime, the comparison.

This is the I/O and computation half of judging (it reads the store, probes the kernels and
computes the metrics); :func:`regress.judge.judge` is the pure half. The session, the
``golden`` fixture and bisect all come through :func:`gather`.
"""

from __future__ import annotations

import dataclasses

from .judge import Evidence, Subject
from .metrics.resident import GoldenOnDevice
from .numerics import Identity
from .outputs import Output
from .stores.base import Golden, Store, lookup
from .suite import Suite
from .thresholds import Owned, Threshold, thresholds_for

Loaded = tuple[Golden | None, str, Output | None]  # what load_golden found: golden, how it matched, its output


def load_golden(store: Store, case_id: str, platform: str) -> Loaded:
    """(golden, how it matched, its verified output) for a case on a platform; no golden:
    (None, 'missing', None)."""
    golden, match = lookup(store, case_id, platform)
    return golden, match, (golden.output() if golden is not None else None)


def gather(subject: Subject, loaded: Loaded, *, case: Owned,
           suite: Suite, store: Store, platform: str, device: str, identity: Identity | None,
           exact: bool = False, on_device: GoldenOnDevice | None = None, path: str | None = None,
           ) -> tuple[Evidence, dict[str, Threshold], Output | None]:
    """(evidence, thresholds, the golden's output) for ``subject`` against the golden
    :func:`load_golden` found (``loaded``). ``identity``: this machine's numerics identity
    (needed only where there is a golden: the caller may pass None without one; a parallel
    case's layout is added here, :func:`regress.parallel.run_identity`). ``exact``: judge in the exact regime even where the
    kernel probe differs (bisect --exact). ``on_device``: where a golden uploaded to the GPU
    for an earlier judgement of the same case is kept (see regress.metrics.resident). ``path``:
    the run took another legal path than the golden (a compiled run, an eager golden): judged in
    the drift regime, saying so (:func:`regress.numerics.across_path`)."""
    from .lpips_policy import lpips_setup
    from .metrics.compare import compare_outputs
    from .metrics.stages import stage_evidence
    from .numerics import compare as compare_numerics

    golden, match, golden_output = loaded
    if golden is None:
        return Evidence(golden=None, match="missing", revision=store.revision), {}, None
    assert identity is not None, "a golden is judged with this machine's identity"
    if getattr(case, "parallel", None):  # its layout is part of the run's identity
        from .parallel import run_identity

        identity = run_identity(identity, case, device)
    if match == "nearest":  # a stand-in: prefer one whose kernel probe equals this machine's
        better, _ = lookup(store, subject.id, platform, identity=identity)
        if better is not None and better.platform != golden.platform:
            golden, golden_output = better, better.output()
    assert golden_output is not None
    numerics = compare_numerics(golden.record.identity, identity,
                                same_key=golden.platform == platform, golden_platform=golden.platform)
    if path is not None:
        from .numerics import across_path

        numerics = across_path(numerics, path)
    if exact and not numerics.exact:  # bisect --exact: what moved the output at all
        numerics = dataclasses.replace(numerics, regime="exact",
                                       notes=("judged exactly on request: the kernel probe differs",))
    thresholds = thresholds_for(suite, case, platform, golden_platform=golden.platform, golden_meta=golden.record,
                                regime=numerics.regime)
    lp = lpips_setup(suite, store, thresholds)
    # Frames kept on the GPU for the case (regress.metrics.resident) matter only where the run's
    # output is there: a host output is compared from the host arrays.
    resident = on_device if on_device is not None and subject.output.on_device is not None else None
    if resident is not None:
        resident.lend(case_id=subject.id, meta={"files": golden.record.files}, golden=golden_output)
    comparison = compare_outputs(golden_output, subject.output, device=device, lpips=lp and lp.request)
    if resident is not None:
        resident.keep(golden_output)
    # Stage checkpoints are compared where the golden has a checkpoint file (stage_evidence: none, nothing)
    stages, stage_values = stage_evidence(golden_output, subject.output) if golden_output.stages is not None else (None, {})
    evidence = Evidence(golden=golden, match=match, revision=store.revision, numerics=numerics,
                        comparison=comparison, stages=stages, stage_values=stage_values, lpips=lp)
    return evidence, thresholds, golden_output
