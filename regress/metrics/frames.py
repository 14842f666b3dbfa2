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
from typing import Any

import numpy as np

from . import fused_compile, fused_run
from .frame_result import FrameMetrics, identical_metrics
from .fused_run import FusedRun, windows_per_lane
from .identity import identical
from .layout import FramePair

# FrameMetrics, identical_metrics and FramePair are read from here too (compare, tests).
__all__ = ["FrameMetrics", "FramePair", "frame_metrics", "frame_metrics_on_device", "device_frame_pair",
           "fused_available", "fused_on_device", "identical_metrics", "pair_metrics"]

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


def device_frame_pair(golden: Any, current: Any) -> FramePair:
    """Frames already on a device (torch tensors, (H, W, C) or (T, H, W, C), one shape),
    checked and made contiguous once: the device path's one normalised pair. ``fused``: the
    kernel takes them where they are (uint8 on one CUDA device, at least 11x12, Triton loaded);
    otherwise :func:`pair_metrics` copies them to the host."""
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

    fused = (x.is_cuda and y.is_cuda and x.device == y.device and x.dtype == torch.uint8 == y.dtype
             and x.shape[1] >= 11 and x.shape[2] >= 12 and 0 not in x.shape and _has_triton()
             and _loaded(x.device, tuple(x.shape)))
    if fused:
        x, y = x.contiguous(), y.contiguous()
    return FramePair(golden=x, current=y, fused=bool(fused), on_device=True)


def frame_metrics(a: Any, b: Any, *, device: str = "cpu", data_range: float = 255.0) -> FrameMetrics:
    """SSIM and pixel statistics of (H, W, C) images or (T, H, W, C) videos of one shape."""
    return pair_metrics(FramePair.of(a, b), device=device, data_range=data_range)


def pair_metrics(pair: FramePair, *, device: str = "cpu", data_range: float = 255.0) -> FrameMetrics:
    """SSIM and pixel statistics of a :class:`FramePair`, by the fastest exact path (``path``
    'identical' for a host pair of equal finite values: nothing computed)."""
    if not (math.isfinite(data_range) and data_range > 0):
        raise ValueError(f"data_range must be a positive finite number, got {data_range!r}")
    a4, b4 = pair.golden, pair.current
    import torch

    if pair.on_device:
        if not pair.fused:  # through host memory (see device_frame_pair)
            return frame_metrics(a4.detach().cpu().numpy(), b4.detach().cpu().numpy(), device=str(a4.device),
                                 data_range=data_range)
        with torch.cuda.device(a4.device):
            run = FusedRun(tuple(a4.shape), a4.device, data_range, _use_f64(a4.device))
            run.launch(a4, b4, 0)
            return run.result()
    dev = torch.device(device)
    fused = fused_available(dev, a4, b4)
    # Identity first (its exact values, nothing computed); above IDENTITY_MAX_BYTES the fused
    # kernel is faster than the host scan.
    if identical(a4, b4, max_bytes=IDENTITY_MAX_BYTES if fused else None):
        return identical_metrics(tuple(a4.shape))
    if fused:
        return _fused(a4, b4, dev, data_range, _use_f64(dev))
    from .pixel import pixel_stats_of
    from .ssim import ssim_of

    pixel = pixel_stats_of(pair, device=device)  # (first: its chunks go through ssim's helpers, then SSIM)
    return FrameMetrics(ssim=ssim_of(pair, data_range=data_range, device=device), pixel=pixel, path="torch")


def fused_available(dev: Any, a4: np.ndarray, b4: np.ndarray) -> bool:
    """The fused kernel handles uint8 frames of at least 11 rows and 12 columns (two windows a
    row) on a CUDA/ROCm device, once its variant is loaded in this process (never a compile on
    the judging path: :mod:`regress.metrics.fused_compile`)."""
    if dev.type != "cuda" or a4.dtype != np.uint8 or b4.dtype != np.uint8:
        return False
    if a4.shape[1] < 11 or a4.shape[2] < 12:  # at least two windows per row (see windows_per_lane)
        return False
    return _has_triton() and _loaded(dev, tuple(a4.shape))


def _loaded(dev: Any, shape: tuple[int, ...]) -> bool:
    """Whether the kernel variant for frames of ``shape`` is loaded on ``dev`` (its preparation
    starts in the background if not). float64 moments (a benchmark's choice) compile on use."""
    if _use_f64(dev):
        return True
    T, H, W, C = shape
    return fused_compile.ready(dev, (C, windows_per_lane(T, H, W, C)))


def _launch_variant(device: str, variant: tuple[int, int]) -> None:
    """One comparison of two small zero inputs in ``variant`` (channels, windows per lane): the
    kernel is not specialised on sizes, so this compiles (or loads) what every shape uses."""
    import torch

    c, p = variant
    shape = (1, 16, 12 + 3 * p, c)
    dev = torch.device(device)
    x = torch.zeros(shape, dtype=torch.uint8, device=dev)
    with torch.cuda.device(dev):
        run = FusedRun(shape, dev, 255.0, False, per_lane=p)
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
        run = FusedRun(a4.shape, dev, data_range, f64)
        chunk = frames_per_chunk(a4[0].nbytes, 2, CHUNK_BYTES)
        for t0, _t1, (x, y) in stream_frames([a4, b4], dev, chunk):
            run.launch(x, y, t0)
        return run.result()


def frame_metrics_on_device(*, golden: Any, current: Any, data_range: float = 255.0) -> FrameMetrics:
    """SSIM and pixel statistics of frames that are already on the GPU: (H, W, C) or
    (T, H, W, C) uint8 torch tensors of one shape on one CUDA device.

    Why: a pipeline's output (and a golden cached on the device) is already there; starting
    from host arrays would copy 0.67 GB for a 121-frame 720p pair, ~20 ms against ~2 ms of
    kernel. The inputs are checked and made contiguous once (:func:`device_frame_pair`), go
    straight to the fused kernel (no host copy, no identity scan: the kernel returns exactly 1
    and 0 for identical frames), and only the per-frame numbers come back. Other inputs (CPU
    tensors, float dtypes, frames below 11 rows or 12 columns, no Triton) take
    :func:`frame_metrics` through host memory.
    """
    pair = device_frame_pair(golden, current)
    return pair_metrics(pair, device=str(pair.golden.device), data_range=data_range)


def fused_on_device(x: Any, y: Any, *, data_range: float = 255.0, f64: bool | None = None) -> FrameMetrics:
    """The fused kernel on uint8 (T, H, W, C) tensors already on the GPU, with the precision
    chosen (the benchmark times both)."""
    if x.shape != y.shape or x.dim() != 4 or x.shape[1] < 11 or x.shape[2] < 12:
        raise ValueError(f"expected two uint8 (T, H, W, C) tensors of at least 11x12, got {tuple(x.shape)} "
                         f"and {tuple(y.shape)}")
    run = FusedRun(tuple(x.shape), x.device, data_range, _use_f64(x.device) if f64 is None else f64)
    run.launch(x.contiguous(), y.contiguous(), 0)
    return run.result()


# The kernel's shape constants are part of the compiled variant's key (fused_compile).
fused_compile.register(launch=_launch_variant, parts=[fused_run.BLOCK, fused_run.NUM_WARPS, fused_run.UNROLL,
                                                      fused_run.MAX_REGS, fused_run.PREFETCH_ROWS,
                                                      fused_run.PREFETCH_LEVEL])
