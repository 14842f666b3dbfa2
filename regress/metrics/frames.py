"""Per-frame SSIM and pixel statistics of two images or videos, on the run's device.

One entry point, :func:`frame_metrics`, picks the fastest exact path:

* CUDA (or ROCm) with Triton, uint8 inputs of at least 11 rows and 12 columns: the fused kernel of
  :mod:`regress.metrics.ssim_triton` (SSIM, squared / absolute difference sums and the
  largest difference in one pass), fed by the pinned, overlapped host->device pipeline of
  :mod:`regress.metrics.transfer`;
* otherwise (CPU, no Triton, float inputs, images smaller than the window): the torch
  implementations :func:`regress.metrics.ssim.ssim_frames` and
  :func:`regress.metrics.pixel.pixel_stats`, in memory-bounded chunks.

Frames already on the GPU (a pipeline's output, a golden cached on the device) go through
:func:`frame_metrics_on_device` instead: straight to the fused kernel, no host round trip.

Before either, a byte-identical pair (:mod:`regress.metrics.identity`) gets its exact values
without a computation: SSIM 1, no difference (path ``identical``). On the GPU path only pairs
up to ``IDENTITY_MAX_BYTES`` are scanned on the host: above it the fused kernel is faster
than the scan.

Both agree with ``skimage.metrics.structural_similarity`` (Gaussian, sigma 1.5,
population covariance, valid windows) within 1e-5, and the pixel statistics are exact.
"""

from __future__ import annotations

import contextlib
import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from . import fused_compile
from .identity import identical
from .layout import as_frames
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
# Device bytes per chunk of frames in flight (both inputs); the pipeline keeps three.
CHUNK_BYTES = 48 << 20
# float64 moments in the fused kernel: ~5x slower on the H100 (15.7 against 2.9 ms for the
# 121-frame 720p pair with the previous kernel; not re-timed since) for agreement with skimage
# of ~1e-15 instead of ~3e-7 (the tolerance is 1e-5). None: float32.
FUSED_F64: bool | None = None
# Largest array (bytes, each input) whose identity is checked on the host before the fused
# kernel: a host scan ran at 10 GB/s (2-core CPU machine) while the fused path moves 0.67 GB
# in ~23 ms on the H100 (benchmarks/RESULTS.md).
IDENTITY_MAX_BYTES = 64 << 20


@dataclass
class FrameMetrics:
    """SSIM per frame (float64, NaN for a frame with non-finite input) and the pixel sums."""

    ssim: np.ndarray
    pixel: PixelStats
    path: str  # 'fused-triton-f64', 'fused-triton-f32' or 'torch': which implementation ran


@dataclass(frozen=True)
class FramePair:
    """Two images or videos in the one form every frame metric reads: (T, H, W, C) views,
    validated once, and whether they are identical, checked once (:func:`frame_pair`)."""

    golden: np.ndarray
    current: np.ndarray
    identical: bool  # equal finite values; False also where the check was skipped (see frame_pair)
    fused: bool  # the fused GPU kernel takes this pair on the run's device


def frame_pair(a: Any, b: Any, *, device: str = "cpu") -> FramePair:
    """``a`` and ``b`` normalised for the frame metrics (SSIM, pixel statistics, LPIPS). On the
    fused GPU path only pairs up to ``IDENTITY_MAX_BYTES`` are scanned: above it the kernel is
    faster than the host scan."""
    import torch

    a4, b4 = as_frames(a, b)
    fused = fused_available(torch.device(device), a4, b4)
    same = identical(a4, b4, max_bytes=IDENTITY_MAX_BYTES if fused else None)
    return FramePair(golden=a4, current=b4, identical=same, fused=fused)


def frame_metrics(a: Any, b: Any, *, device: str = "cpu", data_range: float = 255.0) -> FrameMetrics:
    """SSIM and pixel statistics of (H, W, C) images or (T, H, W, C) videos of one shape."""
    return pair_metrics(frame_pair(a, b, device=device), device=device, data_range=data_range)


def pair_metrics(pair: FramePair, *, device: str = "cpu", data_range: float = 255.0) -> FrameMetrics:
    """SSIM and pixel statistics of a :class:`FramePair`, by the fastest exact path."""
    if not (math.isfinite(data_range) and data_range > 0):
        raise ValueError(f"data_range must be a positive finite number, got {data_range!r}")
    a4, b4 = pair.golden, pair.current
    if pair.identical:
        return identical_metrics(a4.shape)
    import torch

    dev = torch.device(device)
    if pair.fused:
        return _fused(a4, b4, dev, data_range, _use_f64(dev))
    from .pixel import pixel_stats
    from .ssim import ssim_frames

    return FrameMetrics(ssim=ssim_frames(a4, b4, data_range=data_range, device=device),
                        pixel=pixel_stats(a4, b4, device=device), path="torch")


def identical_metrics(shape: tuple[int, ...]) -> FrameMetrics:
    """The exact metrics of a (T, H, W, C) pair with equal finite values (see identity.py)."""
    T = shape[0]
    zeros = np.zeros(T, dtype=np.float64)
    stats = PixelStats(sse=zeros, sum_abs=zeros.copy(), max_abs=zeros.copy(), n=int(np.prod(shape[1:])))
    return FrameMetrics(ssim=np.ones(T, dtype=np.float64), pixel=stats, path="identical")


def fused_available(dev: Any, a4: np.ndarray, b4: np.ndarray) -> bool:
    """The fused kernel handles uint8 frames of at least 11 rows and 12 columns (two windows a
    row) on a CUDA/ROCm device, once its variant is loaded in this process (never a compile on
    the judging path: :mod:`regress.metrics.fused_compile`)."""
    if dev.type != "cuda" or a4.dtype != np.uint8 or b4.dtype != np.uint8:
        return False
    if a4.shape[1] < 11 or a4.shape[2] < 12:  # at least two windows per row (see _windows_per_lane)
        return False
    return _has_triton() and _loaded(dev, tuple(a4.shape))


def _loaded(dev: Any, shape: tuple[int, ...]) -> bool:
    """Whether the kernel variant for frames of ``shape`` is loaded on ``dev`` (its preparation
    starts in the background if not). float64 moments (a benchmark's choice) compile on use."""
    if _use_f64(dev):
        return True
    T, H, W, C = shape
    return fused_compile.ready(dev, (C, _windows_per_lane(T, H, W, C)))


def _launch_variant(device: str, variant: tuple[int, int]) -> None:
    """One comparison of two small zero inputs in ``variant`` (channels, windows per lane): the
    kernel is not specialised on sizes, so this compiles (or loads) what every shape uses."""
    import torch

    c, p = variant
    shape = (1, 16, 12 + 3 * p, c)
    dev = torch.device(device)
    x = torch.zeros(shape, dtype=torch.uint8, device=dev)
    with torch.cuda.device(dev):
        run = _FusedRun(shape, dev, 255.0, False, per_lane=p)
        run.launch(x, x, 0)
        run.result()


def _has_triton() -> bool:
    try:
        import triton  # noqa: F401
    except ImportError:
        return False
    return True


def _use_f64(dev: Any) -> bool:
    return bool(FUSED_F64)


def _fused(a4: np.ndarray, b4: np.ndarray, dev: Any, data_range: float, f64: bool) -> FrameMetrics:
    """Host uint8 arrays -> chunks through the transfer pipeline -> kernel per chunk."""
    import torch

    from .transfer import frames_per_chunk, stream_frames

    # (A CPU device only happens under TRITON_INTERPRET=1, which the tests use to check the
    # kernel's arithmetic without a GPU.)
    on_gpu = torch.cuda.device(dev) if dev.type == "cuda" else contextlib.nullcontext()
    with on_gpu:
        run = _FusedRun(a4.shape, dev, data_range, f64)
        chunk = frames_per_chunk(a4[0].nbytes, 2, CHUNK_BYTES)
        for t0, _t1, (x, y) in stream_frames([a4, b4], dev, chunk):
            run.launch(x, y, t0)
        return run.result()


def frame_metrics_on_device(*, golden: Any, current: Any, data_range: float = 255.0) -> FrameMetrics:
    """SSIM and pixel statistics of frames that are already on the GPU: (H, W, C) or
    (T, H, W, C) uint8 torch tensors of one shape on one CUDA device.

    Why: a pipeline's output (and a golden cached on the device) is already there; starting
    from host arrays would copy 0.67 GB for a 121-frame 720p pair, ~20 ms against ~2 ms of
    kernel. The inputs are checked and made contiguous once, go straight to the fused kernel
    (no host copy, no identity scan: the kernel returns exactly 1 and 0 for identical frames),
    and only the per-frame numbers come back. Other inputs (CPU tensors, float dtypes, frames
    below 11 rows or 12 columns, no Triton) take :func:`frame_metrics` through host memory.
    """
    x, y = golden, current
    if not (hasattr(x, "is_cuda") and hasattr(y, "is_cuda")):
        raise TypeError("frame_metrics_on_device takes torch tensors; use frame_metrics for arrays")
    if tuple(x.shape) != tuple(y.shape):
        raise ValueError(f"inputs differ in shape: {tuple(x.shape)} vs {tuple(y.shape)}")
    if x.dim() not in (3, 4):
        raise ValueError(f"expected (H, W, C) or (T, H, W, C) tensors, got shape {tuple(x.shape)}")
    if x.dim() == 3:
        x, y = x.unsqueeze(0), y.unsqueeze(0)
    import torch

    if not (x.is_cuda and y.is_cuda and x.device == y.device and x.dtype == torch.uint8 == y.dtype
            and x.shape[1] >= 11 and x.shape[2] >= 12 and 0 not in x.shape and _has_triton()
            and _loaded(x.device, tuple(x.shape))):
        return frame_metrics(x.detach().cpu().numpy(), y.detach().cpu().numpy(), device=str(x.device),
                             data_range=data_range)
    with torch.cuda.device(x.device):
        run = _FusedRun(tuple(x.shape), x.device, data_range, _use_f64(x.device))
        run.launch(x.contiguous(), y.contiguous(), 0)
        return run.result()


def fused_on_device(x: Any, y: Any, *, data_range: float = 255.0, f64: bool | None = None) -> FrameMetrics:
    """The fused kernel on uint8 (T, H, W, C) tensors already on the GPU, with the precision
    chosen (the benchmark times both)."""
    if x.shape != y.shape or x.dim() != 4 or x.shape[1] < 11 or x.shape[2] < 12:
        raise ValueError(f"expected two uint8 (T, H, W, C) tensors of at least 11x12, got {tuple(x.shape)} "
                         f"and {tuple(y.shape)}")
    run = _FusedRun(tuple(x.shape), x.device, data_range, _use_f64(x.device) if f64 is None else f64)
    run.launch(x.contiguous(), y.contiguous(), 0)
    return run.result()


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


def _windows_per_lane(T: int, H: int, W: int, C: int) -> int:
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


class _FusedRun:
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
        self.per_lane = per_lane or (_windows_per_lane(T, H, W, C) if not f64 else max(2, min(WINDOWS_PER_LANE, W - 10)))
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


fused_compile.register(launch=_launch_variant, parts=[BLOCK, NUM_WARPS, UNROLL, MAX_REGS, PREFETCH_ROWS, PREFETCH_LEVEL])
