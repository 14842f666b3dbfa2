"""The metrics regress knows: name, which way is better, the legal range of a threshold.

Kept free of numpy/torch so that the suite parser can validate thresholds cheaply.
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class MetricSpec:
    name: str
    higher_is_better: bool
    low: float
    high: float
    unit: str
    doc: str
    # Derived from the direction once, as data: judging a value is one builtin comparison
    # (``within(value, threshold)``; NaN compares False, so it never passes).
    op: str = field(init=False)
    within: Callable[[Any, Any], bool] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "op", ">=" if self.higher_is_better else "<=")
        object.__setattr__(self, "within", operator.ge if self.higher_is_better else operator.le)

    def passes(self, value: float | None, threshold: float) -> bool:
        """NaN (and no value) never passes; otherwise compare in the metric's direction."""
        return value is not None and self.within(value, threshold)


INF = float("inf")

METRICS: dict[str, MetricSpec] = {m.name: m for m in (
    MetricSpec("ssim", True, -1.0, 1.0, "", "Gaussian SSIM (sigma 1.5, 11 taps); video: mean over frames"),
    MetricSpec("ssim_worst", True, -1.0, 1.0, "", "video: SSIM of the worst frame"),
    MetricSpec("psnr", True, 0.0, INF, "dB", "PSNR over all pixels (inf when identical)"),
    MetricSpec("psnr_worst", True, 0.0, INF, "dB", "video: PSNR of the worst frame"),
    MetricSpec("max_abs", False, 0.0, 255.0, "/255", "largest absolute pixel difference"),
    MetricSpec("mean_abs", False, 0.0, 255.0, "/255", "mean absolute pixel difference"),
    MetricSpec("lpips", False, 0.0, 1.0, "", "LPIPS distance; video: mean over frames"),
    MetricSpec("lpips_worst", False, 0.0, 1.0, "", "video: LPIPS of the worst frame"),
    MetricSpec("audio_snr", True, -INF, INF, "dB", "audio: signal-to-noise ratio of current vs golden"),
    MetricSpec("audio_mel", False, 0.0, INF, "dB", "audio: log-mel spectral distance"),
    MetricSpec("audio_max_abs", False, 0.0, INF, "", "audio: largest absolute sample difference"),
    MetricSpec("mesh_chamfer", False, 0.0, INF, "/diag", "mesh: symmetric Chamfer distance over the golden's "
                                                      "bounding-box diagonal"),
    MetricSpec("mesh_hausdorff", False, 0.0, INF, "/diag", "mesh: Hausdorff distance (largest nearest-point "
                                                          "distance, both ways) over the golden's diagonal"),
    MetricSpec("mesh_fscore", True, 0.0, 1.0, "", "mesh: F-score of points within 1% of the golden's diagonal"),
    MetricSpec("mesh_normal", True, -1.0, 1.0, "", "mesh: normal consistency (mean signed cosine to the nearest "
                                                  "point's normal, both ways)"),
    MetricSpec("mesh_depth_ssim", True, -1.0, 1.0, "", "mesh: SSIM of depth renders from 6 fixed views (mean)"),
    MetricSpec("stage_cos", True, -1.0, 1.0, "", "stage checkpoints: cosine similarity of each intermediate "
                                                "tensor (prompt embeddings, latents per step, decoder input)"),
    MetricSpec("stage_rel_l2", False, 0.0, INF, "", "stage checkpoints: relative L2 distance of each intermediate "
                                                   "tensor"),
)}
STAGE_METRICS = ("stage_cos", "stage_rel_l2")

# For video, a ``*_worst`` threshold not set anywhere takes the value of its mean metric.
WORST_OF = {"ssim_worst": "ssim", "psnr_worst": "psnr", "lpips_worst": "lpips"}

# LPIPS settings a suite may give in its [metrics] table (validated by the suite parser).
LPIPS_NETS = ("alex", "vgg", "squeeze")
LPIPS_PRECISIONS = ("fp32", "tf32", "bf16")

# Mesh thresholds a suite starts from (the default suite's, `regress init`'s). Exact regime: a
# run on the golden's own machine reproduces the mesh bit for bit (0, 1), so the bounds only
# leave room for float noise: a single vertex moved by half a percent of the object's size
# fails on mesh_hausdorff. Fallback (a golden of another machine with no measured drift): a
# visible change only. docs/metrics.md has the measurements behind both.
MESH_DEFAULTS: dict[str, float] = {"mesh_chamfer": 1e-4, "mesh_hausdorff": 0.005, "mesh_fscore": 0.999,
                                   "mesh_normal": 0.995, "mesh_depth_ssim": 0.999}
MESH_FALLBACK: dict[str, float] = {"mesh_chamfer": 0.005, "mesh_hausdorff": 0.05, "mesh_fscore": 0.9,
                                   "mesh_normal": 0.9, "mesh_depth_ssim": 0.95}
