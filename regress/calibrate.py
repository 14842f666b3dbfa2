"""Calibration: measure how far *legal* runs drift from a golden, and derive thresholds from it.

Why: fixed gates do not fit. On tiny models an fp32 -> bf16 VAE switch moves SSIM only to
0.9996-0.99999 (a 0.98 gate catches nothing), while a real GPU pipeline may legitimately
wobble by more than a bit-exact CPU one. So each case is run several times on this platform,
plus once under each perturbation that may differ between legal runs, and every output is
compared with the case's golden:

* runs: ``--runs N`` (the first builds the pipeline afresh, the others reuse it, as a session does);
* CPU perturbation: torch's intra-op thread count (1 vs the default: reductions split
  differently);
* CUDA perturbations: ``torch.backends.cudnn.benchmark`` flipped (other convolution
  algorithms), and TF32 flipped for cuDNN convolutions and matmuls.

The *noise floor* of a metric is its worst value over those runs. The rule (stated in every
record) turns it into a threshold, per metric, on a distance that is 0 for identical outputs
(``1 - ssim``; the MSE behind ``psnr``; the noise-to-signal energy ratio behind
``audio_snr``; the value itself for ``max_abs``, ``mean_abs``, ``lpips``, ``audio_mel`` and
``audio_max_abs``)::

    threshold distance = max(MARGIN x worst observed distance, one-code distance)

where the one-code distance is what the golden scores against itself with a single value
moved by one code at one place: 1/255 at one pixel, one 16-bit PCM step (1/32768) at one
audio sample. For bit-identical runs the floor is 0 and the
threshold sits just past exact (one value may move by one code, nothing more); otherwise it
is the worst observed drift with a margin of 2x. Thresholds are clamped to each metric's range.

Where it goes: the noise floor, the runs, the rule and the derived thresholds are written
into the golden's ``meta.json`` under ``noise_floor`` and published through the store in one
change (the lock moves: a reviewable diff). Without ``--write`` the thresholds are recorded as
``suggested`` only and the verdicts keep their current thresholds; with ``--write`` they are
stored as ``noise_floor.thresholds``, which :func:`regress.thresholds.resolve_thresholds` layers
above the suite defaults and platform overlays (source ``calibrated``) and below the case's
own thresholds. They stay per platform, beside the golden they were measured against; a
refresh that rewrites the golden drops them (calibrate again).
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from . import __version__
from .bounds import (CALIBRATED, MARGIN, derive_thresholds, finite_bounds, json_floats, one_code_change,
                     stage_quantum, stage_values, worst_values)
from .errors import RegressError
from .session import GoldenSession
from .stores import StagedGolden
from .stores.base import lookup
from .suite import Case
from .tf32 import tf32 as tf32_set
from .thresholds import resolve_thresholds

NOISE_FLOOR_SCHEMA = 1
RULE = ("threshold distance = max(2 x worst observed distance, distance of one value moved by one code at one "
        "place: 1/255 at a pixel, 1/32768 at an audio sample); distance: 1 - ssim, MSE for psnr, "
        "10^(-snr/10) for audio_snr, the value itself for max_abs, mean_abs, lpips, audio_mel and audio_max_abs")


class CalibrationError(RegressError):
    """A case cannot be calibrated (no golden for this platform, a broken run); nothing written."""


@dataclass
class Calibration:
    case_id: str
    platform: str
    runs: list[dict[str, Any]] = field(default_factory=list)  # {"label", "values"}
    floor: dict[str, float] = field(default_factory=dict)
    quantum: dict[str, float] = field(default_factory=dict)
    thresholds: dict[str, float] = field(default_factory=dict)
    current: dict[str, tuple[float, str]] = field(default_factory=dict)  # metric -> (value, source) before
    dropped: list[str] = field(default_factory=list)  # bounds not written (not finite), one line each

    @property
    def bit_identical(self) -> bool:
        """Every run equal to the golden on every track it has."""
        def exact(values: dict[str, float]) -> bool:
            tracks = [values[k] for k in ("max_abs", "audio_max_abs") if k in values]
            return bool(tracks) and all(v == 0.0 for v in tracks)

        return bool(self.runs) and all(exact(r["values"]) for r in self.runs)


def perturbations(device: str) -> list[tuple[str, Callable[[], contextlib.AbstractContextManager[None]]]]:
    """The settings that may differ between two legal runs on this kind of device."""
    import torch

    if device.startswith("cuda"):
        b = torch.backends
        bench = not b.cudnn.benchmark
        tf32 = not b.cudnn.allow_tf32
        return [(f"cudnn.benchmark={bench}", lambda: _flags(b.cudnn, benchmark=bench)),
                (f"tf32={tf32}", lambda: tf32_set(tf32))]
    n = torch.get_num_threads()
    other = 1 if n > 1 else 2
    return [(f"cpu threads={other}", lambda: _threads(other))]


@contextlib.contextmanager
def _flags(obj: Any, **values: Any) -> Iterator[None]:
    saved = {k: getattr(obj, k) for k in values}
    try:
        for k, v in values.items():
            setattr(obj, k, v)
        yield
    finally:
        for k, v in saved.items():
            setattr(obj, k, v)


@contextlib.contextmanager
def _threads(n: int) -> Iterator[None]:
    import torch

    saved = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(saved)


def calibrate_case(session: GoldenSession, case: Case, *, runs: int,
                   progress: Callable[[str], None] | None = None) -> tuple[Calibration, StagedGolden]:
    """Measure one case; returns the calibration and the golden re-staged with its noise floor
    (not yet published)."""
    from .metrics.compare import compare_outputs
    from .lpips_policy import lpips_setup

    platform = session.platform
    golden, match = lookup(session.store, case.id, platform)
    if golden is None or match != "exact":
        raise CalibrationError(f"no golden for platform {platform} (a noise floor belongs to this platform's "
                               f"golden); create it with `regress refresh -k {case.id}`", case=case.id)
    golden_output = golden.output()
    suite_thresholds = resolve_thresholds(session.suite, case, platform)
    lp = lpips_setup(session.suite, session.store, suite_thresholds)
    if lp is not None and lp.error:
        raise CalibrationError(lp.error, case=case.id)
    request = lp.request if lp is not None else None
    cal = Calibration(case.id, platform)
    floor = golden.record.noise_floor
    current = resolve_thresholds(session.suite, case, platform, calibrated=floor.thresholds if floor else None)
    cal.current = {k: (t.value, t.source) for k, t in current.items()}

    def measure(label: str) -> None:
        result = session.run(case)
        if result.output.nonfinite:
            raise CalibrationError(f"{label}: output holds {result.output.nonfinite} NaN/Inf values", case=case.id)
        comp = compare_outputs(golden_output, result.output, device=session.device, lpips=request)
        comp.values.update(stage_values(golden_output, result.output))
        if comp.mismatch:
            raise CalibrationError(f"{label}: output does not match the golden's shape: {'; '.join(comp.mismatch)}",
                                   case=case.id)
        cal.runs.append({"label": label, "values": {k: v for k, v in comp.values.items() if k in CALIBRATED},
                         "fingerprint": result.fingerprint})
        if progress:
            progress(f"{case.id}: {label}: " + ", ".join(f"{k}={_fmt(v)}" for k, v in cal.runs[-1]["values"].items()))

    session.pipelines.clear()  # the first run builds the pipeline afresh, as a new process would
    for i in range(runs):
        measure(f"run {i + 1}" + (" (fresh build)" if i == 0 else ""))
    for label, ctx in perturbations(session.device):
        with ctx():
            measure(label)
    changed = [r["label"] for r in cal.runs if r["fingerprint"] != golden.precision]
    if changed and golden.precision is not None:
        raise CalibrationError(f"the runs' precision fingerprint differs from the golden's ({changed[0]}): "
                               f"refresh the golden before calibrating", case=case.id)
    cal.floor = worst_values(cal.runs)
    if any(math.isnan(v) for v in cal.floor.values()):
        raise CalibrationError("a metric was NaN in a run; nothing to calibrate against", case=case.id)
    bumped = compare_outputs(golden_output, one_code_change(golden_output), device=session.device, lpips=request)
    cal.quantum = {k: v for k, v in bumped.values.items() if k in CALIBRATED}
    cal.quantum.update(stage_quantum(golden_output))
    cal.thresholds, cal.dropped = finite_bounds(derive_thresholds(cal.floor, cal.quantum), case_id=case.id,
                                                what="noise_floor")
    if progress:
        for line in cal.dropped:
            progress(f"warning: {line}")

    meta = {k: v for k, v in golden.meta.items() if k not in ("files", "schema")}
    meta["noise_floor"] = {
        "schema": NOISE_FLOOR_SCHEMA,
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "regress_version": __version__,
        "platform": platform,
        "device": session.device,
        "runs": [{"label": r["label"], "values": json_floats(r["values"])} for r in cal.runs],
        "floor": json_floats(cal.floor),
        "quantum": json_floats(cal.quantum),
        "bit_identical": cal.bit_identical,
        "rule": RULE,
        "margin": MARGIN,
        "suggested": json_floats(cal.thresholds),
        "not_written": list(cal.dropped),
        "thresholds": None,
        "lpips_weights": lp.weights.to_json() if lp is not None and lp.weights is not None else None,
    }
    for r in cal.runs:
        r.pop("fingerprint", None)
    return cal, StagedGolden(case.id, platform, golden_output, meta)


def calibrate(session: GoldenSession, cases: list[Case], *, runs: int = 3, write: bool = False,
              progress: Callable[[str], None] | None = None) -> tuple[list[Calibration], str | None]:
    """Calibrate every case, then publish all noise floors as one change (all or nothing).
    With ``write`` the derived thresholds become active (``noise_floor.thresholds``)."""
    if runs < 1:
        raise CalibrationError("--runs must be at least 1")
    if not cases:
        raise CalibrationError("no case selected (check -k)")
    results = []
    staged = []
    for case in cases:
        cal, sg = calibrate_case(session, case, runs=runs, progress=progress)
        if write:
            sg.meta["noise_floor"]["thresholds"] = json_floats(cal.thresholds)
        results.append(cal)
        staged.append(sg)
    ids = ", ".join(c.id for c in cases)
    revision = session.store.publish(staged, message=f"regress: noise floors for {ids} on {session.platform}")
    return results, revision


def _fmt(v: float) -> str:
    return str(v) if isinstance(v, float) and (math.isinf(v) or math.isnan(v)) else f"{v:.6g}"
