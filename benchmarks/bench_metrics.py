"""SSIM (+ PSNR) and LPIPS: regress against skimage, torchmetrics, pytorch-msssim and kornia.

Inputs (deterministic, made here):

* image: a 1024x1024 RGB uint8 pair, skimage's astronaut tiled 2x2 and a copy with
  N(0, 10) noise;
* video: a 121-frame 720x1280 RGB uint8 pair (0.67 GB for the two): a window panning over a
  1440x2560 canvas of five skimage images, and a copy with +-3 uniform noise per value.

Every library is configured to compute skimage's Gaussian SSIM (sigma 1.5, 11 taps, K1 0.01,
K2 0.03, population covariance, data_range 255, mean over *valid* windows and channels):

* skimage: ``structural_similarity(gaussian_weights=True, sigma=1.5,
  use_sample_covariance=False, data_range=255, channel_axis=-1)``: the reference;
* torchmetrics: ``structural_similarity_index_measure(gaussian_kernel=True, sigma=1.5,
  data_range=255, return_full_image=True)``, its map cropped by 5 pixels per side (its own
  mean includes reflect-padded border windows);
* pytorch-msssim: ``ssim(data_range=255, win_size=11, win_sigma=1.5, size_average=False)``
  (valid windows already);
* kornia: ``metrics.ssim(window_size=11, max_val=255, eps=0, padding='valid')`` averaged.

Timing rules. ``regress`` takes the uint8 host (numpy) arrays and returns host numbers: the
host->device copy, SSIM *and* PSNR / abs diffs are inside its time. ``regress (device)``
(GPU only) takes uint8 tensors already on the device (``frame_metrics_on_device``, as a
pipeline's output or a golden cached on the device would be) and returns the same host
numbers: the kernel (tail-pixel statistics included), one copy of its partial sums into pinned host memory and their reduction on the host. Peers get float32 NCHW
tensors already on the device ("device-resident"; conversion and copy not timed), the most
favourable setting for them. TF32 is switched off for everything (with TF32 on, cuDNN moves
SSIM by ~1e-2 on Hopper). Each number is the median of ``--repeats`` calls after one warm-up
call, libraries interleaved within each repeat. On CPU the video pair is timed on its first
``--cpu-video-frames`` frames only (skimage takes ~0.5 s a frame) and said so.

Parity: each library's per-frame SSIM against skimage's on the same frames (on the GPU:
video frames 0, 60 and 120; all frames of the image).

LPIPS (GPU; CPU for the image only): regress ``lpips_frames`` end to end from uint8 host
arrays, AlexNet shape, with a *seeded random* backbone (no real weights can be downloaded
here: the time is the network's, the values mean nothing perceptually), in each precision
mode; ``fp32`` is checked against ``lpips.LPIPS`` with the same weights.

    python benchmarks/bench_metrics.py [--device cpu|cuda] [--repeats 5] [--out results.json]
    python benchmarks/bench_metrics.py --resident [--out resident.json]   # GPU: compare_outputs, host vs resident

The last line is machine-readable: ``RESULT ...``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

VIDEO_FRAMES, VIDEO_H, VIDEO_W = 121, 720, 1280
SAMPLE_FRAMES = (0, 60, 120)


# --------------------------------------------------------------------------- inputs

def image_pair() -> tuple[np.ndarray, np.ndarray]:
    from skimage import data

    a = np.ascontiguousarray(np.tile(data.astronaut(), (2, 2, 1)))
    rng = np.random.default_rng(0)
    b = np.clip(np.rint(a + rng.normal(0.0, 10.0, a.shape)), 0, 255).astype(np.uint8)
    return a, b


def video_pair(frames: int = VIDEO_FRAMES) -> tuple[np.ndarray, np.ndarray]:
    from PIL import Image
    from skimage import data

    tiles = [data.astronaut(), data.coffee(), data.chelsea(), data.rocket()]
    canvas = np.zeros((2 * VIDEO_H, 2 * VIDEO_W, 3), np.uint8)
    for i, img in enumerate(tiles):
        big = np.asarray(Image.fromarray(img).resize((VIDEO_W, VIDEO_H), Image.BICUBIC))
        y, x = (i // 2) * VIDEO_H, (i % 2) * VIDEO_W
        canvas[y:y + VIDEO_H, x:x + VIDEO_W] = big
    ihc = np.asarray(Image.fromarray(data.immunohistochemistry()).resize((640, 360), Image.BICUBIC))
    canvas[VIDEO_H - 180:VIDEO_H + 180, VIDEO_W - 320:VIDEO_W + 320] = ihc  # detail across the seams
    golden = np.empty((frames, VIDEO_H, VIDEO_W, 3), np.uint8)
    for t in range(frames):
        y, x = 4 * t, 8 * t
        golden[t] = canvas[y:y + VIDEO_H, x:x + VIDEO_W]
    rng = np.random.default_rng(1)
    noise = rng.integers(-3, 4, size=(8, VIDEO_H, VIDEO_W, 3), dtype=np.int16)
    current = np.empty_like(golden)
    for t in range(frames):
        current[t] = np.clip(golden[t].astype(np.int16) + noise[t % 8], 0, 255).astype(np.uint8)
    return golden, current


# --------------------------------------------------------------------------- libraries

def sk_ssim(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    from skimage.metrics import structural_similarity

    a4, b4 = (a[None], b[None]) if a.ndim == 3 else (a, b)
    return np.array([structural_similarity(x, y, gaussian_weights=True, sigma=1.5, use_sample_covariance=False,
                                           data_range=255, channel_axis=-1) for x, y in zip(a4, b4, strict=True)])


def to_nchw(a: np.ndarray, dev: str) -> Any:
    import torch

    a4 = a[None] if a.ndim == 3 else a
    return torch.from_numpy(a4).to(dev).permute(0, 3, 1, 2).float().contiguous()


def peer_fns() -> dict[str, Callable[[Any, Any], Any]]:
    """name -> f(x, y) on float32 NCHW device tensors in [0, 255] -> per-image SSIM tensor."""
    fns: dict[str, Callable[[Any, Any], Any]] = {}
    try:
        from torchmetrics.functional.image import structural_similarity_index_measure as tm_ssim

        def torchmetrics_ssim(x: Any, y: Any) -> Any:
            _, full = tm_ssim(x, y, gaussian_kernel=True, sigma=1.5, kernel_size=11, data_range=255.0,
                              k1=0.01, k2=0.03, reduction="none", return_full_image=True)
            return full[..., 5:-5, 5:-5].mean(dim=(1, 2, 3))

        fns["torchmetrics"] = torchmetrics_ssim
    except ImportError:
        pass
    try:
        import pytorch_msssim

        fns["pytorch-msssim"] = lambda x, y: pytorch_msssim.ssim(x, y, data_range=255, size_average=False,
                                                                  win_size=11, win_sigma=1.5, K=(0.01, 0.03))
    except ImportError:
        pass
    try:
        import kornia

        fns["kornia"] = lambda x, y: kornia.metrics.ssim(x, y, window_size=11, max_val=255.0, eps=0.0,
                                                          padding="valid").mean(dim=(1, 2, 3))
    except ImportError:
        pass
    return fns


# --------------------------------------------------------------------------- timing

def sync(dev: str) -> None:
    if dev.startswith("cuda"):
        import torch

        torch.cuda.synchronize()


def timed(fn: Callable[[], Any], dev: str) -> tuple[float, Any]:
    sync(dev)
    t = time.perf_counter()
    out = fn()
    sync(dev)
    return (time.perf_counter() - t) * 1e3, out


def bench(entries: dict[str, Callable[[], Any]], dev: str, repeats: int) -> dict[str, dict[str, Any]]:
    """Warm each up once, then ``repeats`` rounds with the entries interleaved."""
    res: dict[str, dict[str, Any]] = {}
    for name, fn in entries.items():
        _, out = timed(fn, dev)
        res[name] = {"times": [], "out": out}
    for _ in range(repeats):
        for name, fn in entries.items():
            ms, _ = timed(fn, dev)
            res[name]["times"].append(ms)
    for r in res.values():
        r["median_ms"] = statistics.median(r["times"])
    return res


def as_np(x: Any) -> np.ndarray:
    if hasattr(x, "detach"):
        return x.detach().double().cpu().numpy().reshape(-1)
    return np.asarray(x, dtype=np.float64).reshape(-1)


# --------------------------------------------------------------------------- sections

def ssim_section(label: str, a: np.ndarray, b: np.ndarray, dev: str, repeats: int, *, with_skimage: bool,
                 parity_frames: tuple[int, ...] | None, note: str = "") -> dict[str, Any]:
    import torch

    from regress.metrics.frames import frame_metrics, frame_metrics_on_device

    entries: dict[str, Callable[[], Any]] = {
        "regress": lambda: frame_metrics(a, b, device=dev),
    }
    if dev.startswith("cuda"):  # regress from device-resident uint8 (as a pipeline's output is)
        xu, yu = torch.from_numpy(a).to(dev), torch.from_numpy(b).to(dev)
        entries["regress (device)"] = lambda: frame_metrics_on_device(golden=xu, current=yu)
    xs, ys = to_nchw(a, dev), to_nchw(b, dev)  # the peers' device-resident float32 inputs
    for name, fn in peer_fns().items():
        entries[name] = (lambda f: (lambda: f(xs, ys)))(fn)
    if with_skimage:
        entries["skimage"] = lambda: sk_ssim(a, b)
    with torch.inference_mode():
        res = bench(entries, dev, repeats)
    reg = res["regress"]["out"]
    for name in ("regress", "regress (device)"):
        if name in res:
            res[name]["path"] = res[name]["out"].path
            res[name]["out"] = res[name]["out"].ssim
    frames = parity_frames if parity_frames is not None else tuple(range(len(reg.ssim)))
    a4, b4 = (a[None], b[None]) if a.ndim == 3 else (a, b)
    ref = res["skimage"]["out"] if with_skimage and parity_frames is None else \
        sk_ssim(a4[list(frames)], b4[list(frames)])
    for r in res.values():
        vals = as_np(r["out"])
        r["parity"] = float(np.max(np.abs(vals[list(frames)] - ref))) if len(vals) >= len(a4) else \
            float(np.max(np.abs(vals - ref)))
        r.pop("out")
    xs = ys = xu = yu = None  # free the device inputs before the next section
    if dev.startswith("cuda"):
        torch.cuda.empty_cache()
    return {"label": label, "note": note, "results": res}


def gpu_extras(a: np.ndarray, b: np.ndarray, repeats: int, *, variants: set[str] | None = None,
               h2d_settings: bool = True) -> dict[str, Any]:
    """regress on the video pair: each host->device mode and staging setting, the kernel alone
    on device-resident uint8 tensors (and its shape settings), the copy alone, the floor."""
    import torch

    from regress.metrics import frames, transfer
    from regress.metrics.frames import frame_metrics, fused_on_device

    out: dict[str, Any] = {}

    def run() -> Any:
        return frame_metrics(a, b, device="cuda")

    settings: dict[str, dict[str, Any]] = {f"mode={m}": {"MODE": m} for m in transfer.MODES}
    for chunk_mb in (24, 96, 192):
        settings[f"stage chunk={chunk_mb}MB"] = {"MODE": "stage", "CHUNK_BYTES": chunk_mb << 20}
    for threads in (4, 16):
        settings[f"stage threads={threads}"] = {"MODE": "stage", "HOST_THREADS": threads}
    settings["stage 96MB threads=16"] = {"MODE": "stage", "CHUNK_BYTES": 96 << 20, "HOST_THREADS": 16}
    if not h2d_settings:
        settings = {"mode=stage": {"MODE": "stage"}}
    transfer._MAX_SLOT_SETS = 4  # every staging size tried here stays allocated (no re-pinning in the loop)
    saved = {"MODE": transfer.MODE, "HOST_THREADS": transfer.HOST_THREADS, "CHUNK_BYTES": frames.CHUNK_BYTES}

    def apply(cfg: dict[str, Any]) -> None:
        transfer.MODE = cfg.get("MODE", saved["MODE"])
        transfer.HOST_THREADS = cfg.get("HOST_THREADS", saved["HOST_THREADS"])
        frames.CHUNK_BYTES = cfg.get("CHUNK_BYTES", saved["CHUNK_BYTES"])

    times: dict[str, list[float]] = {}
    for name, cfg in settings.items():
        try:
            apply(cfg)
            timed(run, "cuda")  # warm (pinned slots, registration path)
            times[name] = []
        except Exception as exc:  # report, keep benchmarking
            out.setdefault("errors", {})[name] = f"{exc.__class__.__name__}: {exc}"
    for _ in range(repeats):
        for name in times:
            apply(settings[name])
            times[name].append(timed(run, "cuda")[0])
    apply({})
    out["e2e_settings_ms"] = {k: statistics.median(v) for k, v in times.items()}

    x = torch.from_numpy(a).cuda()
    y = torch.from_numpy(b).cuda()
    ref = sk_ssim(a[list(SAMPLE_FRAMES)], b[list(SAMPLE_FRAMES)])
    shapes = {"default": {}, "no prefetch": {"PREFETCH_ROWS": 0}, "no register cap": {"MAX_REGS": None},
              "unroll2": {"UNROLL": 2}, "2 per lane": {"THREE_PER_LANE_FROM": 1 << 62},
              "band120": {"BAND_ROWS": 120}, "band360": {"BAND_ROWS": 360}, "band720": {"BAND_ROWS": 720}}
    if variants is not None:
        shapes = {k: v for k, v in shapes.items() if k in variants}
    base = {k: getattr(frames, k) for k in ("BLOCK", "BAND_ROWS", "NUM_WARPS", "UNROLL", "WINDOWS_PER_LANE", "THREE_PER_LANE_FROM",
                                            "MAX_REGS", "PREFETCH_ROWS", "PREFETCH_LEVEL")}
    kernel: dict[str, Any] = {}
    for f64 in (False, True):
        for name, cfg in shapes.items():
            # float64: one shape (its rings need twice the registers), unless the variants leave it out
            if f64 and (name != "default" or (variants is not None and "f64" not in variants)):
                continue
            key = f"{'f64' if f64 else 'f32'} {name}"
            try:
                for k, v in {**base, **cfg}.items():
                    setattr(frames, k, v)
                def call(f64: bool = f64) -> Any:
                    return fused_on_device(x, y, f64=f64)

                timed(call, "cuda")
                ts = [timed(call, "cuda")[0] for _ in range(max(7, repeats))]
                vals = fused_on_device(x, y, f64=f64).ssim
                kernel[key] = {"ms": statistics.median(ts),
                               "parity": float(np.max(np.abs(vals[list(SAMPLE_FRAMES)] - ref)))}
            except Exception as exc:
                kernel[key] = {"error": f"{exc.__class__.__name__}: {exc}"}
    for k, v in base.items():
        setattr(frames, k, v)
    out["kernel"] = kernel
    # TF32 cannot reach the kernel (no tl.dot): the same bits with the flags on.
    plain = fused_on_device(x, y).ssim
    saved_tf32 = (torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32)
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = True
    try:
        out["tf32_on_identical"] = bool(np.array_equal(plain, fused_on_device(x, y).ssim))
    finally:
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = saved_tf32
    # Bandwidth: a device-to-device copy (bytes read + written) and the pinned host->device copy.
    buf = torch.empty(1 << 30, dtype=torch.uint8, device="cuda")
    dst = torch.empty_like(buf)
    dst.copy_(buf)
    ts = [timed(lambda: dst.copy_(buf), "cuda")[0] for _ in range(5)]
    bw = 2 * buf.numel() / (statistics.median(ts) / 1e3)
    out["d2d_GBps"] = bw / 1e9
    out["floor_ms"] = (a.nbytes + b.nbytes) / bw * 1e3
    out["kernel_x_floor"] = kernel.get("f32 default", {}).get("ms", float("nan")) / out["floor_ms"]
    pinned = torch.empty(a.nbytes + b.nbytes, dtype=torch.uint8, pin_memory=True)
    dev_buf = torch.empty(pinned.numel(), dtype=torch.uint8, device="cuda")
    dev_buf.copy_(pinned, non_blocking=True)
    ts = [timed(lambda: dev_buf.copy_(pinned, non_blocking=True), "cuda")[0] for _ in range(5)]
    out["pinned_h2d_ms"] = statistics.median(ts)
    flat_a = a.reshape(-1)
    ts = [timed(lambda: np.copyto(pinned.numpy()[: flat_a.size], flat_a), "cpu")[0] for _ in range(3)]
    out["host_copy_1thread_ms"] = statistics.median(ts)
    buf = dst = pinned = dev_buf = x = y = None
    torch.cuda.empty_cache()
    return out


def compare_verdict_ms(a: np.ndarray, b: np.ndarray, dev: str, repeats: int) -> dict[str, float]:
    """A case's comparison as the session runs it: compare_outputs on the two Outputs (host
    uint8 arrays, the golden as loaded from its file) and the metric verdict."""
    from regress.metrics.compare import compare_outputs
    from regress.outputs import Output
    from regress.thresholds import Threshold
    from regress.verdict import judge_metrics

    video = a.ndim == 4
    golden = Output(video=a, fps=24.0) if video else Output(image=a)
    current = Output(video=b, fps=24.0) if video else Output(image=b)
    th = {"ssim": Threshold(0.99, "bench"), "psnr": Threshold(30.0, "bench"), "max_abs": Threshold(255.0, "bench")}

    def case() -> Any:
        cmp = compare_outputs(golden, current, device=dev)
        return judge_metrics(cmp.values, th)

    timed(case, dev)
    ts = [timed(case, dev)[0] for _ in range(max(3, repeats))]
    return {"median_ms": statistics.median(ts)}


def compare_resident_ms(a: np.ndarray, b: np.ndarray, dev: str, repeats: int) -> dict[str, Any]:
    """compare_outputs + judge_metrics per case from host outputs (the golden as loaded, the
    current output as a CPU run or a hand-made test gives it) against device-resident ones
    (a GPU run's output, see regress.metrics.resident): with the golden already on the device
    (calibrate's runs, a sweep, bisect) and with a fresh golden uploaded in the call (a case's
    first judgement). Same run, same GPU; the values must be equal."""
    import torch

    from regress.metrics.compare import compare_outputs
    from regress.outputs import Output
    from regress.thresholds import Threshold
    from regress.verdict import judge_metrics

    video = a.ndim == 4

    def out(x: np.ndarray) -> Output:
        return Output(video=x, fps=24.0) if video else Output(image=x)

    def held(x: np.ndarray, t: Any) -> Output:
        return out(x).keep_on_device(**{"video" if video else "image": t})

    th = {"ssim": Threshold(0.99, "bench"), "psnr": Threshold(30.0, "bench"), "max_abs": Threshold(255.0, "bench")}
    golden_host, current_host = out(a), out(b)
    xa, xb = torch.from_numpy(a).to(dev), torch.from_numpy(b).to(dev)
    golden_dev, current_dev = held(a, xa), held(b, xb)
    results: dict[str, Any] = {}

    def case(golden: Any, current: Output) -> Callable[[], Any]:
        def call() -> Any:
            cmp = compare_outputs(golden() if callable(golden) else golden, current, device=dev)
            judge_metrics(cmp.values, th)
            return cmp
        return call

    entries = {"host outputs": case(golden_host, current_host),
               "resident, golden kept": case(golden_dev, current_dev),
               "resident, golden uploaded": case(lambda: out(a), current_dev)}
    res = bench(entries, dev, repeats)
    base = res["host outputs"]["out"]
    for name, r in res.items():
        cmp = r.pop("out")
        results[name] = {"median_ms": r["median_ms"], "x_host": r["median_ms"] / res["host outputs"]["median_ms"],
                         "on_device": list(cmp.on_device), "path": cmp.path,
                         "same_values": cmp.values == base.values and cmp.per_frame == base.per_frame}
    xa = xb = golden_dev = current_dev = None
    torch.cuda.empty_cache()
    return results


def resident_main(dev: str, repeats: int, out: Path | None) -> int:
    """--resident: only the host-vs-resident comparison rows, a few lines of output."""
    doc: dict[str, Any] = {"device": dev, "machine": machine(dev), "repeats": repeats}
    print(f"machine: {doc['machine']}")
    a, b = image_pair()
    pairs = {"1024x1024 image": (a, b)}
    pairs[f"{VIDEO_FRAMES}x{VIDEO_H}x{VIDEO_W} video"] = video_pair(VIDEO_FRAMES)
    ok = True
    for label, (x, y) in pairs.items():
        rows = compare_resident_ms(x, y, dev, repeats)
        doc[label] = rows
        same = all(r["same_values"] for r in rows.values())
        resident = all(r["on_device"] for k, r in rows.items() if k != "host outputs")  # else nothing was timed
        ok &= same and resident
        print(f"{label}: compare+verdict ms " + ", ".join(
            f"{k} {r['median_ms']:.2f} ({r['x_host']:.2f}x host)" for k, r in rows.items())
            + f"; same values: {same}; resident rows judged on the device: {resident}")
    if out:
        out.write_text(json.dumps(doc, indent=2, default=float))
    img, vid = doc["1024x1024 image"], doc[f"{VIDEO_FRAMES}x{VIDEO_H}x{VIDEO_W} video"]
    print(f"RESULT resident device={dev} image_host_ms={img['host outputs']['median_ms']:.2f} "
          f"image_resident_ms={img['resident, golden kept']['median_ms']:.2f} "
          f"video_host_ms={vid['host outputs']['median_ms']:.2f} "
          f"video_resident_ms={vid['resident, golden kept']['median_ms']:.2f} "
          f"video_resident_upload_ms={vid['resident, golden uploaded']['median_ms']:.2f} same_values={ok}")
    return 0 if ok else 1


def seeded_alexnet_file(directory: Path) -> Path:
    """torchvision-format AlexNet features with seeded He-initialised values: an LPIPS-shaped
    network for timing and parity, not real ImageNet weights."""
    import torch

    shapes = {"features.0": (64, 3, 11, 11), "features.3": (192, 64, 5, 5), "features.6": (384, 192, 3, 3),
              "features.8": (256, 384, 3, 3), "features.10": (256, 256, 3, 3)}
    g = torch.Generator().manual_seed(0)
    sd = {}
    for name, shape in shapes.items():
        sd[f"{name}.weight"] = torch.randn(shape, generator=g) * (2.0 / (shape[1] * shape[2] * shape[3])) ** 0.5
        sd[f"{name}.bias"] = torch.randn(shape[0], generator=g) * 0.01
    path = directory / "seeded-alexnet.pth"
    torch.save(sd, path)
    return path


def lpips_section(a: np.ndarray, b: np.ndarray, dev: str, repeats: int, modes: tuple[str, ...]) -> dict[str, Any]:
    import torch

    from regress.metrics import lpips as L

    with tempfile.TemporaryDirectory() as tmp:
        path = seeded_alexnet_file(Path(tmp))
        w = L.resolve_weights("alex", environ={"REGRESS_LPIPS_WEIGHTS": str(path)})
        assert isinstance(w, L.LpipsWeights)
        def entry(mode: str) -> Callable[[], Any]:
            prec, _, bench_flag = mode.partition("+")

            def call() -> Any:
                L.CUDNN_BENCHMARK = True if bench_flag == "benchmark" else None
                try:
                    return L.lpips_frames(a, b, w, device=dev, precision=prec)
                finally:
                    L.CUDNN_BENCHMARK = None
            return call

        entries = {m: entry(m) for m in modes}
        res = bench(entries, dev, repeats)
        ref_mode = res.get("fp32", {}).get("out")
        # fp32 against lpips.LPIPS itself on two frames (the package's own forward).
        a4, b4 = (a[None], b[None]) if a.ndim == 3 else (a, b)
        idx = [0, len(a4) - 1] if len(a4) > 1 else [0]
        model = L.load_model(w, dev)
        with torch.inference_mode(), L._precision(torch.device(dev), "fp32"):
            ref = [float(model(torch.from_numpy(a4[i]).to(dev).permute(2, 0, 1)[None].float() / 255,
                               torch.from_numpy(b4[i]).to(dev).permute(2, 0, 1)[None].float() / 255,
                               normalize=True).item()) for i in idx]
        for r in res.values():
            vals = np.asarray(r.pop("out"))
            r["mean"] = float(vals.mean())
            if ref_mode is not None:
                r["max_rel_vs_fp32"] = float(np.max(np.abs(vals - ref_mode) / np.maximum(np.abs(ref_mode), 1e-12)))
            r["parity_vs_lpips_pkg"] = float(np.max(np.abs(vals[idx] - ref)))
            r["parity_frames"] = idx
    return {"weights": "seeded random AlexNet (shape only)", "results": res}


# --------------------------------------------------------------------------- report

def machine(dev: str) -> str:
    import torch

    cpu = platform.processor() or "?"
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    desc = f"{os.cpu_count()}-core {cpu}, torch {torch.__version__}"
    if dev.startswith("cuda"):
        desc = f"{torch.cuda.get_device_name(0)}, " + desc + f", CUDA {torch.version.cuda}"
        try:
            import triton

            desc += f", triton {triton.__version__}"
        except ImportError:
            pass
    return desc


def print_ssim_table(sec: dict[str, Any]) -> None:
    res = sec["results"]
    ref = "regress (device)" if "regress (device)" in res else "regress"
    reg = res[ref]["median_ms"]
    print(f"\n{sec['label']}" + (f"  [{sec['note']}]" if sec["note"] else ""))
    print(f"  {'library':<18}{'median ms':>12}{'x ' + ref:>20}{'|ssim - skimage|':>20}")
    for name, r in sorted(res.items(), key=lambda kv: kv[1]["median_ms"]):
        extra = f"  ({r['path']})" if "path" in r else ""
        print(f"  {name:<18}{r['median_ms']:>12.3f}{r['median_ms'] / reg:>20.2f}{r['parity']:>20.2e}{extra}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--device", default=None, help="cpu or cuda (default: cuda when available)")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--cpu-video-frames", type=int, default=4)
    parser.add_argument("--lpips-modes", default="fp32,tf32,bf16,fp32+benchmark,tf32+benchmark,bf16+benchmark",
                        help="precision modes, '+benchmark' for cudnn.benchmark on")
    parser.add_argument("--out", type=Path, default=None, help="write all numbers as JSON here")
    parser.add_argument("--kernel-variants", default=None,
                        help="comma list of fused-kernel shapes to time (default: all; see gpu_extras)")
    parser.add_argument("--no-h2d-settings", action="store_true", help="time only the default host->device mode")
    parser.add_argument("--resident", action="store_true",
                        help="(GPU) only compare_outputs from host outputs against device-resident ones")
    args = parser.parse_args()

    import torch

    dev = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    gpu = dev.startswith("cuda")
    torch.backends.cudnn.allow_tf32 = False
    torch.backends.cuda.matmul.allow_tf32 = False
    if args.resident:
        if not gpu:
            parser.error("--resident needs a CUDA device (device-resident outputs exist only there)")
        return resident_main(dev, args.repeats, args.out)
    doc: dict[str, Any] = {"device": dev, "machine": machine(dev), "repeats": args.repeats}
    print(f"machine: {doc['machine']}")
    print(f"peers: {', '.join(peer_fns()) or 'none installed'}; TF32 off; repeats {args.repeats}")

    a, b = image_pair()
    doc["image"] = ssim_section("SSIM, 1024x1024 RGB pair (regress: SSIM+PSNR from uint8 host arrays, and from "
                                "device-resident uint8; peers device-resident float32)", a, b, dev,
                                args.repeats, with_skimage=True, parity_frames=None)
    print_ssim_table(doc["image"])

    t = time.perf_counter()
    n = VIDEO_FRAMES if gpu else args.cpu_video_frames
    va, vb = video_pair(n)
    print(f"\n(video pair of {n} frames made in {time.perf_counter() - t:.1f} s)")
    if gpu:
        doc["video"] = ssim_section(f"SSIM, {n}-frame 720x1280 RGB pair (regress: SSIM+PSNR, uint8 host arrays in, "
                                    "H2D included; peers device-resident float32)", va, vb, dev, args.repeats,
                                    with_skimage=False, parity_frames=SAMPLE_FRAMES,
                                    note=f"parity on frames {SAMPLE_FRAMES}")
        print_ssim_table(doc["video"])
        try:
            variants = set(args.kernel_variants.split(",")) if args.kernel_variants else None
            doc["gpu"] = gpu_extras(va, vb, args.repeats, variants=variants, h2d_settings=not args.no_h2d_settings)
        except Exception:  # keep the rest of a (costly) GPU session's numbers
            import traceback

            traceback.print_exc()
            doc["gpu"] = {"e2e_settings_ms": {}, "kernel": {}, "d2d_GBps": float("nan"), "floor_ms": float("nan"),
                          "pinned_h2d_ms": float("nan"), "host_copy_1thread_ms": float("nan")}
        g = doc["gpu"]
        try:
            doc["compare_verdict"] = {"image": compare_verdict_ms(a, b, dev, args.repeats),
                                      "video": compare_verdict_ms(va, vb, dev, args.repeats)}
            print("\n  compare_outputs + judge_metrics per case (host outputs in): "
                  f"1024x1024 image {doc['compare_verdict']['image']['median_ms']:.1f} ms, "
                  f"121-frame 720p video {doc['compare_verdict']['video']['median_ms']:.1f} ms")
            doc["compare_resident"] = {"image": compare_resident_ms(a, b, dev, args.repeats),
                                       "video": compare_resident_ms(va, vb, dev, args.repeats)}
            print("  the same from device-resident outputs, golden kept on the device: " + ", ".join(
                f"{k} {r['resident, golden kept']['median_ms']:.2f} ms "
                f"({r['resident, golden kept']['x_host']:.2f}x host outputs)" for k, r in doc["compare_resident"].items()))
        except Exception:
            import traceback

            traceback.print_exc()
        print("\n  regress end to end (uint8 host in, SSIM+PSNR out), ms by host->device setting:")
        for k, v in g["e2e_settings_ms"].items():
            print(f"    {k:<22}{v:8.1f}")
        for k, v in g.get("errors", {}).items():
            print(f"    {k:<22}failed: {v}")
        print("  fused kernel alone on device-resident uint8 tensors:")
        for k, v in g["kernel"].items():
            print(f"    {k:<22}" + (f"{v['ms']:8.2f} ms  |ssim - skimage| {v['parity']:.1e}" if "ms" in v
                                     else f"failed: {v['error']}"))
        print(f"  kernel / floor: {g.get('kernel_x_floor', float('nan')):.1f}x; same SSIM bits with TF32 on: "
              f"{g.get('tf32_on_identical')}")
        print(f"  floor: read both videos once at {g['d2d_GBps']:.0f} GB/s = {g['floor_ms']:.2f} ms; pinned H2D of "
              f"the pair alone {g['pinned_h2d_ms']:.1f} ms; one host thread copying one video into pinned memory "
              f"{g['host_copy_1thread_ms']:.1f} ms")
    else:
        doc["video"] = ssim_section(f"SSIM, first {n} frames of the 720x1280 video pair", va, vb, dev, args.repeats,
                                    with_skimage=True, parity_frames=None,
                                    note=f"CPU: {n} of {VIDEO_FRAMES} frames timed; x{VIDEO_FRAMES / n:.1f} for the "
                                         "whole video")
        print_ssim_table(doc["video"])

    modes = tuple(m for m in args.lpips_modes.split(",") if m) if gpu else ("fp32",)
    try:
        import lpips  # noqa: F401

        la, lb = (va, vb) if gpu else (a, b)
        doc["lpips"] = lpips_section(la, lb, dev, args.repeats if gpu else max(3, args.repeats // 2), modes)
        what = f"{len(la)}-frame 720x1280 pair" if gpu else "1024x1024 pair"
        print(f"\nLPIPS (AlexNet shape, {doc['lpips']['weights']}), {what}, uint8 host arrays in:")
        for m, r in doc["lpips"]["results"].items():
            m = f"{m:<15}"
            rel = f", max rel vs fp32 {r['max_rel_vs_fp32']:.1e}" if "max_rel_vs_fp32" in r else ""
            print(f"  {m} median {r['median_ms']:9.1f} ms; |value - lpips.LPIPS (fp32)| on frames "
                  f"{r['parity_frames']}: {r['parity_vs_lpips_pkg']:.1e}{rel}")
    except ImportError:
        print("\nLPIPS: lpips not installed, skipped")
    except Exception:
        import traceback

        traceback.print_exc()

    vid = doc["video"]["results"]
    peers = {k: v["median_ms"] for k, v in vid.items() if not k.startswith("regress") and k != "skimage"}
    fastest = min(peers, key=peers.get) if peers else None
    img = doc["image"]["results"]
    result = (f"RESULT device={dev} image_regress_ms={img['regress']['median_ms']:.1f} "
              f"image_skimage_ms={img['skimage']['median_ms']:.1f} "
              f"image_speedup_vs_skimage={img['skimage']['median_ms'] / img['regress']['median_ms']:.2f}x "
              f"video_frames={n} video_regress_ms={vid['regress']['median_ms']:.1f} "
              f"video_regress_parity={vid['regress']['parity']:.1e}")
    for sec_name, sec in (("image", img), ("video", vid)):
        if "regress (device)" in sec:
            dev_ms = sec["regress (device)"]["median_ms"]
            best = min((v["median_ms"] for k, v in sec.items() if not k.startswith("regress") and k != "skimage"),
                       default=float("nan"))
            result += f" {sec_name}_regress_device_ms={dev_ms:.3f} {sec_name}_fastest_peer_over_device={best / dev_ms:.2f}x"
    if gpu and "kernel_x_floor" in doc.get("gpu", {}):
        result += f" kernel_x_floor={doc['gpu']['kernel_x_floor']:.1f}"
    if fastest:
        result += (f" fastest_peer={fastest} peer_ms={peers[fastest]:.1f} "
                   f"speedup_vs_fastest_peer={peers[fastest] / vid['regress']['median_ms']:.2f}x")
    if "lpips" in doc:
        best = min(doc["lpips"]["results"].items(), key=lambda kv: kv[1]["median_ms"])
        result += " " + " ".join(f"lpips_{m}_ms={r['median_ms']:.1f}" for m, r in doc["lpips"]["results"].items())
        result += f" lpips_fastest={best[0]}"
    if args.out:
        args.out.write_text(json.dumps(doc, indent=2, default=float))
    print(result)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
