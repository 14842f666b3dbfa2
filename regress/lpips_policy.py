"""LPIPS as the judge sees it: whether a case gates it, with which weights, and how its value
(or its absence) enters a verdict.

Why here and not in metrics/: metrics compute (:mod:`regress.metrics.lpips`); what a value
means for a case is judging. LPIPS is the one metric that is switched on per case (it needs
backbone weights that may be missing), and the switch is the suite's: a bound the golden's
meta.json carries (calibrated, drift-measured) alone does not turn it on. That is decided
from each threshold's :class:`~regress.thresholds.Source` kind, never from its display text.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .metrics.catalog import METRICS
from .metrics.lpips import LpipsRequest
from .metrics.lpips_weights import LpipsError, LpipsWeights, Unavailable, resolve_weights
from .thresholds import Threshold
from .verdict import MetricResult, Verdict

if TYPE_CHECKING:
    from .golden_records import GoldenMeta
    from .metrics.compare import Comparison

LPIPS_METRICS = ("lpips", "lpips_worst")


@dataclass
class LpipsSetup:
    """What a case's judgement needs to know about LPIPS: resolved weights, or why not."""

    net: str
    precision: str
    weights: LpipsWeights | None = None
    unavailable: Unavailable | None = None
    error: str | None = None  # weights found but unusable (hash mismatch, unreadable): always fails

    @property
    def request(self) -> LpipsRequest | None:
        return LpipsRequest(self.weights, self.precision) if self.weights is not None else None


def lpips_gated(thresholds: Mapping[str, Threshold]) -> bool:
    """LPIPS is computed and gated only when the suite itself (defaults, a platform overlay,
    the case or its [fallback]) sets an lpips threshold; a calibrated or drift-measured one
    alone does not switch it on (and in the drift regime, a bound that loosened a suite's
    threshold keeps it on: :attr:`Threshold.suite_set`)."""
    return any(k in LPIPS_METRICS and th.suite_set for k, th in thresholds.items())


def judged_thresholds(thresholds: Mapping[str, Threshold]) -> dict[str, Threshold]:
    """``thresholds`` as judged: without calibrated-only LPIPS thresholds when the suite does not
    gate LPIPS (a new dict; the caller's is left as it is)."""
    if lpips_gated(thresholds):
        return dict(thresholds)
    return {k: v for k, v in thresholds.items() if k not in LPIPS_METRICS}


def lpips_setup(suite: Any, store: Any, thresholds: Mapping[str, Threshold]) -> LpipsSetup | None:
    """None when LPIPS is not gated (:func:`judged_thresholds` then drops calibrated-only lpips
    thresholds); otherwise the resolved weights or the reason there are none. Reads
    ``thresholds`` only."""
    if not lpips_gated(thresholds):
        return None
    settings = getattr(suite, "metrics", {}) or {}
    setup = LpipsSetup(net=settings.get("lpips_net", "alex"), precision=settings.get("lpips_precision", "fp32"))
    try:
        found = resolve_weights(setup.net, suite_path=suite.path, setting=settings.get("lpips_weights"),
                                setting_sha256=settings.get("lpips_weights_sha256"), store=store)
    except LpipsError as exc:
        setup.error = str(exc)
        return setup
    if isinstance(found, Unavailable):
        setup.unavailable = found
    else:
        setup.weights = found
    return setup


def lpips_verdict(setup: LpipsSetup, verdict: Verdict, comp: Comparison, thresholds: Mapping[str, Threshold],
                  golden_meta: GoldenMeta, *, strict: bool) -> None:
    """Fold LPIPS into a verdict: mark it unavailable (a failure under ``strict``), not
    applicable, or computed; flag weights that differ from those the golden recorded."""
    video = "video" in (verdict.kind or "")
    names = [n for n in (LPIPS_METRICS if video else ("lpips",)) if n in thresholds]
    info: dict[str, Any] = {"net": setup.net, "precision": setup.precision}

    def mark(note: str) -> None:
        for n in names:
            th = thresholds[n]
            verdict.metrics[n] = MetricResult(n, None, th.value, METRICS[n].op, th.source, None, note=note)

    if setup.error:
        info["status"] = "error"
        mark("unavailable: weights rejected")
        verdict.reasons.append(setup.error)
    elif setup.unavailable is not None:
        info.update(status="unavailable", message=setup.unavailable.message)
        mark("unavailable: no weights")
        (verdict.reasons if strict else verdict.warnings).append(setup.unavailable.message)
    elif "lpips" in comp.notes:
        info.update(status="not applicable", message=comp.notes["lpips"])
        mark(comp.notes["lpips"])
    else:
        assert setup.weights is not None
        info.update(status="computed", **setup.weights.to_json())
        recorded = golden_meta.lpips_sha256
        if recorded is not None:
            info["golden_sha256"] = recorded
            info["matches_golden"] = recorded == setup.weights.sha256
            if recorded != setup.weights.sha256:
                verdict.warnings.append(f"LPIPS computed with other weights than the golden's: sha256 "
                                        f"{setup.weights.sha256[:12]}... ({setup.weights.source}), golden recorded "
                                        f"{recorded[:12]}...; its LPIPS values are not comparable")
    verdict.metric_info["lpips"] = info


