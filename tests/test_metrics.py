"""Metrics against scikit-image and against first-principles references.

Images come from ``skimage.data`` and are cropped to 256x256 (or odd sizes) to keep the
whole file fast; the perturbations mimic what a precision change does to a pipeline's
output (noise, blur, JPEG-like artefacts, a shifted frame, a brightness change).
"""

from __future__ import annotations

import io
import math
import subprocess
import sys

import numpy as np
import pytest

skimage = pytest.importorskip("skimage")
torch = pytest.importorskip("torch")

from skimage import data  # noqa: E402
from skimage.metrics import peak_signal_noise_ratio, structural_similarity  # noqa: E402

from regress.metrics import ssim as ssim_mod  # noqa: E402
from regress.metrics.compare import Comparison, audio_metrics, compare_outputs  # noqa: E402
from regress.metrics.pixel import abs_diff, pixel_stats, psnr_all, psnr_frames  # noqa: E402
from regress.metrics.ssim import ssim_frames  # noqa: E402
from regress.outputs import Output  # noqa: E402

PARITY = 1e-5


def sk_ssim(a: np.ndarray, b: np.ndarray, data_range: float = 255) -> float:
    return float(structural_similarity(a, b, gaussian_weights=True, sigma=1.5, use_sample_covariance=False,
                                       data_range=data_range, channel_axis=-1))


def crop(img: np.ndarray, size: int = 256, y: int = 0, x: int = 0) -> np.ndarray:
    if img.ndim == 2:
        img = np.repeat(img[..., None], 3, axis=2)
    return np.ascontiguousarray(img[y:y + size, x:x + size])


def noisy(img: np.ndarray, sigma: float, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.clip(np.rint(img + rng.normal(0.0, sigma, img.shape)), 0, 255).astype(np.uint8)


def blurred(img: np.ndarray, sigma: float = 1.2) -> np.ndarray:
    from skimage.filters import gaussian

    out = gaussian(img.astype(np.float64), sigma=sigma, channel_axis=-1, preserve_range=True)
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


def jpeg(img: np.ndarray, quality: int = 30) -> np.ndarray:
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(img).save(buf, format="JPEG", quality=quality)
    buf.seek(0)
    with Image.open(buf) as im:
        return np.asarray(im.convert("RGB")).copy()


def brighter(img: np.ndarray, delta: int = 20) -> np.ndarray:
    return np.clip(img.astype(np.int16) + delta, 0, 255).astype(np.uint8)


def pairs() -> dict[str, tuple[np.ndarray, np.ndarray]]:
    astro, camera = crop(data.astronaut(), y=40, x=150), crop(data.camera(), y=100, x=200)
    coffee, chelsea = crop(data.coffee(), y=80, x=200), data.chelsea()
    rocket = crop(data.rocket(), y=100, x=300)
    ihc = crop(data.immunohistochemistry(), y=200, x=200)
    return {
        "astronaut+noise": (astro, noisy(astro, 8.0)),
        "camera_rgb+blur": (camera, blurred(camera)),
        "coffee+jpeg30": (coffee, jpeg(coffee)),
        "chelsea+1px_shift": (crop(chelsea, y=20, x=100), crop(chelsea, y=21, x=100)),
        "rocket+brightness": (rocket, brighter(rocket)),
        "ihc+identical": (ihc, ihc.copy()),
        "astronaut_vs_coffee": (astro, coffee),  # unrelated images: low SSIM
        "odd_size_257x301+jpeg": (np.ascontiguousarray(data.coffee()[:257, :301]),
                                  jpeg(np.ascontiguousarray(data.coffee()[:257, :301]))),
    }


PAIRS = pairs()


def ref_ssim(a: np.ndarray, b: np.ndarray, data_range: float = 255.0) -> float:
    """First-principles float64 SSIM with the documented small-image windows."""
    from numpy.lib.stride_tricks import sliding_window_view

    H, W, C = a.shape
    kh, kw = ssim_mod.window_size(H), ssim_mod.window_size(W)
    w2 = np.outer(ssim_mod.gaussian_taps(kh), ssim_mod.gaussian_taps(kw))
    c1, c2 = (0.01 * data_range) ** 2, (0.03 * data_range) ** 2
    vals = []
    for ch in range(C):
        x = sliding_window_view(a[..., ch].astype(np.float64), (kh, kw))
        y = sliding_window_view(b[..., ch].astype(np.float64), (kh, kw))
        ux, uy = (x * w2).sum((-1, -2)), (y * w2).sum((-1, -2))
        vx = (((x - ux[..., None, None]) ** 2) * w2).sum((-1, -2))
        vy = (((y - uy[..., None, None]) ** 2) * w2).sum((-1, -2))
        cxy = ((x - ux[..., None, None]) * (y - uy[..., None, None]) * w2).sum((-1, -2))
        s = (2 * ux * uy + c1) * (2 * cxy + c2) / ((ux**2 + uy**2 + c1) * (vx + vy + c2))
        vals.append(s.mean())
    return float(np.mean(vals))


# --------------------------------------------------------------------------- SSIM parity

@pytest.mark.parametrize("name", list(PAIRS))
def test_ssim_matches_skimage(name: str) -> None:
    a, b = PAIRS[name]
    got = ssim_frames(a, b)
    assert got.dtype == np.float64 and got.shape == (1,)
    assert abs(got[0] - sk_ssim(a, b)) < PARITY, (name, got[0], sk_ssim(a, b))


def test_ssim_identical_is_one() -> None:
    a, _ = PAIRS["ihc+identical"]
    assert ssim_frames(a, a)[0] == pytest.approx(1.0, abs=1e-12)


def test_ssim_perturbations_are_ordered() -> None:
    """Sanity: a real change scores below 1, unrelated images far below."""
    assert ssim_frames(*PAIRS["astronaut+noise"])[0] < 0.99
    assert ssim_frames(*PAIRS["astronaut_vs_coffee"])[0] < 0.3


def test_ssim_float_inputs_match_skimage() -> None:
    a, b = PAIRS["coffee+jpeg30"]
    af, bf = a.astype(np.float32) / 255, b.astype(np.float32) / 255
    got = ssim_frames(af, bf, data_range=1.0)[0]
    assert abs(got - sk_ssim(af, bf, data_range=1.0)) < PARITY


def test_ssim_video_equals_per_image_calls() -> None:
    base = PAIRS["astronaut+noise"][0]
    golden = np.stack([base, base, base, base, base])
    current = np.stack([noisy(base, s, seed=i) for i, s in enumerate((2.0, 5.0, 12.0, 1.0, 0.5))])
    per_frame = ssim_frames(golden, current)
    assert per_frame.shape == (5,)
    for t in range(5):
        single = ssim_frames(golden[t], current[t])[0]
        assert abs(per_frame[t] - single) < 1e-7
        assert abs(per_frame[t] - sk_ssim(golden[t], current[t])) < PARITY
    assert int(np.argmin(per_frame)) == 2


def test_ssim_chunking_and_banding_are_exact() -> None:
    """Tiny memory budgets force one frame per chunk and row bands; results must not move."""
    a, b = PAIRS["odd_size_257x301+jpeg"]
    video_a, video_b = np.stack([a, b, a]), np.stack([b, a, a])
    whole = ssim_frames(video_a, video_b, chunk_bytes=1 << 40)
    for budget in (301 * 3 * 96 * 12, 301 * 3 * 96 * 40, 257 * 301 * 3 * 96 * 2):
        assert np.allclose(ssim_frames(video_a, video_b, chunk_bytes=budget), whole, rtol=0, atol=1e-7)
    assert abs(whole[0] - sk_ssim(a, b)) < PARITY and whole[2] == pytest.approx(1.0, abs=1e-12)


def test_ssim_shift_invariance_of_precision() -> None:
    """The float32 centring trick: a dark and a bright version of the same pair agree with
    skimage equally well (no cancellation when local means are large)."""
    a, b = PAIRS["camera_rgb+blur"]
    for lift in (0, 120, 200):
        la = np.clip(a.astype(np.int16) // 4 + lift, 0, 255).astype(np.uint8)
        lb = np.clip(b.astype(np.int16) // 4 + lift, 0, 255).astype(np.uint8)
        assert abs(ssim_frames(la, lb)[0] - sk_ssim(la, lb)) < PARITY


def test_ssim_accepts_non_contiguous_views() -> None:
    a, b = PAIRS["chelsea+1px_shift"]
    fa, fb = a[:, ::-1], b[:, ::-1]  # negative strides
    assert abs(ssim_frames(fa, fb)[0] - sk_ssim(np.ascontiguousarray(fa), np.ascontiguousarray(fb))) < PARITY


def test_cpu_thread_policy_restores_torch_threads_and_keeps_results() -> None:
    a, b = PAIRS["astronaut+noise"]
    before = torch.get_num_threads()
    one = ssim_frames(a, b)[0]
    assert torch.get_num_threads() == before
    saved = ssim_mod.CPU_THREADS
    try:
        ssim_mod.CPU_THREADS = None
        assert abs(ssim_frames(a, b)[0] - one) < 1e-9
    finally:
        ssim_mod.CPU_THREADS = saved


# --------------------------------------------------------------------------- small images

def test_window_sizes() -> None:
    assert [ssim_mod.window_size(n) for n in (1, 2, 3, 4, 5, 10, 11, 12, 4000)] == [1, 1, 3, 3, 5, 9, 11, 11, 11]
    assert np.allclose(ssim_mod.gaussian_taps(11).sum(), 1.0)
    from scipy.ndimage import _filters

    assert np.allclose(ssim_mod.gaussian_taps(11), _filters._gaussian_kernel1d(1.5, 0, 5)[::-1])


def test_ssim_5x5_uses_one_shrunk_window() -> None:
    rng = np.random.default_rng(3)
    a = rng.integers(0, 256, (5, 5, 3), dtype=np.uint8)
    b = noisy(a, 20.0, seed=4)
    got = ssim_frames(a, b)[0]
    assert abs(got - ref_ssim(a, b)) < 1e-6
    assert ssim_frames(a, a)[0] == pytest.approx(1.0, abs=1e-12)


def test_ssim_thin_images_shrink_per_axis() -> None:
    rng = np.random.default_rng(5)
    for shape in ((3, 40, 3), (40, 2, 3), (8, 13, 3)):
        a = rng.integers(0, 256, shape, dtype=np.uint8)
        b = noisy(a, 15.0, seed=6)
        assert abs(ssim_frames(a, b)[0] - ref_ssim(a, b)) < 1e-6, shape


def test_ssim_1x1_compares_global_statistics() -> None:
    a = np.array([[[10, 200, 255]]], dtype=np.uint8)
    b = np.array([[[12, 190, 255]]], dtype=np.uint8)
    c1 = (0.01 * 255) ** 2
    x, y = a.astype(np.float64).ravel(), b.astype(np.float64).ravel()
    expected = np.mean((2 * x * y + c1) / (x**2 + y**2 + c1))
    assert ssim_frames(a, b)[0] == pytest.approx(expected, abs=1e-6)
    assert ssim_frames(a, a)[0] == pytest.approx(1.0, abs=1e-12)


# --------------------------------------------------------------------------- non-finite

@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_nonfinite_gives_nan(bad: float) -> None:
    a = PAIRS["rocket+brightness"][0][:64, :64].astype(np.float32)
    b = a.copy()
    b[10, 20, 1] = bad
    assert np.isnan(ssim_frames(a, b)[0])
    assert np.isnan(ssim_frames(b, a)[0])
    if np.isnan(bad):
        assert np.isnan(psnr_frames(a, b)[0]) and math.isnan(psnr_all(a, b))
        assert all(math.isnan(v) for v in abs_diff(a, b))
    else:
        assert abs_diff(a, b)[0] == math.inf


def test_nan_only_taints_its_frame() -> None:
    a = np.stack([PAIRS["rocket+brightness"][0][:48, :48]] * 3).astype(np.float32)
    b = a + 1.0
    b[1, 5, 5, 0] = np.nan
    got = ssim_frames(a, b)
    assert np.isnan(got[1]) and np.isfinite(got[[0, 2]]).all()
    assert np.isnan(psnr_frames(a, b)[1]) and np.isfinite(psnr_frames(a, b)[[0, 2]]).all()


def test_input_validation() -> None:
    a = np.zeros((16, 16, 3), np.uint8)
    with pytest.raises(ValueError):
        ssim_frames(a, np.zeros((16, 15, 3), np.uint8))
    with pytest.raises(ValueError):
        ssim_frames(a[..., 0], a[..., 0])
    with pytest.raises(ValueError):
        ssim_frames(a[:0], a[:0])
    with pytest.raises(ValueError):
        ssim_frames(a, a, data_range=0.0)


# --------------------------------------------------------------------------- PSNR / abs diff

@pytest.mark.parametrize("name", [n for n in PAIRS if n != "ihc+identical"])
def test_psnr_matches_skimage(name: str) -> None:
    a, b = PAIRS[name]
    expected = peak_signal_noise_ratio(a, b, data_range=255)
    assert psnr_frames(a, b)[0] == pytest.approx(expected, abs=1e-9)
    assert psnr_all(a, b) == pytest.approx(expected, abs=1e-9)


def test_psnr_identical_is_inf() -> None:
    a = PAIRS["ihc+identical"][0]
    assert psnr_frames(a, a)[0] == math.inf and psnr_all(a, a) == math.inf
    assert abs_diff(a, a) == (0.0, 0.0)


def test_psnr_video_pools_mse() -> None:
    a, b = PAIRS["astronaut+noise"]
    va, vb = np.stack([a, a, a]), np.stack([b, a, jpeg(a)])
    per = psnr_frames(va, vb)
    assert per[0] == pytest.approx(peak_signal_noise_ratio(a, b, data_range=255), abs=1e-9)
    assert per[1] == math.inf
    assert psnr_all(va, vb) == pytest.approx(peak_signal_noise_ratio(va, vb, data_range=255), abs=1e-9)


def test_one_pixel_off_by_three() -> None:
    a = np.full((32, 32, 3), 100, np.uint8)
    b = a.copy()
    b[7, 9, 2] = 103
    max_abs, mean_abs = abs_diff(a, b)
    assert max_abs == 3.0
    assert mean_abs == pytest.approx(3.0 / a.size)
    expected = 10 * math.log10(255.0**2 / (9.0 / a.size))
    assert math.isfinite(psnr_all(a, b)) and psnr_all(a, b) == pytest.approx(expected, abs=1e-9)
    assert pixel_stats(a, b).sse[0] == 9.0


def test_abs_diff_does_not_modify_float64_inputs() -> None:
    a = np.linspace(0, 1, 48, dtype=np.float64).reshape(4, 4, 3)
    b = a[::-1].copy()
    before = a.copy()
    abs_diff(a, b)
    psnr_frames(a, b, data_range=1.0)
    assert np.array_equal(a, before)


# --------------------------------------------------------------------------- compare_outputs

def _video(n: int = 3, size: int = 48, seed: int = 0) -> np.ndarray:
    base = PAIRS["coffee+jpeg30"][0][:size, :size]
    return np.stack([noisy(base, 1.0, seed=seed + i) for i in range(n)])


def test_compare_image() -> None:
    a, b = PAIRS["coffee+jpeg30"]
    cmp = compare_outputs(Output(image=a), Output(image=b))
    assert isinstance(cmp, Comparison) and cmp.mismatch == []
    assert set(cmp.values) == {"ssim", "psnr", "max_abs", "mean_abs"}
    assert abs(cmp.values["ssim"] - sk_ssim(a, b)) < PARITY
    assert cmp.values["psnr"] == pytest.approx(peak_signal_noise_ratio(a, b, data_range=255), abs=1e-9)
    assert cmp.values["max_abs"] == float(np.abs(a.astype(int) - b).max())
    assert cmp.worst_frame is None and cmp.per_frame == {}


def test_compare_video() -> None:
    g = _video(4)
    c = g.copy()
    c[2] = noisy(g[2], 10.0, seed=9)
    c[3, 0, 0, 0] ^= 1
    cmp = compare_outputs(Output(video=g, fps=16.0), Output(video=c, fps=16.0))
    assert cmp.mismatch == []
    assert set(cmp.values) == {"ssim", "ssim_worst", "psnr", "psnr_worst", "max_abs", "mean_abs"}
    assert cmp.worst_frame == 2
    assert cmp.per_frame["ssim"][0] == pytest.approx(1.0, abs=1e-12) and cmp.per_frame["psnr"][0] == math.inf
    assert cmp.values["ssim_worst"] == min(cmp.per_frame["ssim"])
    assert cmp.values["ssim"] == pytest.approx(np.mean(cmp.per_frame["ssim"]))
    assert cmp.values["psnr_worst"] == min(cmp.per_frame["psnr"])
    assert cmp.values["psnr"] == pytest.approx(peak_signal_noise_ratio(g, c, data_range=255), abs=1e-9)


@pytest.mark.parametrize("golden, current, reason", [
    (Output(image=np.zeros((32, 32, 3), np.uint8)), Output(image=np.zeros((32, 48, 3), np.uint8)),
     "image shape"),
    (Output(video=_video(3), fps=16.0), Output(video=_video(4), fps=16.0), "frame count"),
    (Output(video=_video(3, 48), fps=16.0), Output(video=_video(3, 32), fps=16.0), "frame size"),
    (Output(video=_video(3), fps=16.0), Output(video=_video(3), fps=24.0), "fps"),
    (Output(video=_video(3), fps=16.0), Output(image=_video(1)[0]), "kind"),
])
def test_compare_mismatch(golden: Output, current: Output, reason: str) -> None:
    cmp = compare_outputs(golden, current)
    assert any(reason in m for m in cmp.mismatch), cmp.mismatch
    assert not any(k in cmp.values for k in ("ssim", "psnr", "max_abs"))


def test_compare_nonfinite_count_does_not_change_metrics() -> None:
    g = _video(2)
    cmp = compare_outputs(Output(video=g, fps=8.0), Output(video=g.copy(), fps=8.0, nonfinite=5))
    assert cmp.mismatch == [] and cmp.values["ssim"] == pytest.approx(1.0, abs=1e-12)


def test_compare_audio() -> None:
    rng = np.random.default_rng(1)
    g = rng.standard_normal((2, 4800)).astype(np.float32)
    noise = (0.01 * rng.standard_normal((2, 4800))).astype(np.float32)
    c = g + noise
    video = _video(2)
    cmp = compare_outputs(Output(video=video, fps=8.0, audio=g, sample_rate=48000),
                          Output(video=video, fps=8.0, audio=c, sample_rate=48000))
    assert cmp.mismatch == []
    err = g.astype(np.float64) - c
    assert cmp.values["audio_max_abs"] == pytest.approx(np.abs(err).max())
    assert cmp.values["audio_snr"] == pytest.approx(10 * np.log10((g.astype(np.float64) ** 2).sum() / (err**2).sum()))
    assert audio_metrics(g, g) == (0.0, math.inf)
    bad = g.copy()
    bad[0, 3] = np.nan
    assert all(math.isnan(v) for v in audio_metrics(g, bad))


@pytest.mark.parametrize("current, reason", [
    (Output(audio=np.zeros((1, 100), np.float32), sample_rate=16000), "channel count"),
    (Output(audio=np.zeros((2, 100), np.float32), sample_rate=22050), "sample rate"),
    (Output(audio=np.zeros((2, 99), np.float32), sample_rate=16000), "length"),
])
def test_compare_audio_mismatch(current: Output, reason: str) -> None:
    golden = Output(audio=np.zeros((2, 100), np.float32), sample_rate=16000)
    cmp = compare_outputs(golden, current)
    assert any(reason in m for m in cmp.mismatch), cmp.mismatch
    assert "audio_snr" not in cmp.values


# --------------------------------------------------------------------------- TF32 and imports

def test_cuda_tf32_flags_are_switched_off_and_restored() -> None:
    """Exercised without a GPU: the context manager only flips torch's backend flags."""
    b = torch.backends
    saved = (b.cuda.matmul.allow_tf32, b.cudnn.allow_tf32)
    try:
        b.cuda.matmul.allow_tf32, b.cudnn.allow_tf32 = True, True
        before = (b.cuda.matmul.allow_tf32, b.cudnn.allow_tf32,
                  getattr(b.cuda.matmul, "fp32_precision", None), getattr(b.cudnn.conv, "fp32_precision", None))
        with ssim_mod._fp32_strict(torch.device("cuda")):
            assert b.cuda.matmul.allow_tf32 is False and b.cudnn.allow_tf32 is False
        after = (b.cuda.matmul.allow_tf32, b.cudnn.allow_tf32,
                 getattr(b.cuda.matmul, "fp32_precision", None), getattr(b.cudnn.conv, "fp32_precision", None))
        assert after == before
    finally:
        b.cuda.matmul.allow_tf32, b.cudnn.allow_tf32 = saved


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_ssim_cuda_matches_skimage() -> None:
    for name in ("astronaut+noise", "coffee+jpeg30", "rocket+brightness"):
        a, b = PAIRS[name]
        assert abs(ssim_frames(a, b, device="cuda")[0] - sk_ssim(a, b)) < PARITY
        assert psnr_all(a, b, device="cuda") == pytest.approx(psnr_all(a, b), abs=1e-9)


def test_metrics_modules_do_not_import_torch() -> None:
    code = ("import sys, regress, regress.metrics.ssim, regress.metrics.pixel, regress.metrics.compare; "
            "assert 'torch' not in sys.modules and 'skimage' not in sys.modules")
    subprocess.run([sys.executable, "-c", code], check=True)
