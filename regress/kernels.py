"""Kernel-choosing settings that a run can be asked to take (``REGRESS_KERNELS``).

Why: a golden suite must be tried under what *other* legal machines compute, without those
machines: a card or build without flash attention runs SDPA's math kernels, another default
turns TF32 on. ``REGRESS_KERNELS="sdpa=math,tf32=on"`` applies such settings in-process when a
run starts (plugin or CLI), and ``regress calibrate --drift`` runs its GPU variants through it.
CPU kernel paths (oneDNN's ISA, ATen's capability) can only be chosen before torch starts:
they are environment variables of their own (see :mod:`regress.env`), set for a new process.

The settings, declared once:

* ``sdpa=flash|mem_efficient|cudnn|math``: the SDPA backends enabled, e.g. ``sdpa=math`` or
  ``sdpa=flash+math`` (CUDA);
* ``tf32=on|off``: TF32 for cuDNN convolutions and cuBLAS matmuls (CUDA); ``tf32_cudnn`` and
  ``tf32_matmul`` set one of the two;
* ``cudnn_benchmark=on|off``: cuDNN autotuning (CUDA);
* ``threads=N``: torch's intra-op threads (CPU).
"""

from __future__ import annotations

import os
from collections.abc import MutableMapping

from .env import ATEN_CPU_CAPABILITY, DNNL_MAX_CPU_ISA, ONEDNN_MAX_CPU_ISA, REGRESS_KERNELS
from .errors import RegressError

SDPA_BACKENDS = ("flash", "mem_efficient", "cudnn", "math")
SETTINGS = ("sdpa", "tf32", "tf32_cudnn", "tf32_matmul", "cudnn_benchmark", "threads")
_SWITCH = {"on": True, "off": False}
# torch takes a C int; no machine has more cores than this, and a bigger count is a typo.
MAX_THREADS = 4096


def _thread_count(value: str) -> bool:
    """Whether ``value`` is a thread count torch can take. ASCII digits only: ``str.isdigit``
    accepts '²', which ``int`` then refuses; and a count of 10**30 overflows torch's int."""
    return value.isascii() and value.isdecimal() and len(value) <= 5 and 1 <= int(value) <= MAX_THREADS


def parse(text: str) -> dict[str, str]:
    """``"sdpa=math,tf32=on"`` -> {'sdpa': 'math', 'tf32': 'on'}; a bad entry is a usage error
    naming the variable and the entry."""
    out: dict[str, str] = {}
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        name, sep, value = (s.strip() for s in part.partition("="))
        bad = None
        if not sep or name not in SETTINGS:
            bad = f"expected NAME=VALUE with NAME one of {', '.join(SETTINGS)}"
        elif name == "sdpa" and not set(value.split("+")) <= set(SDPA_BACKENDS):
            bad = f"sdpa must be one or more of {', '.join(SDPA_BACKENDS)} (joined by '+')"
        elif name in ("tf32", "tf32_cudnn", "tf32_matmul", "cudnn_benchmark") and value not in _SWITCH:
            bad = f"{name} must be on or off"
        elif name == "threads" and not _thread_count(value):
            bad = f"threads must be a whole number from 1 to {MAX_THREADS}"
        if bad:
            raise RegressError(f"{REGRESS_KERNELS}: {part!r}: {bad}")
        out[name] = value
    return out


def from_env() -> dict[str, str]:
    return parse(os.environ.get(REGRESS_KERNELS, ""))


def apply(settings: dict[str, str]) -> None:
    """Set the torch flags (imports torch; call where a run starts)."""
    if not settings:
        return
    import torch

    b = torch.backends
    if "sdpa" in settings:
        want = set(settings["sdpa"].replace(",", "+").split("+"))  # '+' here; ',' as the identity records it
        b.cuda.enable_flash_sdp("flash" in want)
        b.cuda.enable_mem_efficient_sdp("mem_efficient" in want)
        if hasattr(b.cuda, "enable_cudnn_sdp"):
            b.cuda.enable_cudnn_sdp("cudnn" in want)
        b.cuda.enable_math_sdp("math" in want)
    if "tf32" in settings:
        b.cudnn.allow_tf32 = b.cuda.matmul.allow_tf32 = _SWITCH[settings["tf32"]]
    if "tf32_cudnn" in settings:
        b.cudnn.allow_tf32 = _SWITCH[settings["tf32_cudnn"]]
    if "tf32_matmul" in settings:
        b.cuda.matmul.allow_tf32 = _SWITCH[settings["tf32_matmul"]]
    if "cudnn_benchmark" in settings:
        b.cudnn.benchmark = _SWITCH[settings["cudnn_benchmark"]]
    if "threads" in settings:
        torch.set_num_threads(int(settings["threads"]))


def apply_env() -> None:
    apply(from_env())


# ATen's capabilities below AVX-512, and the oneDNN cap that goes beside them in an emulated path.
CAPPED_ATEN = ("avx2", "default")
ONEDNN_BESIDE_CAPPED_ATEN = "AVX2"


def cap_onednn_beside_aten(environ: MutableMapping[str, str] = os.environ) -> str | None:
    """Where ``ATEN_CPU_CAPABILITY`` caps ATen below AVX-512 and nothing caps oneDNN, cap oneDNN
    at AVX2 too (set in ``environ`` before torch's first op); return the cap set, or None.

    Why: ATen's cap alone on an AMX Xeon is no machine that exists (a CPU without AVX-512 has no
    AMX), and torch's CPU attention raises there (``pack_vnni2 is only supported when avx512 is
    supported``): 6 of the 10 tiny cases errored under ``ATEN_CPU_CAPABILITY=default``. With
    oneDNN capped beside it, the path is the one ``calibrate --drift`` measures (drift_paths.py)
    and all 10 pass. On a CPU without AVX2 the cap changes nothing. A cap the user set is kept.
    """
    if environ.get(ATEN_CPU_CAPABILITY, "").strip().lower() not in CAPPED_ATEN:
        return None
    if environ.get(ONEDNN_MAX_CPU_ISA) or environ.get(DNNL_MAX_CPU_ISA):
        return None
    environ[ONEDNN_MAX_CPU_ISA] = ONEDNN_BESIDE_CAPPED_ATEN
    return ONEDNN_BESIDE_CAPPED_ATEN
