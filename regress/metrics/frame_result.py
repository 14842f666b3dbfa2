"""What every frame-metric path returns (the fused kernel, torch, or a byte-identical pair):
SSIM per frame and the pixel sums, in one record (:class:`FrameMetrics`).

Its own module so that the paths that make it (:mod:`regress.metrics.frames`,
:mod:`regress.metrics.fused_run`) import it from below, not from each other.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .pixel import PixelStats


@dataclass
class FrameMetrics:
    """SSIM per frame (float64, NaN for a frame with non-finite input) and the pixel sums."""

    ssim: np.ndarray
    pixel: PixelStats
    path: str  # 'fused-triton-f64', 'fused-triton-f32' or 'torch': which implementation ran


def identical_metrics(shape: tuple[int, ...]) -> FrameMetrics:
    """The exact metrics of a (T, H, W, C) pair with equal finite values (see identity.py)."""
    T = shape[0]
    zeros = np.zeros(T, dtype=np.float64)
    stats = PixelStats(sse=zeros, sum_abs=zeros.copy(), max_abs=zeros.copy(), n=int(np.prod(shape[1:])))
    return FrameMetrics(ssim=np.ones(T, dtype=np.float64), pixel=stats, path="identical")
