"""Audio metrics: SNR, a log-mel spectral distance, the largest sample difference, and the
checks that make two waveforms comparable at all (channels, sample rate, duration).

Why three numbers. SNR (``audio_snr``, dB) is the waveform-level gate: on its own platform a
tiny pipeline is bit-reproducible, and a precision change (a bf16 audio VAE or vocoder)
shows up as a finite SNR. But SNR punishes a tiny phase shift as hard as audible noise and
says nothing about *where* in the spectrum a change sits, so a perceptual-ish spectral
distance (``audio_mel``, dB) is reported and gated beside it; ``audio_max_abs`` catches a
single clipped or spiking sample that an average hides.

The log-mel distance, exactly (numpy only, so it needs neither torch nor librosa):

1. frames: ``n_fft = 2**round(log2(0.032 * sample_rate))`` (a ~32 ms window) clamped to
   [16, 4096]; ``hop = n_fft // 4``; a periodic Hann window; the signal is zero-padded by
   ``n_fft // 2`` on both sides (centred frames) and to at least one full frame;
2. power spectrum ``|rfft(frame)|**2``;
3. mel filterbank: ``n_mels = clamp(n_fft // 8, 8, 64)`` triangular filters equally spaced on
   the HTK mel scale (``2595 * log10(1 + f / 700)``) from 0 Hz to ``sample_rate / 2``; filters
   that cover no FFT bin (possible at low rates) are dropped;
4. ``S = 10 * log10(max(mel_power, 1e-10))``, then both spectrograms are floored at
   ``max(S_golden) - 80`` dB, so that silence compares as silence and the current output is
   judged relative to the golden's loudness (as ``top_db = 80`` does in librosa);
5. ``audio_mel`` = mean over channels, mel bands and frames of ``|S_golden - S_current|``.

Identical signals give exactly 0. NaN or Inf anywhere makes every metric NaN, which never
passes a gate.
"""

from __future__ import annotations

import math

import numpy as np

from .identity import identical

TOP_DB = 80.0
AMIN = 1e-10


def describe_duration(samples: int, sample_rate: int | None) -> str:
    if sample_rate:
        return f"{samples} samples ({samples / sample_rate:.4g} s)"
    return f"{samples} samples"


def audio_mismatches(golden: np.ndarray, golden_rate: int | None, current: np.ndarray,
                     current_rate: int | None) -> list[str]:
    """Why two audio tracks cannot be compared sample by sample (empty list: they can).

    The duration is compared as a sample count at an equal rate: a waveform that is one sample
    shorter is a different output, not a slightly worse one.
    """
    reasons = []
    if golden.shape[0] != current.shape[0]:
        reasons.append(f"audio channel count differs: golden {golden.shape[0]}, current {current.shape[0]}")
    if golden_rate != current_rate:
        reasons.append(f"audio sample rate differs: golden {golden_rate}, current {current_rate}")
    if golden.shape[1] != current.shape[1]:
        reasons.append(f"audio length (duration) differs: golden {describe_duration(golden.shape[1], golden_rate)}, "
                       f"current {describe_duration(current.shape[1], current_rate)}")
    return reasons


def audio_metrics(golden: np.ndarray, current: np.ndarray) -> tuple[float, float]:
    """(max abs sample difference, SNR in dB of current against golden).

    SNR is ``inf`` when the signals are identical and ``-inf`` when the golden is silent but
    the current is not; NaN anywhere gives NaN for both.
    """
    g = np.asarray(golden, dtype=np.float64)
    c = np.asarray(current, dtype=np.float64)
    if not (np.all(np.isfinite(g)) and np.all(np.isfinite(c))):
        return float("nan"), float("nan")
    err = g - c
    max_abs = float(np.max(np.abs(err))) if err.size else 0.0
    signal = float(np.sum(g * g))
    noise = float(np.sum(err * err))
    if noise == 0.0:
        return max_abs, float("inf")
    if signal == 0.0:
        return max_abs, float("-inf")
    return max_abs, float(10.0 * np.log10(signal / noise))


def stft_params(sample_rate: int) -> tuple[int, int, int]:
    """(n_fft, hop, n_mels) for a sample rate, as defined in the module docstring."""
    n_fft = 2 ** round(math.log2(max(0.032 * sample_rate, 1.0)))
    n_fft = int(min(max(n_fft, 16), 4096))
    return n_fft, n_fft // 4, int(min(max(n_fft // 8, 8), 64))


def _hz_to_mel(f: np.ndarray) -> np.ndarray:
    return 2595.0 * np.log10(1.0 + f / 700.0)


def _mel_to_hz(m: np.ndarray) -> np.ndarray:
    return 700.0 * (10.0 ** (m / 2595.0) - 1.0)


def mel_filterbank(sample_rate: int, n_fft: int, n_mels: int) -> np.ndarray:
    """Triangular HTK-mel filters, ``(bands, n_fft // 2 + 1)``; empty filters dropped."""
    bins = np.linspace(0.0, sample_rate / 2.0, n_fft // 2 + 1)
    edges = _mel_to_hz(np.linspace(0.0, _hz_to_mel(np.asarray(sample_rate / 2.0)), n_mels + 2))
    lower, centre, upper = edges[:-2, None], edges[1:-1, None], edges[2:, None]
    rising = (bins[None, :] - lower) / np.maximum(centre - lower, 1e-12)
    falling = (upper - bins[None, :]) / np.maximum(upper - centre, 1e-12)
    fb = np.maximum(0.0, np.minimum(rising, falling))
    return fb[fb.sum(axis=1) > 0]


def log_mel(x: np.ndarray, sample_rate: int) -> np.ndarray:
    """Log-mel power spectrogram in dB, ``(channels, bands, frames)``, before flooring."""
    x = np.asarray(x, dtype=np.float64)
    n_fft, hop, n_mels = stft_params(sample_rate)
    pad = n_fft // 2
    x = np.pad(x, ((0, 0), (pad, pad)))
    if x.shape[1] < n_fft:
        x = np.pad(x, ((0, 0), (0, n_fft - x.shape[1])))
    n_frames = 1 + (x.shape[1] - n_fft) // hop
    idx = np.arange(n_fft)[None, :] + hop * np.arange(n_frames)[:, None]
    window = 0.5 - 0.5 * np.cos(2.0 * np.pi * np.arange(n_fft) / n_fft)  # periodic Hann
    frames = x[:, idx] * window  # (C, frames, n_fft)
    power = np.abs(np.fft.rfft(frames, axis=-1)) ** 2
    mel = np.einsum("mf,ctf->cmt", mel_filterbank(sample_rate, n_fft, n_mels), power)
    return 10.0 * np.log10(np.maximum(mel, AMIN))


def log_mel_distance(golden: np.ndarray, current: np.ndarray, sample_rate: int) -> float:
    """Mean absolute difference of the floored log-mel spectrograms, in dB (see module doc)."""
    g = np.asarray(golden, dtype=np.float64)
    c = np.asarray(current, dtype=np.float64)
    if not (np.all(np.isfinite(g)) and np.all(np.isfinite(c))):
        return float("nan")
    if g.size == 0:
        return 0.0
    sg, sc = log_mel(g, sample_rate), log_mel(c, sample_rate)
    floor = float(sg.max()) - TOP_DB
    return float(np.mean(np.abs(np.maximum(sg, floor) - np.maximum(sc, floor))))


def compare_audio(golden: np.ndarray, golden_rate: int | None, current: np.ndarray, current_rate: int | None,
                  ) -> tuple[dict[str, float], list[str]]:
    """All audio metrics (``audio_snr``, ``audio_mel``, ``audio_max_abs``) and the mismatches
    that make them meaningless; with a mismatch no metric is computed."""
    reasons = audio_mismatches(golden, golden_rate, current, current_rate)
    if reasons:
        return {}, reasons
    if identical(golden, current):
        # equal finite samples: the exact values without the spectrograms (see identity.py)
        return {"audio_snr": float("inf"), "audio_mel": 0.0, "audio_max_abs": 0.0}, []
    max_abs, snr = audio_metrics(golden, current)
    assert golden_rate is not None
    return {"audio_snr": snr, "audio_mel": log_mel_distance(golden, current, golden_rate),
            "audio_max_abs": max_abs}, []
