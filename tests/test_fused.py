"""The fused GPU path (Triton SSIM + pixel statistics) and the host->device pipeline.

No GPU here: the kernel's arithmetic is checked under ``TRITON_INTERPRET=1`` (Triton's CPU
interpreter runs the same kernel source on numpy), in a subprocess because the variable must
be set before the kernel module is imported. On a CUDA machine the last test runs the real
kernel.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("triton")
skimage = pytest.importorskip("skimage")

from regress.metrics import frames as frames_mod  # noqa: E402
from regress.metrics.frames import frame_metrics  # noqa: E402
from regress.metrics.transfer import frames_per_chunk, stream_frames  # noqa: E402

REPO = Path(__file__).resolve().parent.parent

_INTERPRETED = textwrap.dedent("""
    import dataclasses, json
    import numpy as np, torch
    import triton.runtime.interpreter as ti
    from skimage import data
    from skimage.metrics import structural_similarity
    from regress.metrics import frames, fused_run

    # Small shapes keep the (slow) interpreter quick and still cross every boundary: strips of
    # 16 lanes (a row's lanes run across strips, one cut mid pixel group) and bands of a few
    # output rows.
    fused_run.BLOCK, fused_run.UNROLL = 16, 5
    # The interpreter checks every int32 operation for overflow, which triples its run time;
    # these inputs pass that check (it was run with it on), so it is off here for speed.
    ti.interpreter_builder.options = dataclasses.replace(ti.interpreter_builder.options, sanitize_overflow=False)
    a = np.ascontiguousarray(data.coffee()[100:127, 200:230])
    rng = np.random.default_rng(0)
    # Bright and partly saturated (large local means: where float32 moments would cancel)
    # against a noisy copy; each mode gets one frame, the interpreter being slow.
    x = np.clip(a.astype(np.int16) + 90, 0, 255).astype(np.uint8)
    y = np.clip(np.rint(x + rng.normal(0, 6, x.shape)), 0, 255).astype(np.uint8)
    # (golden, current, float64, windows per lane, band rows):
    # "f64": 14x30, 2 strips x 2 bands of 2 rows (the leftover-row loop only);
    # "f32": 27x21, 11 windows a row (the second strip's first lane starts one pixel early and
    #   drops its repeated window), bands of 7 = one unrolled group of 5 + 2 leftover rows;
    # "f32p3": three windows per lane (the other layout), 14x30, 2 strips of 45 bytes x 2 bands.
    cases = {"f64": (x[None, :14], y[None, :14], True, 2, 2),
             "f32": (y[None, :, :21], x[None, :, :21], False, 2, 7),
             "f32p3": (y[None, :14], x[None, :14], False, 3, 2)}
    out = {}
    for name, (va, vb, f64, per_lane, band_rows) in cases.items():
        fused_run.WINDOWS_PER_LANE, fused_run.BAND_ROWS = per_lane, band_rows
        fm = frames._fused(np.ascontiguousarray(va), np.ascontiguousarray(vb), torch.device("cpu"), 255.0, f64)
        ref = [structural_similarity(x, y, gaussian_weights=True, sigma=1.5, use_sample_covariance=False,
                                     data_range=255, channel_axis=-1) for x, y in zip(va, vb)]
        d = (va.astype(np.int64) - vb).reshape(len(va), -1)
        out[name] = {"ssim": fm.ssim.tolist(), "sse": fm.pixel.sse.tolist(), "sad": fm.pixel.sum_abs.tolist(),
                     "max": fm.pixel.max_abs.tolist(), "path": fm.path, "ref_ssim": ref,
                     "ref_sse": (d ** 2).sum(1).tolist(), "ref_sad": np.abs(d).sum(1).tolist(),
                     "ref_max": np.abs(d).max(1).tolist()}
    print(json.dumps(out))
""")


@pytest.mark.skipif(torch.cuda.is_available(),
                    reason="a GPU is here: the compiled kernel is tested instead (the interpreter is the CPU "
                           "stand-in; triton 3.6's interpreter fails on numpy scalars on the H100 image)")
def test_fused_kernel_matches_skimage_under_the_triton_interpreter() -> None:
    env = {**os.environ, "TRITON_INTERPRET": "1", "PYTHONPATH": str(REPO)}
    proc = subprocess.run([sys.executable, "-c", _INTERPRETED], env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    for key, tol in (("f64", 1e-9), ("f32", 1e-6), ("f32p3", 1e-6)):  # float64 moments: ~1e-15; float32: ~1e-7
        got = out[key]
        assert np.max(np.abs(np.array(got["ssim"]) - got["ref_ssim"])) < tol, (key, got["ssim"], got["ref_ssim"])
        assert (got["sse"], got["sad"], got["max"]) == (got["ref_sse"], got["ref_sad"], got["ref_max"])
        assert got["path"] == f"fused-triton-{key[:3]}"


def test_stream_frames_on_cpu_yields_every_frame_once() -> None:
    a = np.arange(7 * 4 * 5 * 3, dtype=np.uint8).reshape(7, 4, 5, 3)
    b = a[::-1].copy()
    seen = []
    for t0, t1, (x, y) in stream_frames([a, b], torch.device("cpu"), 3):
        assert np.array_equal(x.numpy(), a[t0:t1]) and np.array_equal(y.numpy(), b[t0:t1])
        seen.append((t0, t1))
    assert seen == [(0, 3), (3, 6), (6, 7)]
    assert frames_per_chunk(frame_bytes=100, n_arrays=2, budget=1000) == 5
    assert frames_per_chunk(frame_bytes=10_000, n_arrays=2, budget=1000) == 1


def test_frame_metrics_falls_back_to_torch_off_gpu() -> None:
    rng = np.random.default_rng(1)
    a = rng.integers(0, 256, (2, 20, 24, 3), dtype=np.uint8)
    b = a.copy()
    b[1, 3, 4, 0] ^= 7
    fm = frame_metrics(a, b)
    assert fm.path == "torch"
    assert fm.ssim[0] == 1.0 and fm.ssim[1] < 1.0
    assert fm.pixel.max_abs.tolist() == [0.0, float(abs(int(a[1, 3, 4, 0]) - int(b[1, 3, 4, 0])))]
    assert not frames_mod.fused_available(torch.device("cpu"), a, b)
    assert not frames_mod.fused_available(torch.device("cuda"), a[:, :10], b[:, :10])  # below the window
    assert not frames_mod.fused_available(torch.device("cuda"), a.astype(np.float32), b.astype(np.float32))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
@pytest.mark.parametrize("h2d", ["stage", "direct", "register"])
def test_fused_cuda_matches_skimage(h2d: str, monkeypatch: pytest.MonkeyPatch) -> None:
    from skimage import data
    from skimage.metrics import structural_similarity

    from regress.metrics import transfer

    monkeypatch.setattr(transfer, "MODE", h2d)
    a = np.ascontiguousarray(data.astronaut()[:300, :257])
    rng = np.random.default_rng(2)
    frames = np.stack([a] * 5)
    noisy = np.clip(np.rint(frames + rng.normal(0, 5, frames.shape)), 0, 255).astype(np.uint8)
    monkeypatch.setattr(frames_mod, "CHUNK_BYTES", 2 * a.nbytes * 2)  # 2 frames a chunk: several chunks
    noisy[3] = frames[3]
    fm = frame_metrics(frames, noisy, device="cuda")
    assert fm.path.startswith("fused-triton")
    assert fm.ssim[3] == 1.0 and fm.pixel.max_abs[3] == 0.0  # an identical frame: exactly one
    for t in range(5):
        ref = structural_similarity(frames[t], noisy[t], gaussian_weights=True, sigma=1.5,
                                    use_sample_covariance=False, data_range=255, channel_axis=-1)
        assert abs(fm.ssim[t] - ref) < 1e-5
    d = frames.astype(np.int64) - noisy
    assert fm.pixel.sse.tolist() == (d**2).reshape(5, -1).sum(1).astype(float).tolist()


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_frame_metrics_on_device_matches_skimage_without_host_copies() -> None:
    """Device-resident uint8 frames (RGB and grey, odd widths so that strips end mid-pixel):
    SSIM within 1e-5 of skimage, exact pixel statistics (the last ten columns included),
    exactly 1 / 0 for an identical frame, and TF32 settings make no difference."""
    from skimage import data
    from skimage.metrics import structural_similarity

    from regress.metrics.frames import frame_metrics_on_device

    rng = np.random.default_rng(3)
    base = np.ascontiguousarray(data.astronaut()[:131, :301])
    frames = np.stack([np.roll(base, 7 * t, axis=1) for t in range(3)])
    noisy = np.clip(np.rint(frames + rng.normal(0, 8, frames.shape)), 0, 255).astype(np.uint8)
    noisy[1] = frames[1]
    for g, c in ((frames, noisy), (frames[..., :1], noisy[..., :1])):
        gd, cd = torch.from_numpy(g).cuda(), torch.from_numpy(c).cuda()
        fm = frame_metrics_on_device(golden=gd, current=cd)
        assert fm.path == "fused-triton-f32"
        assert fm.ssim[1] == 1.0 and fm.pixel.sse[1] == 0.0
        for t in range(3):
            ref = structural_similarity(g[t], c[t], gaussian_weights=True, sigma=1.5, use_sample_covariance=False,
                                        data_range=255, channel_axis=-1)
            assert abs(fm.ssim[t] - ref) < 1e-5, (t, fm.ssim[t], ref)
        d = np.abs(g.astype(np.int64) - c).reshape(3, -1)
        assert fm.pixel.sse.tolist() == (d**2).sum(1).astype(float).tolist()
        assert fm.pixel.sum_abs.tolist() == d.sum(1).astype(float).tolist()
        assert fm.pixel.max_abs.tolist() == d.max(1).astype(float).tolist()
        one = frame_metrics_on_device(golden=gd[0], current=cd[0])  # (H, W, C)
        assert one.ssim.tolist() == fm.ssim[:1].tolist()
        saved = (torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32)
        torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = True
        try:
            assert frame_metrics_on_device(golden=gd, current=cd).ssim.tolist() == fm.ssim.tolist()
        finally:
            torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = saved


def test_frame_metrics_on_device_takes_tensors_only() -> None:
    from regress.metrics.frames import frame_metrics_on_device

    a = np.zeros((12, 12, 3), np.uint8)
    with pytest.raises(TypeError):
        frame_metrics_on_device(golden=a, current=a)
    t = torch.zeros(12, 12, 3, dtype=torch.uint8)
    with pytest.raises(ValueError):
        frame_metrics_on_device(golden=t, current=t[:11])
    fm = frame_metrics_on_device(golden=t, current=t + 1)  # CPU tensors: the host path
    assert fm.path in ("torch", "identical") and fm.pixel.max_abs.tolist() == [1.0]


def test_compiled_kernel_carries_the_whole_ring() -> None:
    """The interpreter runs the kernel as Python, so it cannot see how Triton's frontend
    builds the loops. Compile for sm_90 (no GPU needed) and check that the three row loops
    (fill, unrolled, leftover rows) carry all ten slots of every ring (linear and square maps
    of two or three windows): a shared initial value once made Triton drop nine of them
    silently."""
    import re

    import triton
    import triton.language as tl
    from triton.backends.compiler import GPUTarget

    from regress.metrics import ssim_triton

    sig = {"x_ptr": "*u8", "y_ptr": "*u8", "w_ptr": "*fp64", "out_ptr": "*i64", "t0": "i32", "n_prog": "i32",
           "H": "i32", "L": "i32", "L_out": "i32", "RB": "i32",
           "n_bands": "i32", "n_strips": "i32", "C": "constexpr", "BLOCK": "constexpr", "DT": "constexpr",
           "UNROLL": "constexpr", "P": "constexpr", "FAST": "constexpr", "PF": "constexpr", "PF_LEVEL": "constexpr"}
    for per_lane in (2, 3):
        src = triton.compiler.ASTSource(fn=ssim_triton.ssim_stats_kernel, signature=sig,
                                        constexprs={"C": 3, "BLOCK": 64, "DT": tl.float32, "UNROLL": 2, "P": per_lane,
                                                    "FAST": True, "PF": 2, "PF_LEVEL": 1})
        try:
            compiled = triton.compile(src, target=GPUTarget("cuda", 90, 32), options={"num_warps": 2})
        except triton.compiler.errors.CompilationError:
            raise  # the kernel's own source: a failure, not a missing backend
        except Exception as exc:  # a Triton build without the CUDA backend or its ptxas
            pytest.skip(f"cannot compile for sm_90 here: {exc.__class__.__name__}")
        loops = re.findall(r"scf\.for .*? iter_args\((.*?)\) ->", compiled.asm["ttir"])
        # Values carried per loop (Triton names them differently from version to version, so
        # they are counted): the fill loop carries 20 ring slots and 3 pixel statistics per
        # window; the unrolled and the leftover-row loops also the window's SSIM sum. A ring
        # whose nine slots were dropped would leave 9 fewer. (The last loop, 3 values, is the
        # last strip's tail pixels.)
        counts = [len(re.findall(r"%[\w.#]+ = ", carried)) for carried in loops]
        assert counts == [23 * per_lane, 24 * per_lane, 24 * per_lane, 3], (per_lane, counts)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_fused_results_come_back_in_and_out_of_inference_mode() -> None:
    """A comparison under torch.inference_mode (as in a pipeline call) and the next one outside
    it give the same numbers (a buffer kept across calls once broke the second: an inference
    tensor cannot be written outside inference mode)."""
    from regress.metrics import frames as fr

    rng = np.random.default_rng(3)
    a = torch.from_numpy(rng.integers(0, 256, (2, 40, 50, 3), dtype=np.uint8)).cuda()
    b = a.clone()
    b[1, 5, 5, 0] ^= 9
    with torch.inference_mode():
        inside = fr.frame_metrics_on_device(golden=a, current=b)
    outside = fr.frame_metrics_on_device(golden=a, current=b)
    assert np.array_equal(inside.ssim, outside.ssim) and inside.ssim[0] == 1.0 and outside.ssim[1] < 1.0
    assert outside.pixel.max_abs.tolist() == [0.0, float(abs(int(a[1, 5, 5, 0]) - int(b[1, 5, 5, 0])))]
