"""What a built pipeline is, observed rather than asked for: the precision fingerprint, the
resident bytes of its weights, and the versions and settings that produced an output.

The fingerprint is read from the parameters after the build, for every ``nn.Module``
component, so that a default flipping inside diffusers shows up in a golden's provenance.
"""

from __future__ import annotations

import functools
import platform
from typing import Any

import torch

from ..precision import observed_dtype
from ..probe import attention_backends


class TensorWalk:
    """Each ``nn.Module`` component's (parameters, buffers), kept per component object.

    Walking the module trees costs ~1 ms per tiny pipeline on the H100 host, so the lists are
    walked again only when a component is replaced. A cast (``.to(dtype)``, a pipeline
    upcasting its VAE inside the call) changes the dtype of the same parameter objects, so it
    is always seen; a parameter object replaced inside a component after the first call would
    not be (no pipeline does)."""

    def __init__(self) -> None:
        self._key: dict[str, int] | None = None
        self._tensors: list[tuple[str, list[Any], list[Any]]] = []

    def components(self, pipe: Any) -> list[tuple[str, list[Any], list[Any]]]:
        modules = nn_components(pipe)
        key = {name: id(c) for name, c in modules.items()}
        if key != self._key:
            self._key, self._tensors = key, [(name, *_module_tensors(c)) for name, c in modules.items()]
        return self._tensors


def observe(pipe: Any, walk: TensorWalk | None = None,
            weights: dict[str, int] | None = None) -> tuple[dict[str, str], int]:
    """The fingerprint and the resident bytes of a pipeline in one walk over its tensors.

    Fingerprint: the observed dtype of each ``nn.Module`` component's floating parameters
    (buffers when it has none): what actually ran, not what was asked for. Resident bytes:
    what the components' parameters and buffers hold (the memory baseline). ``walk`` keeps
    the tensor lists between calls (see :class:`TensorWalk`); without one they are walked afresh.
    ``weights``, when given, receives the resident bytes per component (at production size the
    memory verdict names the component whose weights moved).
    """
    fp: dict[str, str] = {}
    total = 0
    for name, params, buffers in (walk or TensorWalk()).components(pipe):
        held = sum(t.nbytes for t in params) + sum(t.nbytes for t in buffers)
        total += held
        if weights is not None:
            weights[name] = held
        floats = {d for d in {t.dtype for t in params} if d.is_floating_point}
        if not floats:
            floats = {d for d in {t.dtype for t in buffers} if d.is_floating_point}
        fp[name] = observed_dtype(floats)
    return fp, total


def nn_components(pipe: Any) -> dict[str, Any]:
    """The pipeline's ``nn.Module`` components by name.

    Read from the pipeline's registered config keys and its instance attributes rather than
    ``pipe.components``, which inspects the class's ``__init__`` signature on every access
    (~30 us, twice per case) to validate what this reads directly. Not ``getattr``: for a key
    that is plain config (``requires_safety_checker``, ``expand_timesteps``) diffusers'
    ``__getattr__`` answers with a FutureWarning, which pytest would collect on every case."""
    config = getattr(pipe, "config", None)
    if config is None:
        return {n: c for n, c in pipe.components.items() if isinstance(c, torch.nn.Module)}
    attrs = vars(pipe)  # register_modules sets each component as an instance attribute
    out = {}
    for name in config.keys():
        c = attrs.get(name)
        if isinstance(c, torch.nn.Module):
            out[name] = c
    return out


def _module_tensors(root: Any) -> tuple[list[Any], list[Any]]:
    """The distinct parameters and buffers of a module tree: the sets ``parameters()`` and
    ``buffers()`` give, from one iterative pass over ``_modules`` / ``_parameters`` /
    ``_buffers``. Tensors are collected into dicts keyed by ``id`` (a shared tensor is kept
    once, a ``None`` slot falls out at the end), so the loop has no per-tensor branch, and
    modules' empty tensor dicts are skipped: 1.2 ms for the tiny suite's eight pipelines
    against 2.5 ms for a set-checked loop (2-core CPU machine). It runs once per freshly built
    pipeline."""
    params: dict[int, Any] = {}
    buffers: dict[int, Any] = {}
    seen = {id(root), id(None)}  # an unset submodule slot holds None
    stack = [root]
    while stack:
        m = stack.pop()
        if m._parameters:  # most modules hold no tensors of their own: skip the empty dicts
            for t in m._parameters.values():
                params[id(t)] = t
        if m._buffers:
            for t in m._buffers.values():
                buffers[id(t)] = t
        if m._modules:
            for c in m._modules.values():
                if id(c) not in seen:  # a module shared by two parents is walked once
                    seen.add(id(c))
                    stack.append(c)
    params.pop(id(None), None)
    buffers.pop(id(None), None)
    return list(params.values()), list(buffers.values())


def fingerprint(pipe: Any) -> dict[str, str]:
    """Observed dtype of each component (see :func:`observe`)."""
    return observe(pipe)[0]


def versions(device: str) -> dict[str, str]:
    """Library versions and the device name, for a golden's provenance (read once per device;
    the settings that can change within a process are :func:`precision_settings`)."""
    return dict(_fixed_versions(device))


@functools.lru_cache(maxsize=None)
def _fixed_versions(device: str) -> tuple[tuple[str, str], ...]:
    """What cannot change within a process (read once per device)."""
    import diffusers
    import transformers

    out = {"torch": torch.__version__, "diffusers": diffusers.__version__,
           "transformers": transformers.__version__, "device": device_name(device)}
    if torch.device(device).type == "cuda" and torch.version.cuda:
        out["cuda"] = str(torch.version.cuda)
    if torch.device(device).type == "cuda" and getattr(torch.version, "hip", None):
        out["hip"] = str(torch.version.hip)
    return tuple(out.items())


# Core math ops whose replacement changes numerics (besides every torch.nn.functional callable).
_TORCH_OPS = ("matmul", "mm", "bmm", "baddbmm", "addmm", "einsum", "softmax", "layer_norm", "group_norm",
              "conv2d", "conv3d", "randn", "randn_like", "rand", "lerp", "exp", "sigmoid", "tanh")


def precision_settings(device: str) -> dict[str, str]:
    """The process settings that decide how this run computes (see :mod:`regress.settings`).

    Measured on an H100: ``cudnn.benchmark=True`` for a whole run moved qwen-image and z-image
    to SSIM 0.9994-0.9999 and the decode peak of sd-tiny from 0.26 to 2.56 MiB; TF32 or SDPA's
    math backend moved every tiny case. On the AMX Xeon, ``set_float32_matmul_precision("medium")``
    sets oneDNN's fp32 matmuls to bf16. Cheap (attribute reads and one scan of
    ``torch.nn.functional``): read at the run's start and at each stage's."""
    b = torch.backends
    dev = torch.device(device).type
    out = {"float32_matmul_precision": torch.get_float32_matmul_precision(),
           "deterministic_algorithms": str(torch.are_deterministic_algorithms_enabled()),
           "sdpa.backends": attention_backends(),  # global switches: the CPU's flash kernel obeys them too
           "autocast": _autocast(dev),
           "functions.replaced": ",".join(replaced_functions()) or "none"}
    if dev == "cuda":
        m = b.cuda.matmul
        out.update({"cuda.matmul.allow_tf32": str(m.allow_tf32), "cudnn.allow_tf32": str(b.cudnn.allow_tf32),
                    "cuda.matmul.allow_bf16_reduced_precision_reduction": str(m.allow_bf16_reduced_precision_reduction),
                    "cuda.matmul.allow_fp16_reduced_precision_reduction": str(m.allow_fp16_reduced_precision_reduction),
                    "cudnn.benchmark": str(b.cudnn.benchmark), "cudnn.deterministic": str(b.cudnn.deterministic)})
    elif dev == "cpu":
        for name in ("matmul", "conv"):
            obj = getattr(getattr(b, "mkldnn", None), name, None)
            if obj is not None and hasattr(obj, "fp32_precision"):
                out[f"mkldnn.{name}.fp32_precision"] = _effective_fp32(str(obj.fp32_precision), matmul=name == "matmul")
    return out


_LEGACY_FP32 = {"highest": "ieee", "high": "tf32", "medium": "bf16"}


def _effective_fp32(value: str, *, matmul: bool) -> str:
    """torch >= 2.9's per-backend fp32 precision as it takes effect: 'none' inherits the global
    one, which inherits ``float32_matmul_precision`` for matmuls (so that an engine calling
    ``set_float32_matmul_precision("highest")``, which writes 'ieee', changes nothing)."""
    if value != "none":
        return value
    glob = str(getattr(torch.backends, "fp32_precision", "none"))
    if glob != "none":
        return glob
    return _LEGACY_FP32.get(torch.get_float32_matmul_precision(), "ieee") if matmul else "ieee"


def _autocast(device_type: str) -> str:
    if not torch.is_autocast_enabled(device_type):
        return "off"
    return f"{device_type}:{str(torch.get_autocast_dtype(device_type)).removeprefix('torch.')}"


@functools.lru_cache(maxsize=1)
def _torch_dir() -> str:
    import os

    return os.path.dirname(os.path.abspath(torch.__file__)) + os.sep


def _is_torchs(fn: Any) -> bool:
    """Whether ``fn`` is torch's own: a builtin, or Python code inside torch's package that is
    not a wrapper around something else (``functools.wraps`` keeps the name, not the code)."""
    if type(fn).__name__ in ("builtin_function_or_method", "method_descriptor", "wrapper_descriptor"):
        return True
    code = getattr(fn, "__code__", None)
    if code is not None:
        return code.co_filename.startswith(_torch_dir())
    return isinstance(fn, type) or type(fn).__module__.startswith("torch")


def replaced_functions() -> list[str]:
    """Names of torch functions that are not torch's own any more (a wrapped
    ``scaled_dot_product_attention``, a patched ``layer_norm``), as the code under test left them."""
    import torch.nn.functional as F

    out = [f"F.{name}" for name, fn in vars(F).items()
           if not name.startswith("_") and callable(fn) and not isinstance(fn, type(F))
           and type(fn).__module__ != "typing" and not _is_torchs(fn)]
    out += [f"torch.{name}" for name in _TORCH_OPS if hasattr(torch, name) and not _is_torchs(getattr(torch, name))]
    return sorted(out)


def device_name(device: str) -> str:
    dev = torch.device(device)
    if dev.type == "cuda":
        return torch.cuda.get_device_name(dev)
    if dev.type == "cpu":
        try:
            with open("/proc/cpuinfo", encoding="utf-8") as f:
                for line in f:
                    if line.startswith("model name"):
                        return line.split(":", 1)[1].strip()
        except OSError:
            pass
        return platform.processor() or "cpu"
    return dev.type
