"""LPIPS through the ``lpips`` package: the distance of each frame pair, on the host or on
the device, in memory-bounded chunks.

Why three modules: which backbone file is used and how it was checked is
:mod:`.lpips_weights`; building and caching the model is :mod:`.lpips_model`; this module
computes. Whether a case gates LPIPS, and how a value is judged, is not decided in metrics/
at all but by the judge (:mod:`regress.lpips_policy`). The names of the other two modules that
callers use (``resolve_weights``, ``LpipsWeights``, ``load_model``...) are re-exported here, so
``regress.metrics.lpips`` stays the one entry point of the metric.

Precision: ``fp32`` (default) is exact: TF32 off, the same float32 operations as
``lpips.LPIPS.forward`` (agreement better than 1e-6). On CUDA, ``tf32`` and ``bf16``
(autocast) trade ~1e-3 relative accuracy for 3-5x speed; the mode is recorded with the value.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from .catalog import LPIPS_PRECISIONS
from .lpips_model import device_key, load_model, read_backbone
from .lpips_weights import (NET_LABEL, NETS, STORE_DIR, TORCHVISION_FILES, LpipsError, LpipsWeights, Unavailable,
                            explicit_weights, file_sha256, fix_hint, released_prefix, resolve_weights)

__all__ = [  # computed here, and re-exported from .lpips_weights / .lpips_model for callers
    "CUDNN_BENCHMARK", "MIN_SIDE", "NETS", "NET_LABEL", "PRECISIONS", "STORE_DIR", "TORCHVISION_FILES",
    "LpipsError", "LpipsRequest", "LpipsWeights", "Unavailable", "device_key", "explicit_weights", "file_sha256",
    "fix_hint", "load_model", "lpips_frames", "lpips_of", "lpips_on_device", "read_backbone", "released_prefix",
    "resolve_weights",
]

# Smallest image side each backbone accepts (its pooling stack leaves nothing below this).
MIN_SIDE = {"alex": 31, "vgg": 16, "squeeze": 17}
PRECISIONS = LPIPS_PRECISIONS

# Device bytes per input pixel of a frame pair while the backbone runs (float inputs,
# activations of both frames, normalised features, headroom).
_BYTES_PER_PIXEL = {"alex": 96, "vgg": 1400, "squeeze": 160}
_CHUNK_BYTES = {"cuda": 2 << 30, "cpu": 256 << 20}
# cudnn.benchmark during LPIPS on CUDA: None leaves torch's setting as it is. (Timed in
# benchmarks/bench_metrics.py; it lets cuDNN pick per-shape algorithms, whose float32 results
# may differ in the last bits between algorithms.)
CUDNN_BENCHMARK: bool | None = None


@dataclass(frozen=True)
class LpipsRequest:
    """Compute LPIPS with these (resolved, checked) weights in this precision mode."""

    weights: LpipsWeights
    precision: str = "fp32"


def lpips_frames(a: np.ndarray, b: np.ndarray, weights: LpipsWeights, *, device: str = "cpu",
                 precision: str = "fp32", chunk_bytes: int | None = None) -> np.ndarray:
    """LPIPS of each frame of two uint8 (H, W, 3) images or (T, H, W, 3) videos (float64).

    Equal to ``lpips.LPIPS(net)(x, y)`` with the same weights, inputs scaled to [-1, 1]
    (``normalize=True`` on [0, 1] images), within 1e-6 in ``fp32`` mode. Both inputs go
    through the backbone as one batch; frames are processed in chunks that bound memory.
    """
    from .layout import FramePair

    return lpips_of(FramePair.of(a, b), weights, device=device, precision=precision, chunk_bytes=chunk_bytes)


def lpips_of(pair: Any, weights: LpipsWeights, *, device: str = "cpu", precision: str = "fp32",
             chunk_bytes: int | None = None) -> np.ndarray:
    """:func:`lpips_frames` of a host pair normalised once (:class:`~.layout.FramePair`)."""
    import torch

    from .transfer import stream_frames

    a4, b4 = pair.golden, pair.current
    if a4.dtype != np.uint8 or b4.dtype != np.uint8:
        raise ValueError(f"LPIPS expects uint8 frames, got {a4.dtype} and {b4.dtype}")
    if a4.shape[-1] != 3:
        raise ValueError(f"LPIPS expects RGB frames, got {a4.shape[-1]} channels")
    if precision not in PRECISIONS:
        raise ValueError(f"LPIPS precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")
    dev = torch.device(device)
    return _lpips_chunks(a4.shape, weights, dev, precision, chunk_bytes,
                         lambda chunk: stream_frames([a4, b4], dev, chunk))


def lpips_on_device(*, golden: Any, current: Any, weights: LpipsWeights, precision: str = "fp32",
                    chunk_bytes: int | None = None) -> np.ndarray:
    """:func:`lpips_frames` of uint8 (T, H, W, 3) torch tensors already on one device (a
    GPU run's output and its golden uploaded once: see :mod:`regress.metrics.resident`):
    the chunks are slices of them, nothing crosses host memory. Same model, same batches,
    same arithmetic as from host arrays."""
    import torch

    x, y = golden, current
    if tuple(x.shape) != tuple(y.shape) or x.dim() != 4 or x.device != y.device:
        raise ValueError(f"expected two (T, H, W, 3) tensors of one shape on one device, got {tuple(x.shape)} "
                         f"on {x.device} and {tuple(y.shape)} on {y.device}")
    if x.dtype != torch.uint8 or y.dtype != torch.uint8 or x.shape[-1] != 3:
        raise ValueError(f"LPIPS expects uint8 RGB frames, got {x.dtype} and {y.dtype}, {x.shape[-1]} channels")
    if precision not in PRECISIONS:
        raise ValueError(f"LPIPS precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")
    T = x.shape[0]
    return _lpips_chunks(tuple(x.shape), weights, x.device, precision, chunk_bytes,
                         lambda chunk: ((t0, min(T, t0 + chunk), [x[t0:t0 + chunk], y[t0:t0 + chunk]])
                                        for t0 in range(0, T, chunk)))


def _lpips_chunks(shape: tuple[int, ...], weights: LpipsWeights, dev: Any, precision: str, chunk_bytes: int | None,
                  chunks: Any) -> np.ndarray:
    """LPIPS per frame over ``chunks(frames per chunk)``: (t0, t1, [golden, current]) uint8
    NHWC device tensors, frames per chunk bounded by the device's memory budget."""
    import torch

    T, H, W, _ = shape
    side = MIN_SIDE[weights.net]
    if H < side or W < side:
        raise ValueError(f"frames of {H}x{W} are smaller than LPIPS-{weights.net}'s minimum {side}x{side}")
    model = load_model(weights, str(dev))
    budget = chunk_bytes or _CHUNK_BYTES["cuda" if dev.type == "cuda" else "cpu"]
    per_frame = max(1, H * W * _BYTES_PER_PIXEL[weights.net])
    chunk = max(1, budget // per_frame)
    out = torch.empty(T, dtype=torch.float64, device=dev)
    cuda = dev.type == "cuda"
    with torch.inference_mode(), _precision(dev, precision):
        for t0, t1, (x, y) in chunks(chunk):
            out[t0:t1] = _lpips_batch(model, x, y, channels_last=cuda).to(torch.float64)
    return out.cpu().numpy()


def _lpips_batch(model: Any, x: Any, y: Any, *, channels_last: bool) -> Any:
    """lpips.LPIPS.forward (v0.1, linear heads, spatial average) on uint8 NHWC batches, with
    both inputs in one backbone pass."""
    import torch
    from lpips import normalize_tensor

    n = x.shape[0]
    inp = torch.cat([x, y]).permute(0, 3, 1, 2).to(torch.float32)  # NCHW view, channels-last memory
    if not channels_last:
        inp = inp.contiguous()
    inp = model.scaling_layer(inp / 127.5 - 1.0)
    feats = model.net(inp)
    val = None
    for kk, f in enumerate(feats):
        f0, f1 = normalize_tensor(f[:n]), normalize_tensor(f[n:])
        d = model.lins[kk]((f0 - f1) ** 2).mean([2, 3], keepdim=True)
        val = d if val is None else val + d
    assert val is not None
    return val.reshape(n).float()


@contextlib.contextmanager
def _precision(dev: Any, precision: str) -> Iterator[None]:
    import torch

    if dev.type != "cuda":
        yield
        return
    if CUDNN_BENCHMARK is not None:
        saved_bench = torch.backends.cudnn.benchmark
        torch.backends.cudnn.benchmark = CUDNN_BENCHMARK
        try:
            with _precision_flags(dev, precision):
                yield
        finally:
            torch.backends.cudnn.benchmark = saved_bench
        return
    with _precision_flags(dev, precision):
        yield


@contextlib.contextmanager
def _precision_flags(dev: Any, precision: str) -> Iterator[None]:
    import torch

    from .ssim import _fp32_strict

    if precision == "fp32":
        with _fp32_strict(dev):
            yield
    elif precision == "tf32":
        from ..tf32 import tf32

        with tf32(True):
            yield
    else:
        with torch.autocast("cuda", dtype=torch.bfloat16):
            yield
