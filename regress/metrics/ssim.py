"""Gaussian SSIM per frame, in torch, matching scikit-image.

Reference: ``skimage.metrics.structural_similarity(a, b, gaussian_weights=True, sigma=1.5,
use_sample_covariance=False, data_range=255, channel_axis=-1)``, i.e. Wang et al. 2004: an
11-tap Gaussian window (sigma 1.5, truncate 3.5), K1=0.01, K2=0.03, population covariance,
the SSIM map averaged over *valid* windows only (skimage crops (11-1)//2 = 5 pixels from
each border, which is exactly the output of an unpadded convolution), then averaged over
channels. Agreement with skimage is better than 1e-5 (typically ~1e-7; see
tests/test_metrics.py).

Why the formulation looks unusual:

* Speed. Gaussian filtering is separable, so each moment map costs two 1-D convolutions
  (a 1x11 then an 11x1 depthwise conv; channels-last is by far the fastest layout for
  oneDNN on CPU). Instead of the textbook five maps (x, y, x^2, y^2, xy) we filter four:
  ``s = x + y``, ``d = x - y``, ``s^2`` and ``d^2``. SSIM only needs ``2*cov`` and
  ``var_x + var_y`` (and ``2*mu_x*mu_y``, ``mu_x^2 + mu_y^2``), which are the half-sum and
  half-difference of ``var(s)`` and ``var(d)`` (and of ``mu_s^2``, ``mu_d^2``).
* Accuracy in float32. ``E[s^2] - E[s]^2`` cancels catastrophically when the local mean is
  large. ``s`` and ``d`` are shifted by a per-(band, frame, channel) constant near their
  mean before squaring (rounded to an integer for integer inputs, so the shifted values
  and their squares stay exact in float32); variances are shift-invariant and the shift
  is added back to the means. ``d`` is small for similar images, so the term that decides SSIM near 1 is also
  the most accurate one. float64 would be exact too, but oneDNN has no fast float64
  depthwise convolution (about 10x slower on CPU).
* Memory. Frames are processed in chunks of whole frames, and a frame larger than the
  budget in row bands that overlap by (window - 1) rows; valid-only windows make banding
  exact. On CPU the band is additionally kept small enough to stay in cache, and the
  work runs on :data:`CPU_THREADS` torch threads (one by default: robust when other
  processes compete for the cores; see the constant).
* TF32. On CUDA, cuDNN may run float32 convolutions in TF32 (10-bit mantissa), which has
  moved SSIM by ~1e-2 on Hopper and would break the 1e-5 parity. (The depthwise kernels
  cuDNN 9 picks for this measured unaffected on an H100, but the choice is cuDNN's.) TF32
  is switched off for the computation and the caller's flags are restored afterwards.

Small images (documented behaviour; skimage raises instead): along each axis the window is
the largest odd size ``k <= min(11, side)``, with taps ``exp(-x^2 / (2 * 1.5^2))`` for
``|x| <= (k-1)//2`` renormalised to sum to 1, and only valid windows are averaged. A 5x5
image therefore uses one 5x5 Gaussian window (a single SSIM value); a side of 1 or 2 uses
a 1-tap window along that axis. A 1x1 image degenerates to comparing global statistics:
means equal the pixel values and variances are zero, so SSIM is the luminance term
``(2xy + C1) / (x^2 + y^2 + C1)`` averaged over channels. Images of at least 11x11 are
unaffected.

Non-finite input values (NaN, +-Inf in float inputs) make that frame's SSIM NaN, never a
passing number. Inputs stay in their dtype (uint8 typically) until they reach the device.
"""

from __future__ import annotations

import contextlib
import math
import threading
from collections.abc import Iterator
from typing import Any

import numpy as np

from .layout import FramePair

SIGMA = 1.5
TRUNCATE = 3.5
K1 = 0.01
K2 = 0.03
WIN = 2 * int(TRUNCATE * SIGMA + 0.5) + 1  # 11, as skimage / scipy.ndimage compute it

# Peak device bytes per input element (pixel x channel) while a band is processed: uint8
# inputs (2), the 4 stacked float32 moment maps (16) and a convolution output (16), plus
# slack. Measured on CUDA: ~32 bytes per element at the peak.
_BYTES_PER_ELEMENT = 40
# On CPU, bands are kept near this (estimated) size so that the intermediates stay in the
# L2/L3 cache. Measured on a 2-core EPYC (2 MiB L2 per core, 32 MiB L3) for a 1024x1024 RGB
# frame: bands of 128-256 output rows are ~2.5x faster than one pass over the whole frame
# (memory bandwidth, not arithmetic, is the limit), 16-row bands ~2x slower again.
_CPU_BAND_BYTES = 24 << 20
# Torch intra-op threads for the CPU path; None keeps torch's setting. One thread by
# default: each band is ~25 short torch ops, each ending in an OpenMP barrier, and when
# other processes compete for the cores (pytest-xdist workers, parallel CI jobs) a
# descheduled worker stalls every barrier. Measured for a 1024x1024 RGB pair on a 2-core
# EPYC: idle, 2 threads ~45 ms and 1 thread ~70-95 ms; with the cores saturated by other
# processes, 2 threads 1.1-1.5 s (slower than skimage) and 1 thread ~210 ms. One thread
# stays 4-6x faster than skimage in both cases. The setting is restored after each call.
CPU_THREADS: int | None = 1


def window_size(side: int) -> int:
    """The Gaussian window length used along an axis of ``side`` pixels (see module doc)."""
    if side < 1:
        raise ValueError("empty image axis")
    k = min(WIN, side)
    return k if k % 2 == 1 else k - 1


def gaussian_taps(k: int) -> np.ndarray:
    """Normalised 1-D Gaussian of odd length ``k`` (sigma 1.5), as scipy.ndimage builds it."""
    r = (k - 1) // 2
    x = np.arange(-r, r + 1, dtype=np.float64)
    w = np.exp(-0.5 / SIGMA**2 * x * x)
    return w / w.sum()


def ssim_frames(a: np.ndarray, b: np.ndarray, *, data_range: float = 255.0, device: str = "cpu",
                chunk_bytes: int = 256 << 20) -> np.ndarray:
    """Per-frame SSIM of ``a`` against ``b``.

    ``a`` and ``b`` are (H, W, C) images or (T, H, W, C) videos of the same shape (uint8
    typically; any real dtype is accepted). Returns a float64 array with one value per frame
    (length 1 for an image). ``chunk_bytes`` bounds the device memory used at a time.
    """
    return ssim_of(FramePair.of(a, b), data_range=data_range, device=device, chunk_bytes=chunk_bytes)


def ssim_of(pair: FramePair, *, data_range: float = 255.0, device: str = "cpu",
            chunk_bytes: int = 256 << 20) -> np.ndarray:
    """:func:`ssim_frames` of a pair normalised once (:mod:`regress.metrics.layout`)."""
    a4, b4 = pair.golden, pair.current
    if not (math.isfinite(data_range) and data_range > 0):
        raise ValueError(f"data_range must be a positive finite number, got {data_range!r}")
    import torch

    T, H, W, C = a4.shape
    kh, kw = window_size(H), window_size(W)
    dev = torch.device(device)
    budget = int(chunk_bytes)
    if dev.type == "cpu":
        budget = min(budget, _CPU_BAND_BYTES)
    integral = not np.issubdtype(a4.dtype, np.floating) and not np.issubdtype(b4.dtype, np.floating)
    c1 = 2.0 * (K1 * data_range) ** 2  # doubled: the SSIM terms in _band carry a factor 2
    c2 = 2.0 * (K2 * data_range) ** 2

    sums = torch.zeros(T, C, dtype=torch.float64)
    bad = torch.zeros(T, dtype=torch.bool)
    with torch.inference_mode(), _fp32_strict(dev), cpu_threads(dev):
        taps = torch.from_numpy(gaussian_taps(kh)).to(dev, torch.float32)
        taps_w = torch.from_numpy(gaussian_taps(kw)).to(dev, torch.float32)
        wv = taps.view(1, 1, kh, 1).expand(4 * C, 1, kh, 1).contiguous()
        wh = taps_w.view(1, 1, 1, kw).expand(4 * C, 1, 1, kw).contiguous()
        bias = torch.zeros(4, C, dtype=torch.float32, device=dev)
        bias[2] = c2
        bias = bias.view(4 * C)
        for t0, t1, r0, r1 in _plan(T, H, W, C, kh, budget):
            x = to_device(a4[t0:t1, r0:r1 + kh - 1], dev)
            y = to_device(b4[t0:t1, r0:r1 + kh - 1], dev)
            band_sum, band_bad = _band(x, y, wh, wv, bias, c1, integral)
            sums[t0:t1] += band_sum.to("cpu", torch.float64)
            if band_bad is not None:
                bad[t0:t1] |= band_bad.to("cpu")
    n_windows = (H - kh + 1) * (W - kw + 1)
    per_frame = (sums / n_windows).mean(dim=1)
    per_frame[bad] = float("nan")
    return per_frame.numpy().astype(np.float64)


def _plan(T: int, H: int, W: int, C: int, kh: int, budget: int) -> Iterator[tuple[int, int, int, int]]:
    """Chunks ``(t0, t1, r0, r1)``: frames [t0, t1), valid output rows [r0, r1).

    Whole frames are grouped while they fit in ``budget``; a frame that does not fit is cut
    into row bands whose inputs overlap by ``kh - 1`` rows.
    """
    out_rows = H - kh + 1
    row_bytes = W * C * _BYTES_PER_ELEMENT
    frame_bytes = H * row_bytes
    if frame_bytes <= budget:
        step = max(1, budget // frame_bytes)
        for t0 in range(0, T, step):
            yield t0, min(T, t0 + step), 0, out_rows
        return
    band = max(1, budget // row_bytes - (kh - 1))
    n_bands = -(-out_rows // band)
    band = -(-out_rows // n_bands)  # even out the bands
    for t in range(T):
        for r0 in range(0, out_rows, band):
            yield t, t + 1, r0, min(out_rows, r0 + band)


def _band(x: Any, y: Any, wh: Any, wv: Any, bias: Any, c1: float,
          integral: bool) -> tuple[Any, Any | None]:
    """SSIM-map sums over one band: per (frame, channel) float64 sums, and the per-frame
    non-finite flags (None for integer inputs, which cannot hold NaN).

    Written for few passes over memory (each torch op is one pass, and on a busy CPU each
    is also one thread barrier): conversion and centring are one op, 2*C2 rides on the
    convolution's bias, and the SSIM terms are built with in-place fused ops.
    """
    import torch
    import torch.nn.functional as F

    Tb, R, W, C = x.shape
    cx, cy = _shift(x, integral), _shift(y, integral)  # (T, 1, 1, C) float32
    if x.dtype == torch.float64:
        x, y = x.to(torch.float32), y.to(torch.float32)
    xf = x - cx  # uint8 - float32 -> float32: converts and centres in one pass
    yf = y - cy
    bad = None
    if not integral:
        bad = ~(torch.isfinite(xf).flatten(1).all(1) & torch.isfinite(yf).flatten(1).all(1))

    # Moment inputs, stacked channels-last: (T, R, W, 4, C) -> channels [s, d, s^2, d^2] x C,
    # with s = x + y and d = x - y shifted by cx + cy and cx - cy.
    st = torch.empty(Tb, R, W, 4, C, dtype=torch.float32, device=x.device)
    s = torch.add(xf, yf, out=st[..., 0, :])
    d = torch.sub(xf, yf, out=st[..., 1, :])
    del xf, yf
    torch.mul(s, s, out=st[..., 2, :])
    torch.mul(d, d, out=st[..., 3, :])
    del s, d

    n = 4 * C
    f = st.view(Tb, R, W, n).permute(0, 3, 1, 2)  # NCHW view of channels-last memory
    f = F.conv2d(f, wh, groups=n)
    del st
    f = F.conv2d(f, wv, bias, groups=n)  # bias: +2*C2 on the s^2 channels
    f = f.contiguous().view(Tb, 4, C, f.shape[-2], f.shape[-1])
    us, ud, vs, vd = f[:, 0], f[:, 1], f[:, 2], f[:, 3]
    vs.addcmul_(us, us, value=-1.0)  # var(s) + 2 C2 (variances are shift-invariant)
    vd.addcmul_(ud, ud, value=-1.0)  # var(d)
    us.add_((cx + cy).view(Tb, C, 1, 1))  # mu_s = mu_x + mu_y
    ud.add_((cx - cy).view(Tb, C, 1, 1))  # mu_d = mu_x - mu_y
    q = ud.square_()
    # Doubled SSIM terms:  2*(2 mu_x mu_y + C1) = mu_s^2 - mu_d^2 + 2 C1 (built negated),
    # 2*(mu_x^2 + mu_y^2 + C1) = mu_s^2 + mu_d^2 + 2 C1,
    # 2*(2 cov + C2) = var_s - var_d + 2 C2,  2*(var_x + var_y + C2) = var_s + var_d + 2 C2.
    a1_neg = torch.addcmul(q, us, us, value=-1.0).sub_(c1)
    b1 = q.addcmul_(us, us).add_(c1)
    a2 = torch.sub(vs, vd)
    b2 = vs.add_(vd)
    smap_neg = a1_neg.mul_(a2).div_(b1.mul_(b2))
    # Row sums in float32 (short, vectorised), the rest in float64.
    return smap_neg.sum(dim=-1).to(torch.float64).sum(dim=-1).neg_(), bad


def _shift(x: Any, integral: bool) -> Any:
    """Per-(frame, channel) centring constant: the mean of a strided subsample (small
    enough to stay a cheap single-threaded op), rounded for integer inputs so that the
    shifted values and their squares stay exact in float32. Any constant is correct (it
    cancels); a near-mean one minimises float32 cancellation."""
    import torch

    Tb, R, W, C = x.shape
    step = max(1, int(math.sqrt(R * W / 4096)))
    m = x[:, ::step, ::step].to(torch.float32).mean(dim=(1, 2), keepdim=True)
    m = torch.nan_to_num(m, nan=0.0, posinf=0.0, neginf=0.0)
    return m.round() if integral else m


_threads_lock = threading.Lock()
_threads_users = 0
_threads_saved = 0


@contextlib.contextmanager
def cpu_threads(dev: Any) -> Iterator[None]:
    """Run with :data:`CPU_THREADS` torch threads when ``dev`` is the CPU; the caller's
    setting is restored when the last concurrent user leaves."""
    if dev.type != "cpu" or CPU_THREADS is None:
        yield
        return
    import torch

    global _threads_users, _threads_saved
    with _threads_lock:
        if _threads_users == 0:
            _threads_saved = torch.get_num_threads()
            wanted = max(1, min(CPU_THREADS, _threads_saved))
            if wanted != _threads_saved:
                torch.set_num_threads(wanted)
        _threads_users += 1
    try:
        yield
    finally:
        with _threads_lock:
            _threads_users -= 1
            if _threads_users == 0 and torch.get_num_threads() != _threads_saved:
                torch.set_num_threads(_threads_saved)


def to_device(arr: np.ndarray, dev: Any) -> Any:
    """A torch tensor of ``arr`` on ``dev`` (the CPU: no copy), in its own dtype (bool as uint8);
    the SSIM bands and the pixel statistics' chunks (:mod:`regress.metrics.pixel`) go through it."""
    import torch

    arr = np.ascontiguousarray(arr)
    t = torch.from_numpy(arr.view(np.uint8) if arr.dtype == np.bool_ else arr)
    return t.to(dev, non_blocking=False) if dev.type != "cpu" else t


@contextlib.contextmanager
def _fp32_strict(dev: Any) -> Iterator[None]:
    """Switch TF32 off for cuDNN convolutions and matmuls on CUDA; restore afterwards."""
    if dev.type != "cuda":
        yield
        return
    from ..tf32 import tf32

    with tf32(False):
        yield
