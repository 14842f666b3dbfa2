"""LPIPS (AlexNet) on a video pair against its compute floor, on the GPU (or the CPU).

The floor: the backbone's multiply-adds on both videos (counted from the convolutions' shapes
as they run, 2 FLOPs each) divided by the rate this card reaches on a large float32 matrix
product with TF32 off (cuBLAS SGEMM, measured in the same run): the time an fp32-exact LPIPS
could take if every convolution ran as fast as the best fp32 GEMM. The same count over the
bf16 / TF32 GEMM rates gives the floors of those modes.

Per mode (fp32, tf32, bf16; with cuDNN's autotuner off and on): the median time of
``lpips_on_device`` on uint8 frames already on the GPU, its ratio to the floor, and the largest
deviation from fp32; fp32 also against ``lpips.LPIPS`` itself on two frames. Weights are a
*seeded random* AlexNet (benchmarks/bench_metrics.py): the time is the network's, the values
mean nothing perceptually. ``--profile`` prints the top CUDA kernels of one fp32 call.

    python benchmarks/bench_lpips_floor.py [--frames 121] [--height 720] [--width 1280] [--profile]
    python benchmarks/bench_lpips_floor.py --device cpu --frames 9 --height 64 --width 64

On the CPU the floor is the fp32 SGEMM rate (TF32 and bf16 modes are CUDA-only) on a 2048^3
product, with the process's threads.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np


def gemm_rate(dtype: str, n: int = 8192, device: str = "cuda") -> float:
    """FLOP/s of an n x n x n matrix product in ``dtype`` ("fp32" with TF32 off, "tf32", "bf16")."""
    import torch

    dt = torch.bfloat16 if dtype == "bf16" else torch.float32
    a = torch.randn(n, n, device=device, dtype=dt)
    b = torch.randn(n, n, device=device, dtype=dt)
    old = torch.backends.cuda.matmul.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = dtype == "tf32"
    try:
        for _ in range(3):
            a @ b
        sync(device)
        times = []
        for _ in range(5):
            t = time.perf_counter()
            a @ b
            sync(device)
            times.append(time.perf_counter() - t)
    finally:
        torch.backends.cuda.matmul.allow_tf32 = old
    return 2 * n**3 / min(times)


def conv_flops(model, x) -> float:  # noqa: ANN001
    """2 x the multiply-adds of every Conv2d of the backbone on ``x`` (counted by hooks)."""
    import torch

    total = [0.0]

    def hook(mod, _inp, out):  # noqa: ANN001, ANN202
        k = mod.weight.shape[1] * mod.weight.shape[2] * mod.weight.shape[3]
        total[0] += 2.0 * out.numel() * k

    hooks = [m.register_forward_hook(hook) for m in model.net.modules() if isinstance(m, torch.nn.Conv2d)]
    try:
        with torch.inference_mode():
            model.net(x)
    finally:
        for h in hooks:
            h.remove()
    return total[0]


def sync(device: str) -> None:
    import torch

    if device.startswith("cuda"):
        torch.cuda.synchronize()


def timed(fn, repeats: int, device: str = "cuda") -> tuple[float, object]:  # noqa: ANN001
    out = fn()
    sync(device)
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        out = fn()
        sync(device)
        times.append(time.perf_counter() - t)
    return statistics.median(times), out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--frames", type=int, default=121)
    ap.add_argument("--height", type=int, default=720)
    ap.add_argument("--width", type=int, default=1280)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--profile", action="store_true")
    ap.add_argument("--device", default="cuda")
    args = ap.parse_args()
    import torch

    from regress.metrics import lpips as L

    import bench_metrics as bm  # noqa: E402  (benchmarks/ is on sys.path when run as a script)

    dev = args.device
    cuda = dev.startswith("cuda")
    import platform as _platform

    name = torch.cuda.get_device_name(0) if cuda else f"CPU {_platform.processor() or _platform.machine()}, {torch.get_num_threads()} threads"
    print(f"device: {name}, torch {torch.__version__}")
    T, H, W = args.frames, args.height, args.width
    g = torch.Generator(device=dev).manual_seed(0)
    x = torch.randint(0, 256, (T, H, W, 3), dtype=torch.uint8, device=dev, generator=g)
    noise = torch.randint(-3, 4, (T, H, W, 3), device=dev, generator=g, dtype=torch.int16)
    y = (x.to(torch.int16) + noise).clamp(0, 255).to(torch.uint8)
    with tempfile.TemporaryDirectory() as tmp:
        w = L.resolve_weights("alex", environ={"REGRESS_LPIPS_WEIGHTS": str(bm.seeded_alexnet_file(Path(tmp)))})
        model = L.load_model(w, dev)
        probe = torch.zeros(2, 3, H, W, device=dev)
        flops = conv_flops(model, probe) / 2 * (2 * T)  # both videos, every frame
        modes = ("fp32", "tf32", "bf16") if cuda else ("fp32",)
        rates = {m: gemm_rate(m, 8192 if cuda else 2048, dev) for m in modes}
        n = 8192 if cuda else 2048
        print(f"pair {T}x{H}x{W}: backbone {flops / 1e9:.2f} GFLOP; GEMM rates ({n}^3): "
              + ", ".join(f"{m} {r / 1e12:.1f} TFLOP/s" for m, r in rates.items()))
        floors = {m: flops / r for m, r in rates.items()}
        print("floors: " + ", ".join(f"{m} {f * 1e3:.1f} ms" for m, f in floors.items()))
        ref = None
        print("| mode | cudnn autotune | median ms | x floor (same mode) | x fp32 floor | max abs dev vs fp32 |")
        print("| --- | --- | ---: | ---: | ---: | ---: |")
        for mode in modes:
            for bench in (False, True) if cuda else (False,):
                L.CUDNN_BENCHMARK = bench or None
                try:
                    ms, out = timed(lambda m=mode: L.lpips_on_device(golden=x, current=y, weights=w, precision=m),
                                    args.repeats, dev)
                finally:
                    L.CUDNN_BENCHMARK = None
                out = np.asarray(out)
                if ref is None:
                    ref = out
                dev_abs = float(np.max(np.abs(out - ref)))
                print(f"| {mode} | {'on' if bench else 'off'} | {ms * 1e3:.1f} | {ms / floors[mode]:.2f} | "
                      f"{ms / floors['fp32']:.2f} | {dev_abs:.1e} |")
        idx = [0, T - 1]
        with torch.inference_mode(), L._precision(torch.device(dev), "fp32"):
            pkg = [float(model(x[i].permute(2, 0, 1)[None].float() / 255, y[i].permute(2, 0, 1)[None].float() / 255,
                               normalize=True).item()) for i in idx]
        print(f"fp32 vs lpips.LPIPS on frames {idx}: {max(abs(ref[i] - p) for i, p in zip(idx, pkg, strict=True)):.1e}")
        if args.profile and cuda:
            from torch.profiler import ProfilerActivity, profile

            with profile(activities=[ProfilerActivity.CUDA]) as prof:
                L.lpips_on_device(golden=x, current=y, weights=w, precision="fp32")
                torch.cuda.synchronize()
            print(prof.key_averages().table(sort_by="cuda_time_total", row_limit=14))


if __name__ == "__main__":
    main()
