"""Judging frames where they already are (regress.metrics.resident): a GPU run's output and its
golden, uploaded once, compared on the device; everything else on the host, with the same numbers.

No GPU here. The device path's dispatch and numbers are checked with the real fused kernel under
``TRITON_INTERPRET=1`` (Triton's CPU interpreter, in a subprocess as in test_fused.py) on CPU
tensors standing in for device-resident frames (there, every tensor says it is on CUDA).
The quantisation on the device is torch arithmetic, so CPU tensors test it bit for bit. On a CUDA
machine the last tests run the real thing (benchmarks/h100_resident.sh runs them).
"""

from __future__ import annotations

import copy
import dataclasses
import json
import os
import pickle
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from regress.errors import OutputError  # noqa: E402
from regress.metrics import resident  # noqa: E402
from regress.metrics.compare import compare_outputs  # noqa: E402
from regress.outputs import Output, to_uint8  # noqa: E402
from regress.runners.casting import pixels_to_uint8, quantise_on_device  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
CUDA = torch.cuda.is_available()


def _video(seed: int, t: int = 2, h: int = 14, w: int = 30) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (t, h, w, 3), dtype=np.uint8)


def _smooth(t: int = 3, h: int = 24, w: int = 32) -> np.ndarray:
    """Frames a golden may be made of (not blank, not noise): moving gradients."""
    yy, xx = np.mgrid[0:h, 0:w]
    f = [np.stack([(xx * 7 + 5 * k) % 256, (yy * 9) % 256, (xx + yy) * 3 % 256], -1) for k in range(t)]
    return np.stack(f).astype(np.uint8)


def _with_copy(out: Output) -> Output:
    """``out`` with its frames also as (CPU) tensors, as a runner keeps them."""
    return out.keep_on_device(image=None if out.image is None else torch.from_numpy(out.image.copy()),
                              video=None if out.video is None else torch.from_numpy(out.video.copy()))


# --------------------------------------------------------------------------- the Output's copy

def test_device_copy_is_never_written_pickled_copied_or_compared() -> None:
    v = _video(0)
    plain = Output(video=v, fps=8.0)
    held = _with_copy(Output(video=v.copy(), fps=8.0))
    assert held.device_frames("video") is not None and held.device_frames("image") is None
    assert held.kind == plain.kind == "video" and held.shapes() == plain.shapes()
    assert held.encode() == plain.encode()  # the files are the host arrays', byte for byte
    assert "on_device" not in repr(held)
    for copied in (pickle.loads(pickle.dumps(held)), copy.deepcopy(held), copy.copy(held),
                   dataclasses.replace(held)):
        assert copied.on_device is None and np.array_equal(copied.video, v)
    assert held.on_device is not None  # copying did not take it from the original
    field = {f.name: f for f in dataclasses.fields(Output)}["on_device"]
    assert not field.compare and not field.init  # not equality, not the constructor
    other = Output(video=v.copy(), fps=8.0)
    with pytest.raises(OutputError, match="device copy of the video track must be uint8"):
        other.keep_on_device(video=torch.zeros(2, 14, 30, 3))  # float
    with pytest.raises(OutputError, match="device copy of the image track"):
        other.keep_on_device(image=torch.zeros(14, 30, 3, dtype=torch.uint8))  # no image track
    assert held.keep_on_device() is held and held.on_device is None  # dropped


def test_staged_golden_files_hold_no_device_copy(tmp_path: Path) -> None:
    from regress.stores.base import StagedGolden

    v = _video(1)
    held = _with_copy(Output(video=v, fps=8.0))
    files = StagedGolden("c", "cpu", held, {}).files()
    assert files == StagedGolden("c", "cpu", Output(video=v.copy(), fps=8.0), {}).files()
    held.save(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["output.npz"]


# --------------------------------------------------------------------------- quantisation

def _nasty(shape: tuple[int, ...]) -> torch.Tensor:
    """[-1, 1] decoder output with out-of-range values, exact .5 ties after scaling and NaN/Inf."""
    g = torch.Generator().manual_seed(0)
    x = torch.rand(shape, generator=g) * 2.4 - 1.2
    flat = x.view(-1)
    ties = torch.tensor([0.5, 1.5, 2.5, 254.5]) / 255 * 2 - 1  # (v + 1) / 2 * 255 = k + 0.5
    flat[:4] = ties
    flat[10], flat[20], flat[30] = float("nan"), float("inf"), float("-inf")
    return x


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16, torch.float16])
def test_video_quantised_on_the_device_is_the_numpy_path_bit_for_bit(dtype: torch.dtype) -> None:
    """diffusers' own video processor: output_type "pt" (what a CUDA run asks for now) quantised
    by torch must equal output_type "np" quantised by numpy, frame for frame, NaN count included."""
    from diffusers.video_processor import VideoProcessor

    vp = VideoProcessor(vae_scale_factor=8)
    video = _nasty((1, 3, 5, 9, 12)).to(dtype)  # (B, C, T, H, W) as a video VAE decodes
    want, want_bad = to_uint8(vp.postprocess_video(video, output_type="np")[0])
    pt = vp.postprocess_video(video, output_type="pt")[0]
    assert tuple(pt.shape) == (5, 3, 9, 12) and pt.dtype == dtype  # (T, C, H, W), still on its device
    host, on_device, bad = pixels_to_uint8(pt)
    assert on_device is None  # a CPU tensor: nothing is kept (only CUDA frames ride along)
    assert bad == want_bad > 0
    assert host.dtype == np.uint8 and host.shape == want.shape == (5, 9, 12, 3)
    assert np.array_equal(host, want)
    q, q_bad = quantise_on_device(pt)
    assert q.device == pt.device and q_bad == bad and np.array_equal(q.numpy(), want)


def test_image_quantised_on_the_device_through_diffusers_is_the_numpy_path() -> None:
    from diffusers.image_processor import VaeImageProcessor

    ip = VaeImageProcessor(vae_scale_factor=8)
    img = _nasty((1, 3, 9, 12)).to(torch.bfloat16)
    want, want_bad = to_uint8(ip.postprocess(img, output_type="np")[0])
    host, _, bad = pixels_to_uint8(ip.postprocess(img, output_type="pt")[0])
    assert bad == want_bad and np.array_equal(host, want)


def test_runners_ask_for_device_frames_on_cuda_only() -> None:
    """On CUDA, pixels stay on the device, except where audio is decoded after the video
    (LTX-2): holding the float video through that decode raised its measured peak."""
    from regress.runners import get_runner

    want = {"sd": "pt", "flux": "pt", "qwen-image": "pt", "wan": "pt", "ltx": "pt", "ltx2": "np", "stable-audio": "np"}
    for name, kind in want.items():
        r = get_runner(name)
        assert r.output_type("cpu") == "np"
        assert r.output_type("cuda") == kind, name


# --------------------------------------------------------------------------- dispatch, host side

def test_no_gpu_copy_means_the_host_path_and_no_upload() -> None:
    """A current output without a copy on a GPU (none, or CPU tensors) is judged from the host
    arrays, and the golden is never uploaded; the numbers are the plain host path's."""
    g, c = _video(2), _video(3)
    want = compare_outputs(Output(video=g, fps=8.0), Output(video=c, fps=8.0))
    for golden, current in ((_with_copy(Output(video=g, fps=8.0)), Output(video=c, fps=8.0)),
                            (Output(video=g, fps=8.0), _with_copy(Output(video=c, fps=8.0)))):
        got = compare_outputs(golden, current)
        assert got.on_device == () and got.path == "torch"
        assert (got.values, got.per_frame, got.worst_frames) == (want.values, want.per_frame, want.worst_frames)
    assert golden.on_device is None  # the CPU copy of the current output did not pull the golden over


def test_mismatch_rules_and_copies_on_different_devices(monkeypatch: pytest.MonkeyPatch) -> None:
    """With any tensor counted as on a GPU: a shape or fps mismatch is reported exactly as
    before and uploads nothing; copies on two different devices are judged on the host."""
    monkeypatch.setattr(resident, "on_gpu", lambda t: t is not None)
    g, c = _video(4), _video(5, t=3)
    plain = compare_outputs(Output(video=g, fps=8.0), Output(video=c, fps=8.0))
    golden = Output(video=g, fps=8.0)
    got = compare_outputs(golden, _with_copy(Output(video=c, fps=8.0)))
    assert got.mismatch == plain.mismatch == ["video frame count differs: golden 2, current 3"]
    assert got.values == {} and golden.on_device is None and got.on_device == ()
    got = compare_outputs(golden, _with_copy(Output(video=g.copy(), fps=12.0)))
    assert got.mismatch == ["video fps differs: golden 8, current 12"] and golden.on_device is None
    # golden on the meta device, current on the CPU: not one device, so the host path
    c = _video(5)
    golden.keep_on_device(video=torch.empty(g.shape, dtype=torch.uint8, device="meta"))
    got = compare_outputs(golden, _with_copy(Output(video=c, fps=8.0)))
    want = compare_outputs(Output(video=g, fps=8.0), Output(video=c, fps=8.0))
    assert got.on_device == () and got.values == want.values


# --------------------------------------------------------------------------- the golden kept per case

def test_golden_on_device_keeps_one_case_and_only_the_same_files() -> None:
    cache = resident.GoldenOnDevice()
    meta = {"files": {"output.npz": "a" * 64}}
    first = Output(video=_video(7), fps=8.0)
    cache.lend(case_id="c1", meta=meta, golden=first)
    assert first.on_device is None and cache.holds == ()
    _with_copy(first)  # what the comparison uploads
    cache.keep(first)
    assert cache.holds == ("video",)
    again = Output(video=first.video.copy(), fps=8.0)  # the same golden, loaded again (bisect)
    cache.lend(case_id="c1", meta=dict(meta), golden=again)
    assert again.device_frames("video") is first.device_frames("video")
    republished = Output(video=first.video.copy(), fps=8.0)
    cache.lend(case_id="c1", meta={"files": {"output.npz": "b" * 64}}, golden=republished)
    assert republished.on_device is None and cache.holds == ()  # other files: the old copy is gone
    cache.keep(_with_copy(republished))
    other = Output(video=_video(8), fps=8.0)
    cache.lend(case_id="c2", meta=meta, golden=other)
    assert other.on_device is None and cache.holds == ()  # another case releases it
    cache.lend(case_id="c3", meta={}, golden=other)  # no file hashes: nothing proves it is the same golden
    cache.keep(_with_copy(other))
    assert cache.holds == ()


def test_session_drops_device_copies_once_judged(tmp_path: Path) -> None:
    """After judging, neither the judged output nor the golden carries device frames on to the
    report, the staged golden or the media writer; the per-case cache is released with the case."""
    from regress.options import Options
    from regress.session import GoldenSession
    from regress.suite import load_suite

    suite_file = tmp_path / "suite.toml"
    suite_file.write_text('[store]\nkind = "file"\npath = "store"\n\n[defaults]\nssim = 0.99\n')
    v = _smooth()
    maker = GoldenSession(load_suite(suite_file), Options(update="missing", device="cpu"))
    out = _with_copy(Output(video=v, fps=8.0))
    assert maker.judge_output(case_id="hand-made", output=out).verdict.status == "written"
    assert out.on_device is None and maker.staged[0].output.on_device is None
    maker.publish()
    maker.close()
    session = GoldenSession(load_suite(suite_file), Options(device="cpu"))
    out = _with_copy(Output(video=v.copy(), fps=8.0))
    run = session.judge_output(case_id="hand-made", output=out)
    assert run.verdict.status == "passed", run.verdict.reasons
    assert out.on_device is None and run.golden_output is not None and run.golden_output.on_device is None
    # NaN/Inf handling is unchanged: counted before quantisation, failing whatever the frames say
    bad = _with_copy(Output(video=v.copy(), fps=8.0, nonfinite=3))
    run = session.judge_output(case_id="hand-made", output=bad)
    assert run.verdict.failed and "output holds 3 NaN/Inf values" in run.verdict.reasons
    session.close()
    assert session.golden_on_device.holds == ()


# --------------------------------------------------------------------------- LPIPS on the device

def test_lpips_on_device_equals_lpips_from_host_arrays(tmp_path: Path) -> None:
    pytest.importorskip("lpips")
    from regress.metrics import lpips as L

    g = torch.Generator().manual_seed(0)
    shapes = {"features.0": (64, 3, 11, 11), "features.3": (192, 64, 5, 5), "features.6": (384, 192, 3, 3),
              "features.8": (256, 384, 3, 3), "features.10": (256, 256, 3, 3)}
    sd = {}
    for name, shape in shapes.items():
        sd[f"{name}.weight"] = torch.randn(shape, generator=g) * (2.0 / (shape[1] * shape[2] * shape[3])) ** 0.5
        sd[f"{name}.bias"] = torch.randn(shape[0], generator=g) * 0.01
    torch.save(sd, tmp_path / "seeded-alex.pth")
    w = L.resolve_weights("alex", environ={"REGRESS_LPIPS_WEIGHTS": str(tmp_path / "seeded-alex.pth")})
    a, b = _video(10, t=3, h=40, w=48), _video(11, t=3, h=40, w=48)
    host = L.lpips_frames(a, b, w, chunk_bytes=1)  # one frame a chunk on both sides: the same batches
    dev = L.lpips_on_device(golden=torch.from_numpy(a), current=torch.from_numpy(b), weights=w, chunk_bytes=1)
    assert host.dtype == dev.dtype == np.float64 and np.array_equal(host, dev) and (host > 0).all()
    with pytest.raises(ValueError, match="uint8 RGB"):
        L.lpips_on_device(golden=torch.zeros(1, 40, 48, 3), current=torch.zeros(1, 40, 48, 3), weights=w)


# --------------------------------------------------------------------------- the device path itself

_INTERPRETED = textwrap.dedent("""
    import dataclasses, json
    import numpy as np, torch
    import triton.runtime.interpreter as ti
    from regress.metrics import frames, fused_run, transfer
    from regress.metrics.compare import compare_outputs
    from regress.outputs import Output

    fused_run.BAND_ROWS, fused_run.BLOCK, fused_run.UNROLL = 2, 16, 5  # small shapes (see test_fused.py)
    frames._loaded = lambda dev, shape: True  # the kernel's arithmetic here, not its warm-up (test_warmup.py)
    ti.interpreter_builder.options = dataclasses.replace(ti.interpreter_builder.options, sanitize_overflow=False)
    rng = np.random.default_rng(0)
    g = rng.integers(0, 256, (2, 14, 30, 3), dtype=np.uint8)
    c = np.clip(g.astype(np.int16) + rng.integers(-9, 10, g.shape), 0, 255).astype(np.uint8)
    c[1] = g[1]  # one identical frame

    streamed = []
    real_stream = transfer.stream_frames
    def counting(arrays, dev, chunk):
        streamed.append(sum(a.nbytes for a in arrays))
        yield from real_stream(arrays, dev, chunk)
    transfer.stream_frames = counting

    def fields(comp):
        return {"values": comp.values, "per_frame": comp.per_frame, "worst_frames": comp.worst_frames,
                "worst_frame": comp.worst_frame, "mismatch": comp.mismatch, "path": comp.path,
                "on_device": list(comp.on_device)}

    def held(out):  # CPU tensors standing in for a GPU run's frames
        return out.keep_on_device(**{k: torch.from_numpy(getattr(out, k).copy()) for k in ("image", "video")
                                     if getattr(out, k) is not None})

    res = {}
    # The host path through the fused kernel (as on a GPU): CPU arrays streamed to the "device".
    real_available = frames.fused_available
    frames.fused_available = lambda dev, a, b: a.dtype == np.uint8 and a.shape[1] >= 11 and a.shape[2] >= 11
    res["host"] = fields(compare_outputs(Output(video=g, fps=8.0), Output(video=c, fps=8.0), device="cpu"))
    res["host_image"] = fields(compare_outputs(Output(image=g[0]), Output(image=c[0]), device="cpu"))
    res["host_same"] = fields(compare_outputs(Output(video=g, fps=8.0), Output(video=g.copy(), fps=8.0), device="cpu"))
    res["host_streamed"] = len(streamed)
    frames.fused_available = real_available
    # From here every tensor says it is on CUDA (the interpreter runs the kernel on CPU memory):
    # the device path, through frame_metrics_on_device unchanged.
    import contextlib
    torch.Tensor.is_cuda = property(lambda self: True)
    torch.cuda.device = lambda dev: contextlib.nullcontext()
    streamed.clear()
    res["both"] = fields(compare_outputs(held(Output(video=g, fps=8.0)), held(Output(video=c, fps=8.0))))
    res["both_image"] = fields(compare_outputs(held(Output(image=g[0])), held(Output(image=c[0]))))
    res["both_same"] = fields(compare_outputs(held(Output(video=g, fps=8.0)), held(Output(video=g.copy(), fps=8.0))))
    res["both_streamed"] = list(streamed)
    golden = Output(video=g, fps=8.0)  # only the current output is on the device: upload once
    first = fields(compare_outputs(golden, held(Output(video=c, fps=8.0))))
    copy = golden.device_frames("video")
    second = fields(compare_outputs(golden, held(Output(video=c, fps=8.0))))
    res["upload"] = {"first": first, "second": second, "streamed": list(streamed),
                     "kept": golden.device_frames("video") is copy,
                     "equal": bool(np.array_equal(copy.numpy(), g)), "golden_nbytes": int(g.nbytes)}
    print(json.dumps(res))
""")


@pytest.mark.skipif(CUDA, reason="a GPU is here: the CUDA tests below run the compiled kernel instead")
def test_device_path_equals_the_host_path_under_the_triton_interpreter() -> None:
    pytest.importorskip("triton")
    env = {**os.environ, "TRITON_INTERPRET": "1", "PYTHONPATH": str(REPO)}
    proc = subprocess.run([sys.executable, "-c", _INTERPRETED], env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    res = json.loads(proc.stdout.strip().splitlines()[-1])
    assert res["host_streamed"] == 2 and res["host"]["path"] == "fused-triton-f32"  # the host path's kernel ran
    assert res["host_same"]["path"] == "identical"
    for key in ("", "_image", "_same"):
        host, dev = res["host" + key], res["both" + key]
        assert dev.pop("on_device") == ["image" if key == "_image" else "video"]
        assert host.pop("on_device") == []
        assert dev == host, key  # same kernel, same numbers, same worst frames, same path label
    assert res["both"]["values"]["ssim_worst"] < 1.0 and res["both"]["per_frame"]["ssim"][1] == 1.0
    assert res["both_streamed"] == []  # nothing went through host memory
    up = res["upload"]
    assert up["streamed"] == [up["golden_nbytes"]]  # the golden alone, once
    assert up["kept"] and up["equal"]
    for comp in (up["first"], up["second"]):
        assert comp.pop("on_device") == ["video"] and comp == res["host"]


# --------------------------------------------------------------------------- on a GPU

@pytest.mark.skipif(not CUDA, reason="needs CUDA")
def test_cuda_resident_comparison_equals_the_host_path() -> None:
    pytest.importorskip("triton")
    rng = np.random.default_rng(3)
    g = rng.integers(0, 256, (5, 131, 301, 3), dtype=np.uint8)
    c = np.clip(g.astype(np.int16) + rng.integers(-4, 5, g.shape), 0, 255).astype(np.uint8)
    c[2] = g[2]
    host = compare_outputs(Output(video=g, fps=8.0), Output(video=c, fps=8.0), device="cuda")
    golden = Output(video=g, fps=8.0)
    current = Output(video=c, fps=8.0).keep_on_device(video=torch.from_numpy(c).cuda())
    dev = compare_outputs(golden, current, device="cuda")
    assert host.on_device == () and dev.on_device == ("video",)
    assert golden.device_frames("video").is_cuda  # uploaded once, kept on the golden
    assert torch.equal(golden.device_frames("video").cpu(), torch.from_numpy(g))
    assert (dev.values, dev.per_frame, dev.worst_frames, dev.path) == \
        (host.values, host.per_frame, host.worst_frames, host.path)


@pytest.mark.skipif(not CUDA, reason="needs CUDA")
@pytest.mark.parametrize("family", ["sd", "wan"])
def test_cuda_run_keeps_its_frames_on_the_device(family: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """A tiny run on the GPU keeps its uint8 frames there, equal to its host frames, and those
    equal a second run's frames quantised by numpy (output_type "np"): bit for bit the old path."""
    from regress.runners import get_runner
    from regress.suite import Case

    runner = get_runner(family)
    case = Case(id=f"{family}-resident", pipeline=family, steps=1)
    built = runner.build(case, {}, "cuda")
    out = runner.run(built, case, "cuda").output
    track = "image" if family == "sd" else "video"
    frames = out.device_frames(track)
    assert frames is not None and frames.is_cuda and frames.dtype == torch.uint8
    assert np.array_equal(frames.cpu().numpy(), getattr(out, track))
    monkeypatch.setattr(type(runner), "output_type", lambda self, device: "np")
    numpy_path = runner.run(built, case, "cuda").output
    assert numpy_path.on_device is None
    assert np.array_equal(getattr(numpy_path, track), getattr(out, track)) and numpy_path.nonfinite == out.nonfinite
    comp = compare_outputs(numpy_path, out, device="cuda")  # golden uploaded, judged on the device
    assert comp.on_device == (track,) and comp.path == "identical"
