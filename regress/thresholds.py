"""The thresholds a case is judged with, and where each one came from.

Why a module of its own: which bound applies to a metric is the first decision of judging
(:func:`regress.judge.judge`), and it is layered from four owners: the suite (reviewed code:
defaults, platform overlays, the case, ``[fallback]``), and the golden's ``meta.json`` (data:
the calibrated noise floor, the measured drift bounds). Behaviour that depends on the owner
(LPIPS is gated only where the suite asks for it; a guess is flagged; a drift bound is held
at a cap) reads a threshold's :class:`Source` kind, never its display text: the text is for
people and may be reworded freely.
"""

from __future__ import annotations

import enum
import fnmatch
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from .metrics.catalog import METRICS, WORST_OF

if TYPE_CHECKING:
    from .golden_records import DriftRecord, GoldenMeta
    from .suite import Suite


class Owned(Protocol):
    """What a judged thing sets for itself: a suite :class:`~regress.suite.Case`, or the
    thresholds a hand-written test hands the ``golden`` fixture (:class:`OwnThresholds`)."""

    @property
    def thresholds(self) -> Mapping[str, float]: ...


@dataclass(frozen=True)
class OwnThresholds:
    """The thresholds a hand-written test's output is judged with on top of the suite's
    (``golden.check(..., thresholds=...)``): what a case is to its suite, without a spec.
    Why a record and not a bare mapping: the caller names which of the two it judges, and
    no reader tells them apart by ``isinstance``."""

    thresholds: Mapping[str, float]


class Source(enum.Enum):
    """Who set a threshold (the layers of :func:`resolve_thresholds` and :func:`drift_thresholds`)."""

    DEFAULT = "suite default"  # [defaults]
    PLATFORM = "platform overlay"  # [platforms.'<glob>']
    CALIBRATED = "calibrated"  # the golden's meta.json noise_floor.thresholds (regress calibrate --write)
    CASE = "case"  # the case's own thresholds (or those a hand-written test passes)
    FALLBACK = "cross-platform fallback"  # [fallback], for a golden borrowed from another platform
    DRIFT = "drift-calibrated"  # the golden's meta.json drift.thresholds (regress calibrate --drift)
    DRIFT_FALLBACK = "suite [fallback]"  # [fallback] standing in for a drift bound never measured

    @property
    def suite_set(self) -> bool:
        """Set by the suite (reviewed code), not by the golden's meta.json (data)."""
        return self not in (Source.CALIBRATED, Source.DRIFT)

    @property
    def guess(self) -> bool:
        """The suite's [fallback]: a guess, not a measurement of this golden's legal drift."""
        return self in (Source.FALLBACK, Source.DRIFT_FALLBACK)


@dataclass(frozen=True)
class Threshold:
    """A bound on one metric: its value, who set it (``kind``) and the text people read
    (``source``, in verdict lines and results.json; ``short`` names it in the drift line)."""

    value: float
    source: str  # display text: 'suite default', "platform overlay 'rocm-*'", 'case', 'cross-platform fallback ...'
    kind: Source = Source.CASE  # a threshold made by hand (a test's own, a tool's) is the caller's, like a case's
    # A bound from the golden's own meta.json (noise floor, drift) looser than META_CAPS: held at the cap.
    capped: bool = False
    short: str = ""  # the source without its detail ('' : the source itself)
    # The drift regime: the kind of the exact-regime threshold this one loosened (None: it loosened none).
    loosens: Source | None = None

    @property
    def guess(self) -> bool:
        """A verdict that leans on a guess says so, and fails under --golden-strict unless the
        suite opts in."""
        return self.kind.guess

    @property
    def suite_set(self) -> bool:
        """The suite asked for this metric to be gated: set by the suite, or (drift regime) the
        loosening of an exact-regime threshold the suite set."""
        return (self.loosens or self.kind).suite_set

    @property
    def label(self) -> str:
        """Where it came from, without the detail: what the drift line lists."""
        return self.short or self.source


# The loosest bound a golden's own meta.json may set (calibrated noise floor, measured drift).
# Why: the meta travels with the golden, and a hand edit or a hostile pull request that claims
# bounds accepting anything (ssim 0, psnr 0 dB, lpips 1) must not switch judging off. Each cap
# sits past the loosest drift bound regress has measured for a committed golden (wan-tiny on an
# AVX2 CPU: ssim 0.896, psnr 35.4 dB, mean_abs 3.21, max_abs 48; ltx2-tiny's stages on CUDA:
# cos 0.784, rel L2 1.01; mova-tiny's DAC audio: snr 16.6 dB, max_abs 0.448, mel 0.84), so no
# measured bound is held; past it a bound is no longer a
# measurement of drift. The suite's own thresholds (case, defaults) are not capped: the suite
# is reviewed code, the meta is data. docs/platform-identity.md explains them.
META_CAPS: dict[str, float] = {
    "ssim": 0.85, "ssim_worst": 0.6, "psnr": 30.0, "psnr_worst": 28.0, "max_abs": 64.0, "mean_abs": 4.0,
    "lpips": 0.1, "lpips_worst": 0.2, "audio_snr": 10.0, "audio_mel": 2.0, "audio_max_abs": 1.0,
    "stage_cos": 0.75, "stage_rel_l2": 1.5,
    # mesh: past these a shape has visibly changed (5% of its size somewhere, 0.2% on average);
    # mesh-tiny's measured drift bounds on CPU: hausdorff 0.022, chamfer 0.0003
    "mesh_chamfer": 0.002, "mesh_hausdorff": 0.05, "mesh_fscore": 0.9, "mesh_normal": 0.9, "mesh_depth_ssim": 0.9,
}


def meta_bound(name: str, value: float, source: str, *, kind: Source = Source.CALIBRATED,
               short: str = "") -> Threshold:
    """A threshold the golden's meta.json sets, held at :data:`META_CAPS` when looser."""
    cap = META_CAPS.get(name)
    spec = METRICS.get(name)
    if cap is None or spec is None or not (value < cap if spec.higher_is_better else value > cap):
        return Threshold(value, source, kind, short=short)
    held = f"held at the sanity cap {spec.op} {cap:g}"
    return Threshold(cap, f"{source}, {held} (the meta claims {value:g})", kind, capped=True,
                     short=short or f"{source}, {held}")


def _looser(name: str, a: float, b: float) -> bool:
    """``a`` accepts more than ``b`` for metric ``name``."""
    return a < b if METRICS[name].higher_is_better else a > b


def resolve_thresholds(suite: Suite, case: Owned, platform: str, *,
                       nearest_from: str | None = None,
                       calibrated: Mapping[str, float] | None = None) -> dict[str, Threshold]:
    """Layer the thresholds: suite default < platform overlays (in file order) < calibrated
    noise floor < case (a suite case, or the thresholds a hand-written test passes). A golden
    borrowed from another platform (``nearest_from``) loosens each metric to the suite's
    ``[fallback]`` value where that is looser."""
    out: dict[str, Threshold] = {k: Threshold(v, "suite default", Source.DEFAULT) for k, v in suite.defaults.items()}
    for glob, table in suite.platforms.items():
        if fnmatch.fnmatchcase(platform, glob):
            out.update({k: Threshold(v, f"platform overlay '{glob}'", Source.PLATFORM) for k, v in table.items()})
    for k, v in (calibrated or {}).items():
        out[k] = meta_bound(k, float(v), "calibrated")  # meta.json writes infinities as "inf"
    out.update({k: Threshold(v, "case", Source.CASE) for k, v in case.thresholds.items()})
    if nearest_from:
        for k, v in suite.fallback.items():
            cur = out.get(k)
            if cur is None or _looser(k, v, cur.value):
                out[k] = Threshold(v, f"cross-platform fallback (golden from {nearest_from})", Source.FALLBACK,
                                   short="cross-platform fallback")
    for worst, mean in WORST_OF.items():
        if worst not in out and mean in out:
            m = out[mean]
            out[worst] = Threshold(m.value, f"{m.source} (as {mean})", m.kind, short=m.label)
    return out


def drift_thresholds(exact: Mapping[str, Threshold], suite: Suite,
                     drift: DriftRecord | None) -> dict[str, Threshold]:
    """The thresholds of the drift regime: each exact-regime threshold loosened to the golden's
    measured drift bound (``regress calibrate --drift``, source ``drift-calibrated``) where that
    is looser; a metric the calibration did not measure (or a golden never drift-calibrated)
    falls back to the suite's ``[fallback]`` value, and its source says that it is a guess.
    Never tighter than the exact regime: drift must not fail what an exact run would pass, so
    it adds no gate the exact regime lacks (a bound for a metric the exact regime does not
    gate is not used), and a loosened threshold keeps the kind it loosened (``loosens``)."""
    bounds = (drift.thresholds if drift is not None else None) or {}
    label = drift_label(drift) if bounds else None
    head = drift_head(drift) if bounds else None
    out = dict(exact)
    for name, cur in exact.items():
        if name not in METRICS:
            continue
        bound = bounds.get(name)  # the record reads meta.json's "inf" as a float
        if bound is not None and not math.isnan(bound):
            cand = meta_bound(name, bound, label or "drift-calibrated", kind=Source.DRIFT, short=head or "")
        elif name in suite.fallback:
            cand = Threshold(suite.fallback[name], "suite [fallback] (no measured drift bound: `regress calibrate "
                                                   "--drift`)", Source.DRIFT_FALLBACK, short="suite [fallback]")
        else:
            continue
        if _looser(name, cand.value, cur.value):
            out[name] = Threshold(cand.value, cand.source, cand.kind, capped=cand.capped, short=cand.short,
                                  loosens=cur.loosens or cur.kind)
    for worst, mean in WORST_OF.items():  # a worst-frame bound never stays tighter than its mean's
        if mean in out and worst in out and worst not in bounds and worst not in suite.fallback:
            cur, m = out[worst], out[mean]
            if _looser(worst, m.value, cur.value):
                out[worst] = Threshold(m.value, f"{m.source} (as {mean})", m.kind, capped=m.capped, short=m.label,
                                       loosens=cur.loosens or cur.kind)
    return out


def drift_head(drift: DriftRecord | None) -> str:
    """'drift-calibrated on Intel Xeon': :func:`drift_label` without its detail."""
    machine = drift.machine if drift is not None else None
    return f"drift-calibrated on {machine}" if machine else "drift-calibrated"


def drift_label(drift: DriftRecord | None) -> str:
    """'drift-calibrated on Intel Xeon (spread x2 over 6 kernel paths and 3 goldens)': where the
    bounds came from, in every drift line."""
    if drift is None:
        return "drift-calibrated"
    paths, goldens, margin = drift.paths, drift.goldens, drift.margin
    over = f"{len(paths)} kernel path{'s' if len(paths) != 1 else ''}"
    if goldens:
        over += f" and {len(goldens)} golden{'s' if len(goldens) != 1 else ''}"
    head = drift_head(drift)
    return f"{head} (spread x{margin:g} over {over})" if isinstance(margin, (int, float)) else f"{head} (over {over})"


def thresholds_for(suite: Suite, case: Owned, platform: str, *, golden_platform: str,
                   golden_meta: GoldenMeta, regime: str) -> dict[str, Threshold]:
    """The thresholds a case (or a hand-written test's output, with its own thresholds) is
    judged with against this golden in this regime."""
    # The [fallback] loosening for a golden of another key only where the numerics differ: a
    # stand-in whose kernel probe matches computes what this machine computes (exact thresholds).
    nearest_from = golden_platform if golden_platform != platform and regime != "exact" else None
    calibrated = golden_meta.noise_floor.thresholds if golden_meta.noise_floor is not None else None
    if regime == "drift":
        # The exact regime's layering without the cross-platform guess: drift bounds replace it.
        exact = resolve_thresholds(suite, case, platform, calibrated=calibrated)
        return drift_thresholds(exact, suite, golden_meta.drift)
    return resolve_thresholds(suite, case, platform, nearest_from=nearest_from, calibrated=calibrated)
