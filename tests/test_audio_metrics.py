"""Audio comparison: SNR, the log-mel distance and the comparability checks (channels, rate,
duration), on synthetic signals whose right answers are known in closed form."""

from __future__ import annotations

import math

import numpy as np
import pytest

from regress.metrics.audio import (
    audio_metrics,
    compare_audio,
    log_mel,
    log_mel_distance,
    mel_filterbank,
    stft_params,
)
from regress.metrics.catalog import METRICS
from regress.metrics.compare import compare_outputs
from regress.outputs import Output

RATE = 16000


def noise(channels: int = 2, n: int = 4096, seed: int = 0, scale: float = 0.3) -> np.ndarray:
    return (np.random.default_rng(seed).standard_normal((channels, n)) * scale).astype(np.float32)


def test_identical_audio_is_perfect() -> None:
    a = noise()
    values, reasons = compare_audio(a, RATE, a.copy(), RATE)
    assert reasons == []
    assert values == {"audio_snr": math.inf, "audio_mel": 0.0, "audio_max_abs": 0.0}


def test_snr_of_added_noise_at_minus_40_db() -> None:
    g = noise(seed=0)
    err = noise(seed=1)
    err *= np.sqrt((g.astype(np.float64) ** 2).sum() / (err.astype(np.float64) ** 2).sum()) / 100.0  # -40 dB
    _, snr = audio_metrics(g, g + err)
    assert snr == pytest.approx(40.0, abs=0.01)


def test_a_1_db_gain_change_is_a_1_db_mel_distance() -> None:
    # broadband noise keeps every band above the floor, so every cell moves by exactly 1 dB
    g = noise(n=8192)
    louder = (g.astype(np.float64) * 10 ** (1 / 20)).astype(np.float32)
    assert log_mel_distance(g, louder, RATE) == pytest.approx(1.0, abs=1e-3)


def test_one_sample_shift_ruins_snr_but_barely_moves_the_spectrum() -> None:
    # why both metrics: SNR judges the waveform, the mel distance what it sounds like
    t = np.arange(8192) / RATE
    tone = (0.5 * np.sin(2 * np.pi * 440 * t))[None, :].astype(np.float32)
    shifted = np.roll(tone, 1, axis=1)
    _, snr = audio_metrics(tone, shifted)
    assert snr < 20.0
    assert log_mel_distance(tone, shifted, RATE) < 0.5


def test_the_floor_makes_silence_compare_as_silence() -> None:
    g = noise()
    g[:, 2048:] = 0.0
    c = g.copy()
    c[:, 3000] = 1e-7  # far below the golden's loudness - 80 dB
    assert log_mel_distance(g, c, RATE) == pytest.approx(0.0, abs=1e-9)


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_nonfinite_audio_never_yields_a_passing_number(bad: float) -> None:
    g = noise()
    c = g.copy()
    c[1, 10] = bad
    values, _ = compare_audio(g, RATE, c, RATE)
    assert all(math.isnan(v) for v in values.values())
    for name, v in values.items():
        assert not METRICS[name].passes(v, METRICS[name].low if METRICS[name].higher_is_better else METRICS[name].high)


@pytest.mark.parametrize("rate,expected", [(16000, (512, 128, 64)), (8000, (256, 64, 32)), (44100, (1024, 256, 64)),
                                           (100, (16, 4, 8))])
def test_stft_parameters_follow_the_sample_rate(rate: int, expected: tuple[int, int, int]) -> None:
    assert stft_params(rate) == expected


def test_mel_filters_are_non_empty_and_reach_nyquist() -> None:
    for rate in (100, 8000, 16000, 48000):
        n_fft, _, n_mels = stft_params(rate)
        fb = mel_filterbank(rate, n_fft, n_mels)
        assert fb.shape[1] == n_fft // 2 + 1 and 0 < fb.shape[0] <= n_mels
        assert (fb.sum(axis=1) > 0).all()
        assert fb[:, -2:].sum() > 0  # the top band reaches the highest bins


def test_very_short_audio_still_compares() -> None:
    g = noise(n=10)
    assert log_mel(g, RATE).shape[0] == 2
    assert log_mel_distance(g, g * 2, RATE) > 0


@pytest.mark.parametrize("current,reason", [
    (Output(audio=np.zeros((1, 4096), np.float32), sample_rate=RATE), "channel count differs: golden 2, current 1"),
    (Output(audio=np.zeros((2, 4096), np.float32), sample_rate=22050), "sample rate differs: golden 16000, current 22050"),
    (Output(audio=np.zeros((2, 4000), np.float32), sample_rate=RATE),
     "duration) differs: golden 4096 samples (0.256 s), current 4000 samples (0.25 s)"),
])
def test_incomparable_audio_is_a_mismatch_with_no_metrics(current: Output, reason: str) -> None:
    golden = Output(audio=noise(), sample_rate=RATE)
    cmp = compare_outputs(golden, current)
    assert any(reason in m for m in cmp.mismatch), cmp.mismatch
    assert not any(k.startswith("audio_") for k in cmp.values)


def test_video_and_audio_tracks_are_both_compared() -> None:
    video = np.random.default_rng(0).integers(0, 256, (3, 16, 16, 3), dtype=np.uint8)
    golden = Output(video=video, fps=24.0, audio=noise(), sample_rate=RATE)
    louder = Output(video=video, fps=24.0, audio=noise() * 2, sample_rate=RATE)
    cmp = compare_outputs(golden, louder)
    assert cmp.values["max_abs"] == 0.0 and cmp.values["ssim"] == 1.0
    assert cmp.values["audio_snr"] == pytest.approx(0.0, abs=1e-6)  # error as loud as the signal
    assert cmp.values["audio_mel"] == pytest.approx(20 * math.log10(2), abs=1e-3)
