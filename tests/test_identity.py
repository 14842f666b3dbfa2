"""The identical-pair short-cut gives exactly what the full metrics give, and nothing else.

Every metric of a byte-identical pair is known (SSIM 1, no difference, PSNR inf, LPIPS 0,
audio SNR inf, mel distance 0): these tests compare the short-cut with the full computation
(forced by switching the short-cut off) and check that NaN/Inf, one changed value, another
dtype or an over-size array never take it.
"""

from __future__ import annotations

import math
from types import SimpleNamespace

import numpy as np
import pytest

pytest.importorskip("torch")

from regress.metrics import audio as audio_mod  # noqa: E402
from regress.metrics import frames as frames_mod  # noqa: E402
from regress.metrics import identity  # noqa: E402
from regress.metrics.compare import LpipsRequest, compare_outputs  # noqa: E402
from regress.metrics.identity import identical  # noqa: E402
from regress.outputs import Output  # noqa: E402

RNG = np.random.default_rng(7)


def _frames(*shape: int) -> np.ndarray:
    return RNG.integers(0, 256, shape, dtype=np.uint8)


def test_identical_is_exact_equality_of_finite_values(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(identity, "CHUNK_BYTES", 64)  # many chunks: the last one decides
    a = _frames(3, 16, 16, 3)
    assert identical(a, a.copy())
    b = a.copy()
    b[-1, -1, -1, -1] ^= 1
    assert not identical(a, b)
    assert not identical(a, a.astype(np.int16))  # same values, another dtype
    assert not identical(a, a[:2])
    assert identical(a[:, ::2], a.copy()[:, ::2])  # non-contiguous views
    assert not identical(a, a.copy(), max_bytes=a.nbytes - 1)
    f = RNG.standard_normal((2, 500)).astype(np.float32)
    assert identical(f, f.copy())
    for bad in (np.nan, np.inf, -np.inf):
        g = f.copy()
        g[1, 400] = bad
        assert not identical(g, g.copy()), bad  # a non-finite value never takes the short-cut
    assert not identical(np.array(["a"]), np.array(["a"]))


def _full_path(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(frames_mod, "identical", lambda *a, **k: False)
    monkeypatch.setattr(audio_mod, "identical", lambda *a, **k: False)


@pytest.mark.parametrize("make", [
    lambda: Output(image=_frames(24, 40, 3)),
    lambda: Output(image=_frames(5, 7, 3)),  # below the 11x11 window
    lambda: Output(video=_frames(4, 16, 20, 3), fps=8.0),
    lambda: Output(audio=RNG.uniform(-0.5, 0.5, (2, 4000)).astype(np.float32), sample_rate=16000),
], ids=["image", "tiny-image", "video", "audio"])
def test_short_cut_equals_the_full_computation(make, monkeypatch: pytest.MonkeyPatch) -> None:
    golden = make()
    current = Output(**{k: (v.copy() if isinstance(v, np.ndarray) else v) for k, v in vars(golden).items()})
    fast = compare_outputs(golden, current)
    assert fast.path in ("identical", None)  # None: audio has no frame path
    _full_path(monkeypatch)
    full = compare_outputs(golden, current)
    assert full.path != "identical"
    assert fast.values.keys() == full.values.keys()
    for k, v in full.values.items():
        assert fast.values[k] == v, (k, fast.values[k], v)
    assert (fast.per_frame, fast.worst_frame, fast.worst_frames) == (full.per_frame, full.worst_frame,
                                                                     full.worst_frames)
    assert fast.mismatch == full.mismatch == []


def test_one_changed_pixel_takes_the_full_path() -> None:
    g = _frames(3, 16, 16, 3)
    c = g.copy()
    c[2, 3, 4, 1] ^= 8
    cmp = compare_outputs(Output(video=g, fps=8.0), Output(video=c, fps=8.0))
    assert cmp.path != "identical"
    assert cmp.values["max_abs"] == 8.0 and cmp.values["ssim_worst"] < 1.0 and cmp.worst_frame == 2
    assert math.isfinite(cmp.values["psnr"])


def test_identical_lpips_is_zero_without_running_the_network() -> None:
    img = _frames(64, 64, 3)
    # weights that would fail if the backbone were loaded: the short-cut must not touch them
    req = LpipsRequest(weights=SimpleNamespace(net="alex", path="/nonexistent"))
    cmp = compare_outputs(Output(image=img), Output(image=img.copy()), lpips=req)
    assert cmp.values["lpips"] == 0.0
    vid = _frames(3, 64, 64, 3)
    cmp = compare_outputs(Output(video=vid, fps=8.0), Output(video=vid.copy(), fps=8.0), lpips=req)
    assert cmp.values["lpips"] == 0.0 and cmp.per_frame["lpips"] == [0.0, 0.0, 0.0]


def test_nan_audio_never_passes_as_identical() -> None:
    a = RNG.uniform(-0.5, 0.5, (1, 2000)).astype(np.float32)
    a[0, 10] = np.nan
    cmp = compare_outputs(Output(audio=a, sample_rate=16000), Output(audio=a.copy(), sample_rate=16000))
    assert math.isnan(cmp.values["audio_snr"]) and math.isnan(cmp.values["audio_mel"])
