"""Pixel metrics: PSNR (per frame and over all pixels) and absolute differences.

Everything is reduced in float64 so that PSNR matches
``skimage.metrics.peak_signal_noise_ratio`` (which uses float64 MSE) and the integer
differences of uint8 inputs are summed exactly. One pass over the data gives all the
statistics (:func:`pixel_stats`); the public functions are views of it. Inputs stay in
their dtype (uint8 typically) until they reach the device.

Conventions: PSNR is ``inf`` for identical inputs; any NaN in the inputs makes every
result it touches NaN (an Inf against a finite value gives an infinite difference, Inf
against Inf gives NaN), so a broken output can never produce a passing number.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .layout import FramePair

# Device bytes per input element while a chunk of frames is reduced (inputs, two float64
# copies, the difference and its square).
_BYTES_PER_ELEMENT = 40
_CHUNK_BYTES = 256 << 20


@dataclass
class PixelStats:
    """Per-frame sums of one comparison; ``n`` is the number of elements in each frame."""

    sse: np.ndarray      # sum of squared differences, float64 (T,)
    sum_abs: np.ndarray  # sum of absolute differences, float64 (T,)
    max_abs: np.ndarray  # largest absolute difference, float64 (T,)
    n: int

    def psnr_frames(self, data_range: float) -> np.ndarray:
        return _psnr(self.sse / self.n, data_range)

    def psnr_all(self, data_range: float) -> float:
        return float(_psnr(np.asarray([self.sse.sum() / (self.n * len(self.sse))]), data_range)[0])

    def abs_diff(self) -> tuple[float, float]:
        return float(self.max_abs.max()), float(self.sum_abs.sum() / (self.n * len(self.sum_abs)))


def pixel_stats(a: np.ndarray, b: np.ndarray, *, device: str = "cpu") -> PixelStats:
    """One pass over (H, W, C) images or (T, H, W, C) videos of the same shape."""
    return pixel_stats_of(FramePair.of(a, b), device=device)


def pixel_stats_of(pair: FramePair, *, device: str = "cpu") -> PixelStats:
    """:func:`pixel_stats` of a pair normalised once (:mod:`regress.metrics.layout`)."""
    a4, b4 = pair.golden, pair.current
    import torch

    from .ssim import cpu_threads, to_device  # same thread policy and transfer as SSIM (ssim.CPU_THREADS)

    dev = torch.device(device)
    T = a4.shape[0]
    per_frame = int(np.prod(a4.shape[1:]))
    step = max(1, _CHUNK_BYTES // max(1, per_frame * _BYTES_PER_ELEMENT))
    sse = np.empty(T)
    sum_abs = np.empty(T)
    max_abs = np.empty(T)
    with torch.inference_mode(), cpu_threads(dev):
        for t0 in range(0, T, step):
            t1 = min(T, t0 + step)
            x = to_device(a4[t0:t1], dev).to(torch.float64).flatten(1)
            y = to_device(b4[t0:t1], dev).to(torch.float64).flatten(1)
            diff = torch.sub(x, y).abs_()  # not in place: x may share the caller's memory
            del x, y
            # amax propagates NaN, as do the sums.
            max_abs[t0:t1] = diff.amax(dim=1).cpu().numpy()
            sum_abs[t0:t1] = diff.sum(dim=1).cpu().numpy()
            sse[t0:t1] = diff.square_().sum(dim=1).cpu().numpy()
    return PixelStats(sse=sse, sum_abs=sum_abs, max_abs=max_abs, n=per_frame)


def psnr_frames(a: np.ndarray, b: np.ndarray, *, data_range: float = 255.0,
                device: str = "cpu") -> np.ndarray:
    """PSNR of each frame in dB (float64; ``inf`` where a frame is identical)."""
    return pixel_stats(a, b, device=device).psnr_frames(data_range)


def psnr_all(a: np.ndarray, b: np.ndarray, *, data_range: float = 255.0, device: str = "cpu") -> float:
    """PSNR over all pixels of all frames (the MSE is pooled, not the per-frame dB)."""
    return pixel_stats(a, b, device=device).psnr_all(data_range)


def abs_diff(a: np.ndarray, b: np.ndarray, device: str = "cpu") -> tuple[float, float]:
    """(max, mean) absolute difference, in the inputs' units (/255 for uint8)."""
    return pixel_stats(a, b, device=device).abs_diff()


def _psnr(mse: np.ndarray, data_range: float) -> np.ndarray:
    if not (math.isfinite(data_range) and data_range > 0):
        raise ValueError(f"data_range must be a positive finite number, got {data_range!r}")
    mse = np.asarray(mse, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        out = 10.0 * np.log10(data_range**2 / mse)
    out[mse == 0] = np.inf
    return out
