"""The fused SSIM kernel's launch: its shape constants, the buffers of one comparison and
the kernel call per chunk of frames (:class:`FusedRun`).

Apart from :mod:`regress.metrics.frames` (which picks the path, host or device, and feeds it)
because these are the kernel's own parameters, tuned and timed on the GPU
(benchmarks/RESULTS.md): a benchmark or a test (tests/test_fused.py, under Triton's
interpreter) sets them here.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from .frame_result import FrameMetrics
from .pixel import PixelStats
from .ssim import K1, K2, gaussian_taps

# Fused-kernel shape (see ssim_triton.py; timings: H100, 121-frame 720p pair, device-resident,
# benchmarks/RESULTS.md): lanes per program (each owns WINDOWS_PER_LANE output bytes), warps,
# and output rows per band. Bands re-read 10 rows of halo (480 rows: 2.62-2.75 ms against
# 2.60-2.89 for 240, no better); small inputs get shorter bands so that every SM has work (see
# _band_rows).
BLOCK = 128
NUM_WARPS = 4
BAND_ROWS = 240
# Rows per iteration of the kernel's row loop (unrolled). 10 would rotate the rings without a
# register move but ran slower (3.24-3.38 ms, a 3100-instruction loop), and so did 2 (2.82-2.96).
UNROLL = 5
# Windows per lane (2 or 3): neighbouring windows share all but one tap, so more windows per
# lane mean fewer instructions per window (147-153 against 163-166: Triton 3.8 / 3.6) and more
# registers (a ring per window: 246-249 against 163-173, two programs of 4 warps per SM, not three). Three are faster
# on large comparisons (121-frame 720p pair: 2.27-2.54 ms against 2.34-2.63, the same runs)
# and slower on small ones, which then have too few programs to fill the GPU (1024x1024 image:
# 0.23 against 0.17 ms): THREE_PER_LANE_FROM is the number of windows (T * (H-10) * (W-10) * C)
# from which a comparison takes three.
WINDOWS_PER_LANE = 2
THREE_PER_LANE_FROM = 32_000_000
# Register cap per thread for the float32 kernel on CUDA (Triton's maxnreg); None: the
# compiler's choice. 168 keeps three programs of 4 warps on an SM whatever the Triton version
# allocates (163-173 registers uncapped), with no spills.
MAX_REGS: int | None = 168
# Rows ahead whose bytes a program asks the L1 (PREFETCH_LEVEL 1) or L2 cache for while it
# works on the current row (0: none): 2.55-2.60 ms with 4 rows to L1 against 2.66-2.79 without,
# in the same run (2 or 6 rows to L2: 2.57-2.76).
PREFETCH_ROWS = 4
PREFETCH_LEVEL = 1
_SM_COUNT: dict[int, int] = {}


def _band_rows(T: int, H: int, n_strips: int, dev: Any) -> int:
    """BAND_ROWS, cut (in steps of 10 rows) until there are about four programs per SM: a
    single 1024x1024 image would otherwise leave most of an H100 idle."""
    rb = max(1, BAND_ROWS)  # any height is exact; multiples of 10 waste no unrolled rows
    if dev.type != "cuda":
        return rb
    import torch

    idx = dev.index if dev.index is not None else torch.cuda.current_device()
    if idx not in _SM_COUNT:
        _SM_COUNT[idx] = torch.cuda.get_device_properties(idx).multi_processor_count
    want = 4 * _SM_COUNT[idx]
    while rb > 10 and T * n_strips * -(-(H - 10) // rb) < want:
        rb -= 10
    return rb


def windows_per_lane(T: int, H: int, W: int, C: int) -> int:
    """Three windows per lane for a large comparison, else WINDOWS_PER_LANE; at most the windows
    a row has (a lane's taps must fit in the row)."""
    per_lane = 3 if T * (H - 10) * (W - 10) * C >= THREE_PER_LANE_FROM else WINDOWS_PER_LANE
    return max(2, min(per_lane, W - 10))


def _kernel_weights(data_range: float) -> list[float]:
    """The kernel's constants (see ssim_triton._dissim), in float64: the centre-normalised taps
    g_k/g5 (k < 5), the square maps' vertical taps g_k/g5^3 (k <= 5), K = 1/g5^2, K^2*c1 and
    K^2*c2 (c1, c2: twice skimage's (K1*L)^2 and (K2*L)^2, the four-map form's constants)."""
    g = gaussian_taps(11)
    g5 = float(g[5])
    k = 1.0 / (g5 * g5)
    c1 = 2.0 * (K1 * data_range) ** 2
    c2 = 2.0 * (K2 * data_range) ** 2
    return ([float(v) / g5 for v in g[:5]] + [float(v) / g5**3 for v in g[:6]]
            + [k, k * k * c1, k * k * c2])


class FusedRun:
    """Output buffers of one comparison and the kernel launch for a chunk of its frames."""

    def __init__(self, shape: tuple[int, ...], dev: Any, data_range: float, f64: bool, *,
                 per_lane: int | None = None) -> None:
        import torch

        if not (math.isfinite(data_range) and data_range > 0):
            raise ValueError(f"data_range must be a positive finite number, got {data_range!r}")
        T, H, W, C = shape
        self.shape, self.f64 = (T, H, W, C), f64
        self.dev = torch.device(dev)
        # (float64 rings need twice the registers: two windows per lane there.)
        self.per_lane = per_lane or (windows_per_lane(T, H, W, C) if not f64 else max(2, min(WINDOWS_PER_LANE, W - 10)))
        lanes = C * -(-(W - 10) // self.per_lane)  # one per channel of each group of per_lane windows
        self.n_strips = -(-lanes // BLOCK)
        self.band_rows = _band_rows(T, H, self.n_strips, self.dev)
        self.n_bands = -(-(H - 10) // self.band_rows)
        self.w = _weights_on(self.dev, data_range)
        # One buffer for every per-program partial (see ssim_triton.ssim_stats_kernel), so that
        # a single copy brings them back.
        self.n_prog = T * self.n_bands * self.n_strips
        self.buf = torch.empty(self.n_prog * (C + 3), dtype=torch.int64, device=dev)

    def launch(self, x: Any, y: Any, t0: int) -> None:
        import torch
        import triton.language as tl

        from . import ssim_triton

        T, H, W, C = self.shape
        t1 = t0 + x.shape[0]
        # The hardware reciprocal and the register cap: compiled CUDA float32 only (Triton's
        # CPU interpreter, used by the tests, runs neither inline PTX nor maxnreg).
        fast = self.dev.type == "cuda" and not self.f64 and torch.version.hip is None
        # (Three windows per lane need their 248 registers: no cap, or they would spill.)
        extra = {"maxnreg": MAX_REGS} if (MAX_REGS and fast and self.per_lane == 2) else {}
        ssim_triton.ssim_stats_kernel[(self.n_strips, self.n_bands, t1 - t0)](
            x, y, self.w, self.buf, t0, self.n_prog, H, W * C, (W - 10) * C, self.band_rows, self.n_bands, self.n_strips,
            C=C, BLOCK=BLOCK, DT=tl.float64 if self.f64 else tl.float32, UNROLL=UNROLL, P=self.per_lane,
            FAST=fast, PF=PREFETCH_ROWS if fast else 0, PF_LEVEL=PREFETCH_LEVEL, num_warps=NUM_WARPS, **extra)

    def result(self) -> FrameMetrics:
        T, H, W, C = self.shape
        n = self.n_prog
        # The one copy back (and the wait for the kernel). A pinned buffer measured no faster
        # for these 261 KB of a 720p video's partial sums (0.049-0.054 against 0.047-0.074 ms,
        # H100): what cost 0.3 ms was a dozen small torch reductions, now done on the host.
        host = self.buf.cpu().numpy()
        # The kernel sums (1 - SSIM) / 2 per window (see ssim_triton._dissim); every channel has
        # the same windows, so the mean over channels is the mean over all of a frame's windows.
        dis = host[: n * C].view(np.float64).reshape(T, -1).sum(axis=1)
        ssim = 1.0 - 2.0 * dis / (C * (H - 10) * (W - 10))
        stats = host[n * C:].reshape(3, T, -1)
        sums = stats[:2].sum(axis=2).astype(np.float64)
        return FrameMetrics(ssim=ssim, pixel=PixelStats(sse=sums[0], sum_abs=sums[1],
                                                         max_abs=stats[2].max(axis=1).astype(np.float64), n=H * W * C),
                            path="fused-triton-f64" if self.f64 else "fused-triton-f32")


_WEIGHTS: dict[tuple[str, float], Any] = {}


def _weights_on(dev: Any, data_range: float) -> Any:
    """The kernel's constants on ``dev``, made once per device and data range (a host->device
    copy per comparison would wait on the host before every launch)."""
    import torch

    key = (str(dev), float(data_range))
    if key not in _WEIGHTS:
        _WEIGHTS[key] = torch.tensor(_kernel_weights(data_range), dtype=torch.float64, device=dev)
    return _WEIGHTS[key]
