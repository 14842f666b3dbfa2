"""Dtypes: where each component lives, and what crosses between components and out of a call.

The precision table is applied here and nowhere else: each component is cast to its dtype, and
a component whose dtype differs from the family's default takes its inputs in its own dtype.
Values leaving a call (stage checkpoints, waveforms) are copied as float32 numpy.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch

from ..precision import to_torch_dtype
from .observation import nn_components


def place(pipe: Any, table: Mapping[str, str], device: str) -> None:
    """Cast each tabled component to its dtype and move every module to ``device``."""
    for name, component in nn_components(pipe).items():
        dtype = to_torch_dtype(table[name]) if name in table else None
        component.to(device=device, dtype=dtype)


def cast_at_boundaries(pipe: Any, table: Mapping[str, str], defaults: Mapping[str, str], *,
                       skip: tuple[str, ...] = ()) -> tuple[str, ...]:
    """Let a component run in a dtype its neighbours do not produce or expect, as an engine with
    per-component precision does: once any component's dtype differs from the family's
    default, every component takes its floating-point inputs in its own dtype (a forward
    pre-hook), so what a stage hands on is cast to what the next stage expects where that stage
    begins, whether the tensor comes from a module or from the pipeline's own code (which also
    casts between stages, e.g. ``prompt_embeds.to(self.text_encoder.dtype)``). Outputs are not
    cast: an all-fp32 assignment stays fp32 end to end. A default run gets no hooks and is
    exactly what it was. Without this, 30 of the 58 single-component flips of the tiny
    families stop with "mat1 and mat2 must have the same dtype" and are never judged.
    Returns the components whose dtype was changed."""
    cast: list[str] = []
    components = nn_components(pipe)
    flipped = {n for n, d in table.items() if d != defaults.get(n) and n in components and n not in skip}
    if not flipped:
        return ()
    for name, dtype_name in table.items():
        module = components.get(name)
        if module is None or name in skip:
            continue
        # Every component takes its inputs in its own dtype: pipelines also cast between the
        # stages themselves (``prompt_embeds.to(self.text_encoder.dtype)``), so the neighbours
        # of a flipped component see its dtype, not the default one.
        inner = to_torch_dtype(dtype_name)
        module.register_forward_pre_hook(
            lambda _m, args, kwargs, dt=inner: (_cast_tree(args, dt), _cast_tree(kwargs, dt)), with_kwargs=True)
        if name in flipped:
            cast.append(name)
    return tuple(cast)


def _cast_tree(x: Any, dtype: Any) -> Any:
    """``x`` with every floating-point tensor in it (tuples, lists, dicts, model outputs) cast."""
    if torch.is_tensor(x):
        return x.to(dtype) if x.is_floating_point() and x.dtype != dtype else x
    if isinstance(x, tuple) and not hasattr(x, "_fields"):
        return tuple(_cast_tree(v, dtype) for v in x)
    if isinstance(x, list):
        return [_cast_tree(v, dtype) for v in x]
    if isinstance(x, dict):  # plain dicts and transformers' / diffusers' ModelOutput (an OrderedDict)
        for k in list(x.keys()):
            x[k] = _cast_tree(x[k], dtype)
        return x
    return x


def float32_copy(t: Any) -> Any:
    """A float32 numpy copy of a tensor, made by numpy: on the CPU no torch allocation happens,
    so the profiler's peak memory (the memory gate) does not see the recording."""
    import numpy as np

    t = t.detach()
    if t.device.type != "cpu":
        t = t.cpu()  # host memory; the CUDA peak is the device allocator's
    if t.dtype == torch.bfloat16:  # numpy has no bf16: widen its bits (bf16 is float32's top half)
        bits = t.contiguous().view(torch.int16).numpy().astype(np.int32)
        return (bits << 16).view(np.float32).reshape(tuple(t.shape)).copy()
    return np.array(t.contiguous().numpy(), dtype=np.float32, copy=True)


def quantise_on_device(frames: Any) -> tuple[Any, int]:
    """A (C, H, W) image or (T, C, H, W) video float tensor in [0, 1] to (H, W, C) / (T, H, W, C)
    uint8 on the same device, with its non-finite count: :func:`regress.outputs.to_uint8`'s
    arithmetic (one float32 multiply, clip, round half to even), so bit for bit the numpy path.
    The host then receives a quarter of the float32 bytes, and the device keeps the frames the
    metrics read (:meth:`regress.outputs.Output.keep_on_device`)."""
    x = frames.detach().float()
    bad = int(x.numel() - torch.isfinite(x).sum().item())
    if bad:
        x = torch.nan_to_num(x, nan=0.0, posinf=1.0, neginf=0.0)
    q = (x * 255.0).clamp_(0.0, 255.0).round_().to(torch.uint8)
    return q.movedim(-3, -1).contiguous(), bad


def pixels_to_uint8(x: Any) -> tuple[Any, Any, int]:
    """One pixel track as the pipeline returned it (a tensor from output_type "pt", or float
    numpy) -> (host uint8 frames, their device copy when ``x`` is a CUDA tensor else None,
    non-finite count)."""
    if not torch.is_tensor(x):
        from ..outputs import to_uint8

        host, bad = to_uint8(x)
        return host, None, bad
    q, bad = quantise_on_device(x)
    return q.cpu().numpy(), (q if q.is_cuda else None), bad


def to_float32_audio(x: Any) -> tuple[Any, int]:
    """A waveform (tensor or array, channels x samples) as float32 numpy, counting NaN/Inf.

    Unlike pixels, samples are stored as they are (lossless): NaN stays NaN, so the
    metrics propagate it and the verdict fails on the count."""
    import numpy as np

    if torch.is_tensor(x):
        x = x.detach().float().cpu().numpy()
    a = np.ascontiguousarray(np.asarray(x, dtype=np.float32))
    if a.ndim == 1:
        a = a[None, :]
    bad = int(a.size - np.count_nonzero(np.isfinite(a)))
    return a, bad
