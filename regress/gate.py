"""The quality gate a new golden must pass before it is published.

A golden that is blank, constant, pure noise or holds NaN/Inf would make every later comparison
meaningless (everything "matches" a black square, nothing matches noise), and a new golden far
from the one it replaces is more likely a broken run than an intended change. Refresh refuses
them unless forced, naming the case and the reason.

**Pure noise**, the rule: a frame is pure noise when its luma has (1) a flat power spectrum,
spectral flatness (geometric over arithmetic mean of |FFT|², DC left out) >= 0.5, and (2) no
correlation between neighbouring pixels, |lag-1 autocorrelation| <= 4/sqrt(pixels) both across
and down (4 standard deviations of the autocorrelation of white noise). White noise scores
0.56 flatness. Measured with this code: anti-aliased photos (skimage.data, 32 px to full size)
score <= 0.42 with autocorrelation >= 0.7; the tiny pipelines (flux, qwen-image, wan; 12 seeds,
16-64 px) <= 0.49 with autocorrelation >= 0.117, so both conditions hold for none of them,
while uniform or Gaussian noise of 32 px and more is always flagged (24 px: 99%). Frames under
24x24 px are too small to tell; a video of such frames is judged on all its frames pooled.
This catches pixel noise (a pipeline that returns its initial noise, scrambled or uninitialised
buffers); a VAE decoding unrefined latents makes smoother garbage that it does not claim to catch.

**Drift cap** (``[suite] drift_cap = { ssim = 0.5 }``): the new golden compared with the one it
replaces, same case, same platform, same inputs, must stay within the cap of every listed
metric (in the metric's direction: ssim >= 0.5, max_abs <= 64, ...).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from .metrics.catalog import METRICS
from .outputs import Output

NOISE_FLATNESS = 0.5  # white noise: 0.56
NOISE_SIGMAS = 4.0  # |lag-1 autocorrelation| <= NOISE_SIGMAS / sqrt(pixels)
NOISE_MIN_PIXELS = 24 * 24

_LUMA = np.array([0.299, 0.587, 0.114])


def _frame_problem(frame: np.ndarray) -> str | None:
    lo, hi = int(frame.min()), int(frame.max())
    if hi - lo == 0:
        return f"constant (every pixel {lo})"
    if hi <= 8:
        return "blank (all pixels <= 8/255)"
    return None


def spectral_flatness(y: np.ndarray) -> float:
    """Geometric over arithmetic mean of the power spectrum, DC excluded: 0.56 for white
    noise, near 0 for images whose energy sits at low frequencies."""
    p = np.abs(np.fft.fft2(y - y.mean())).ravel()[1:] ** 2
    p = p + 1e-12 * (float(p.max()) + 1.0)  # a flat image: no log(0)
    return float(np.exp(np.mean(np.log(p))) / np.mean(p))


def lag1_autocorrelation(frames: list[np.ndarray]) -> float:
    """The larger of |horizontal| and |vertical| correlation between neighbouring pixels,
    pooled over ``frames`` (each centred on its own mean)."""
    sums = np.zeros((2, 3))
    for y in frames:
        y = y - y.mean()
        for axis in (0, 1):
            a = y[:, :-1] if axis == 0 else y[:-1]
            b = y[:, 1:] if axis == 0 else y[1:]
            sums[axis] += ((a * b).sum(), (a * a).sum(), (b * b).sum())
    r = [s[0] / np.sqrt(s[1] * s[2]) if s[1] * s[2] > 0 else 1.0 for s in sums]
    return float(max(abs(r[0]), abs(r[1])))


def noise_stats(frames: np.ndarray) -> tuple[float, float, float]:
    """(flatness, autocorrelation, its limit) of uint8 HxWx3 frames stacked as TxHxWx3."""
    ys = [f.astype(np.float64) @ _LUMA for f in frames]
    pixels = sum(y.size for y in ys)
    flat = float(np.mean([spectral_flatness(y) for y in ys]))
    return flat, lag1_autocorrelation(ys), NOISE_SIGMAS / np.sqrt(pixels)


def is_pure_noise(frames: np.ndarray) -> tuple[bool, str]:
    """Whether the frames (judged together) are pure noise, and the numbers that say so."""
    flat, r, limit = noise_stats(frames)
    why = f"spectral flatness {flat:.2f} >= {NOISE_FLATNESS}, neighbour correlation {r:.3f} <= {limit:.3f}"
    return flat >= NOISE_FLATNESS and r <= limit, why


def _noise_problem(video: np.ndarray) -> str | None:
    if video.shape[1] * video.shape[2] >= NOISE_MIN_PIXELS:
        noisy = []
        for i, frame in enumerate(video):
            hit, why = is_pure_noise(frame[None])
            if hit:
                noisy.append((i, why))
        if not noisy:
            return None
        i, why = noisy[0]
        if len(video) == 1:
            return f"pure noise ({why})"
        return f"{len(noisy)} of {len(video)} frames are pure noise (first: frame {i}, {why})"
    if video.shape[0] * video.shape[1] * video.shape[2] >= NOISE_MIN_PIXELS:
        noisy, why = is_pure_noise(video)
        if noisy:
            return f"pure noise over its {len(video)} frames ({why})"
    return None


def quality_problems(output: Output) -> list[str]:
    """Reasons this output must not become a golden (empty list: fine)."""
    problems: list[str] = []
    if output.nonfinite:
        problems.append(f"output held {output.nonfinite} NaN/Inf values before quantisation")
    if output.image is not None:
        p = _frame_problem(output.image) or _noise_problem(output.image[None])
        if p:
            problems.append(f"image is {p}")
    if output.video is not None:
        bad = [(i, p) for i, f in enumerate(output.video) if (p := _frame_problem(f))]
        if bad:
            i, p = bad[0]
            problems.append(f"{len(bad)} of {len(output.video)} video frames are blank or constant "
                            f"(first: frame {i}, {p})")
        elif (p := _noise_problem(output.video)):
            problems.append(f"video: {p}")
    if output.audio is not None:
        a = output.audio
        if not np.all(np.isfinite(a)):
            problems.append("audio holds NaN/Inf")
        elif float(np.max(np.abs(a))) == 0.0:
            problems.append("audio is silent (all zeros)")
    return problems


def drift_problems(values: Mapping[str, float | None], cap: Mapping[str, float]) -> list[str]:
    """Metrics of new-vs-old golden that break the suite's ``drift_cap`` (empty list: fine)."""
    problems = []
    for name, limit in cap.items():
        value = values.get(name)
        spec = METRICS[name]
        if value is None or spec.passes(value, limit):
            continue
        problems.append(f"it drifts from the golden it replaces beyond the cap: {name}={value:.4g}{spec.unit} "
                        f"(cap {spec.op} {limit:g}, [suite] drift_cap)")
    return problems
