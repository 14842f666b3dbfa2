"""The process around a pipeline call: quiet libraries, warmed-up GPU libraries, seeded generators.

What every family does before it builds or calls a pipeline, so that neither the log nor the
first case's memory nor the noise depends on which case ran first.
"""

from __future__ import annotations

import torch

_WARM: set[str] = set()


def warm_up_device(device: str) -> None:
    """Create the GPU libraries' lazily allocated state before anything is measured.

    cuBLAS / cuBLASLt allocate a persistent workspace per handle on their first call, through
    the caching allocator. Without this, whichever case runs first in a process has its peak
    memory inflated by tens of MiB, so a golden made with one case order fails the memory gate
    under another (``-k``, shards). One tiny matmul, linear and convolution per dtype does it.
    """
    dev = torch.device(device)
    if dev.type != "cuda" or str(dev) in _WARM:
        return
    import torch.nn.functional as F

    with torch.no_grad():
        for dtype in (torch.float32, torch.bfloat16, torch.float16):
            x = torch.ones(64, 64, device=dev, dtype=dtype)
            _ = x @ x
            _ = F.linear(x, x, x[0])
            img = torch.ones(1, 8, 16, 16, device=dev, dtype=dtype)
            _ = F.conv2d(img, torch.ones(8, 8, 3, 3, device=dev, dtype=dtype), padding=1)
            _ = F.scaled_dot_product_attention(img[:, :2], img[:, :2], img[:, :2])
            vol = torch.ones(1, 4, 4, 8, 8, device=dev, dtype=dtype)
            _ = F.conv3d(vol, torch.ones(4, 4, 3, 3, 3, device=dev, dtype=dtype), padding=1)
    torch.cuda.synchronize(dev)
    _WARM.add(str(dev))


def quiet_libraries() -> None:
    """diffusers and transformers log advice on every cast and call ("modules that should be
    kept in float32", "negative_prompt is passed but..."); in a golden run it is noise that
    buries the verdict. Errors still show. Progress bars (checkpoint downloads, component
    loading) go too: they interleave with pytest's output and say nothing a verdict needs."""
    from diffusers.utils import logging as dlog
    from huggingface_hub.utils import disable_progress_bars
    from transformers.utils import logging as tlog

    dlog.set_verbosity_error()
    tlog.set_verbosity_error()
    dlog.disable_progress_bar()
    tlog.disable_progress_bar()
    disable_progress_bars()


def seed_defaults(seed: int, device: str) -> None:
    """Seed the default generators a call can draw from without the case's generator: the
    CPU's and the run device's. What ``torch.manual_seed`` gives a single-device run, without
    its walk over every backend (all CUDA devices, MPS, XPU, custom devices): 0.26 ms per
    case on the 2-core CPU machine, a visible share of the per-case overhead."""
    torch.default_generator.manual_seed(seed)
    dev = torch.device(device)
    if dev.type == "cuda":
        index = dev.index if dev.index is not None else torch.cuda.current_device()
        torch.cuda.default_generators[index].manual_seed(seed)  # ROCm too (same API)
    elif dev.type != "cpu":
        torch.manual_seed(seed)  # another backend: every default generator, as torch does it
