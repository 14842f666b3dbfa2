"""The fused SSIM kernel with and without Triton's size specialisation: what one compile per
variant costs the warm path (regress.metrics.fused_compile). Run twice, once over a copy of the
package whose kernel is specialised again (benchmarks/h100_cold.sh does both in one call):

    python benchmarks/bench_fused_specialise.py LABEL

Prints per shape: the first call (compile or cache load), then the median of 20 device-resident
calls after it, on the same card.
"""

from __future__ import annotations

import statistics
import sys
import time


def main(label: str) -> None:
    import torch

    from regress.metrics import frames

    shapes = {"121x720x1280 video": (121, 720, 1280, 3), "1328x1328 image": (1, 1328, 1328, 3),
              "32x32 image": (1, 32, 32, 3), "17x256x256 video": (17, 256, 256, 3)}
    g = torch.Generator(device="cuda").manual_seed(0)
    for name, shape in shapes.items():
        x = torch.randint(0, 256, shape, dtype=torch.uint8, device="cuda", generator=g)
        y = (x.to(torch.int16) + torch.randint(-3, 4, shape, device="cuda", generator=g, dtype=torch.int16)
             ).clamp(0, 255).to(torch.uint8)
        torch.cuda.synchronize()
        t = time.perf_counter()
        frames.fused_on_device(x, y)
        first = time.perf_counter() - t
        times = []
        for _ in range(20):
            torch.cuda.synchronize()
            t = time.perf_counter()
            frames.fused_on_device(x, y)
            times.append(time.perf_counter() - t)
        print(f"{label}: {name}: first call {first:.2f} s, then median {statistics.median(times) * 1e3:.3f} ms")


if __name__ == "__main__":
    main(sys.argv[1])
