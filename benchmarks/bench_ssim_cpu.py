"""SSIM on CPU: regress ``ssim_frames`` against ``skimage.metrics.structural_similarity``.

A 1024x1024 RGB pair (skimage's astronaut tiled 2x2, the copy with Gaussian noise of
sigma 10), the same settings on both sides (Gaussian sigma 1.5, 11 taps, population
covariance, data_range 255, channel_axis -1). The two are timed in the same run and
interleaved, so that background load on a shared machine hits both alike; each median is
over 5 calls after one warm-up call. regress runs with its default CPU thread policy
(``regress.metrics.ssim.CPU_THREADS``, one thread); an informational line also times it
with torch's own thread count. Background CPU use (other processes) is sampled and
printed, because torch's OpenMP threads slow down far more than single-threaded scipy when
another process competes for the cores.

    python benchmarks/bench_ssim_cpu.py [--repeats 5]

The last line is machine-readable:
``RESULT ssim_cpu_1024 regress_ms=... skimage_ms=... speedup=...x``.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def cpu_busy(seconds: float = 0.3) -> float | None:
    """Fraction of all CPUs busy over ``seconds`` (Linux /proc/stat), or None."""
    def read() -> tuple[int, int]:
        with open("/proc/stat") as f:
            v = [int(x) for x in f.readline().split()[1:]]
        return v[3] + v[4], sum(v)

    try:
        i0, t0 = read()
        time.sleep(seconds)
        i1, t1 = read()
    except OSError:
        return None
    return 1.0 - (i1 - i0) / max(1, t1 - t0)


def cpu_model() -> str:
    """platform.processor() is often empty on Linux; /proc/cpuinfo names the model."""
    name = platform.processor()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return name or "?"


def make_pair() -> tuple[np.ndarray, np.ndarray]:
    from skimage import data

    a = np.ascontiguousarray(np.tile(data.astronaut(), (2, 2, 1)))  # 1024x1024x3 uint8
    rng = np.random.default_rng(0)
    b = np.clip(np.rint(a + rng.normal(0.0, 10.0, a.shape)), 0, 255).astype(np.uint8)
    return a, b


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()

    import torch
    from skimage.metrics import structural_similarity

    from regress.metrics import ssim as ssim_mod
    from regress.metrics.ssim import ssim_frames

    a, b = make_pair()
    default_threads = ssim_mod.CPU_THREADS

    def ours() -> float:
        return float(ssim_frames(a, b)[0])

    def ours_all_threads() -> float:
        ssim_mod.CPU_THREADS = None  # informational: torch's own thread setting
        try:
            return float(ssim_frames(a, b)[0])
        finally:
            ssim_mod.CPU_THREADS = default_threads

    def theirs() -> float:
        return float(structural_similarity(a, b, gaussian_weights=True, sigma=1.5,
                                           use_sample_covariance=False, data_range=255, channel_axis=-1))

    print(f"machine: {platform.machine()} processor={cpu_model()!r} "
          f"cpu_count={os.cpu_count()} torch_threads={torch.get_num_threads()} "
          f"ssim_cpu_threads={default_threads} torch={torch.__version__} numpy={np.__version__}")
    print(f"input: {a.shape} {a.dtype} pair (astronaut tiled 2x2, + N(0, 10) noise)")
    busy_before = cpu_busy()
    value, ref = ours(), theirs()  # warm-up (oneDNN builds its kernels on the first call)
    ours_all_threads()
    t_ours: list[float] = []
    t_theirs: list[float] = []
    t_all: list[float] = []
    for _ in range(args.repeats):
        for fn, times in ((ours, t_ours), (theirs, t_theirs), (ours_all_threads, t_all)):
            t = time.perf_counter()
            fn()
            times.append(time.perf_counter() - t)
    busy_after = cpu_busy()
    ours_ms = statistics.median(t_ours) * 1e3
    theirs_ms = statistics.median(t_theirs) * 1e3
    all_ms = statistics.median(t_all) * 1e3
    err = abs(value - ref)

    def pct(x: float | None) -> str:
        return "?" if x is None else f"{100 * x:.0f}%"

    print(f"background cpu busy: before {pct(busy_before)}, after {pct(busy_after)}")
    print(f"regress ssim_frames : median {ours_ms:8.1f} ms  (runs: {', '.join(f'{t * 1e3:.0f}' for t in t_ours)})")
    print(f"skimage SSIM        : median {theirs_ms:8.1f} ms  (runs: {', '.join(f'{t * 1e3:.0f}' for t in t_theirs)})")
    print(f"(info) regress with torch's {torch.get_num_threads()} threads: median {all_ms:.1f} ms  "
          f"(runs: {', '.join(f'{t * 1e3:.0f}' for t in t_all)})")
    print(f"speedup             : {theirs_ms / ours_ms:.2f}x")
    print(f"ssim regress={value:.10f} skimage={ref:.10f} |diff|={err:.2e}")
    print(f"RESULT ssim_cpu_1024 regress_ms={ours_ms:.1f} skimage_ms={theirs_ms:.1f} "
          f"speedup={theirs_ms / ours_ms:.2f}x")
    return 0 if err < 1e-5 else 1


if __name__ == "__main__":
    raise SystemExit(main())
