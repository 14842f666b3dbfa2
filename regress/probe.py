"""The kernel probe and the installed half of a numerics identity (imports torch).

The probe is a fixed set of small seeded ops per dtype (fp32, bf16, fp16), run on the
device under test, with one sha256 digest of each op's output bytes. Two machines whose
probes agree pick the same kernels for the ops diffusion pipelines are made of; one op that
differs names the kernel family that moved. The shapes are chosen from measurement on the
development CPUs (2026-11-26, torch 2.14.1):

* bf16 matmuls with K >= 96 and convolutions with 32+ input channels separate oneDNN's AMX
  kernels from its AVX512-BF16 ones, and AVX512-BF16 from plain AVX512 (K = 512); K = 64
  did not (every path gave the same bits);
* fp16 matmul and conv separate the avx512_fp16 kernels of an AMX Xeon from the rest;
* SDPA separates ATen's AVX2 kernels from its AVX512 ones (fp32 and bf16), and on the GPU
  flash / memory-efficient / cuDNN / math attention;
* matmuls of 128x1024x128 and larger were *thread-count dependent* on the CPU (oneDNN
  splits K across threads): they are left out, so that a probe is a property of the
  machine and not of ``OMP_NUM_THREADS``.

Where it runs and how its result is kept: :mod:`regress.probing` (a clean process, cached
per machine); this module is what runs there. ``benchmarks/bench_probe.py`` measures both.
"""

from __future__ import annotations

import functools
import hashlib
import os
import platform as _pyplatform
import time
from collections.abc import Callable
from typing import Any

from .env import DNNL_MAX_CPU_ISA, ONEDNN_MAX_CPU_ISA

PROBE_VERSION = "1"
DTYPES = ("fp32", "bf16", "fp16")

# CPU feature flags (from /proc/cpuinfo) that make oneDNN or ATen pick other kernels.
ISA_FLAGS = ("avx2", "avx512f", "avx512_vnni", "avx512_bf16", "avx512_fp16", "amx_tile", "amx_bf16", "amx_fp16",
             "avx_vnni", "sve", "asimd")

# oneDNN's ISA names (ONEDNN_MAX_CPU_ISA) by rank; a cap lowers what the CPU offers.
_ONEDNN_RANK = {"SSE41": 1, "AVX": 2, "AVX2": 3, "AVX2_VNNI": 4, "AVX2_VNNI_2": 5, "AVX512_CORE": 6,
                "AVX512_CORE_VNNI": 7, "AVX512_CORE_BF16": 8, "AVX512_CORE_FP16": 9, "AVX10_1_512": 9,
                "AVX512_CORE_AMX": 10, "AVX512_CORE_AMX_FP16": 11, "AVX10_1_512_AMX": 11,
                "AVX10_1_512_AMX_FP16": 12, "AVX10_2_512": 13, "AVX10_2_512_AMX_2": 14, "ALL": 99, "DEFAULT": 99}



def onednn_cap() -> str:
    """The oneDNN ISA cap this process runs under ('ALL' when none is set)."""
    return (os.environ.get(ONEDNN_MAX_CPU_ISA) or os.environ.get(DNNL_MAX_CPU_ISA) or "ALL").strip().upper()


def cpu_tier(*, flags: set[str] | frozenset[str], aten_capability: str, cap: str = "ALL") -> str:
    """The CPU part of a platform key: what computes differently on a CPU.

    ATen's own vector kernels follow ``aten_capability`` (AVX2 vs AVX512); oneDNN's (matmul,
    convolution) follow the CPU's flags under the ISA cap: AMX, AVX512 with native fp16,
    AVX512 with native bf16, or plain AVX512 emulating bf16. Each tier gave other bf16/fp16
    bits on the development machines (see DESIGN.md, platform identity)."""
    aten = (aten_capability or "default").lower()
    if aten != "avx512":
        return aten
    rank = _ONEDNN_RANK.get(cap.upper(), 99)
    if "amx_bf16" in flags and rank >= _ONEDNN_RANK["AVX512_CORE_AMX"]:
        return "amx"
    if "avx512_fp16" in flags and rank >= _ONEDNN_RANK["AVX512_CORE_FP16"]:
        return "avx512fp16"
    if "avx512_bf16" in flags and rank >= _ONEDNN_RANK["AVX512_CORE_BF16"]:
        return "avx512bf16"
    return "avx512"


def cpu_info() -> dict[str, str]:
    """Vendor, model and the kernel-picking ISA flags of this CPU (Linux: /proc/cpuinfo)."""
    out = {"cpu.vendor": "unknown", "cpu.model": _pyplatform.processor() or _pyplatform.machine(), "cpu.isa": ""}
    flags: set[str] = set()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                key, _, value = line.partition(":")
                key, value = key.strip(), value.strip()
                if key == "vendor_id":
                    out["cpu.vendor"] = value
                elif key == "model name":
                    out["cpu.model"] = value
                elif key in ("flags", "Features") and not flags:
                    flags = set(value.split())
                elif not line.strip() and flags:
                    break
    except OSError:
        pass
    out["cpu.isa"] = " ".join(f for f in ISA_FLAGS if f in flags)
    return out


def cpu_flags() -> frozenset[str]:
    return frozenset(cpu_info()["cpu.isa"].split())


def installed(device: str) -> dict[str, str]:
    """The installed half of the identity: versions, device, and the settings that pick kernels.

    What cannot change within a process is read once (package metadata lookups cost
    milliseconds each, and a session asks for the identity at every case); the settings that
    can (TF32, SDPA backends, cuDNN autotuning, threads) are read every time."""
    import torch

    out = dict(_fixed(device))
    if torch.device(device).type == "cuda":
        b = torch.backends
        out["cudnn.allow_tf32"] = str(b.cudnn.allow_tf32)
        out["cuda.matmul.allow_tf32"] = str(b.cuda.matmul.allow_tf32)
        out["float32_matmul_precision"] = torch.get_float32_matmul_precision()
        out["cudnn.benchmark"] = str(b.cudnn.benchmark)
        out["cudnn.deterministic"] = str(b.cudnn.deterministic)
        out["attention"] = attention_backends()
    else:
        out["cpu.onednn_isa"] = onednn_cap()
        out["cpu.threads"] = str(torch.get_num_threads())
    return out


@functools.lru_cache(maxsize=None)
def _fixed(device: str) -> tuple[tuple[str, str], ...]:
    import torch

    out: dict[str, str] = {"torch": torch.__version__, "python": _pyplatform.python_version(),
                           "probe_version": PROBE_VERSION}
    for name in ("diffusers", "transformers"):  # from the metadata: no import of either
        version = _dist_version(name)
        if version:
            out[name] = version
    dev = torch.device(device)
    if dev.type == "cuda":
        idx = dev.index or 0
        props = torch.cuda.get_device_properties(idx)
        out["gpu.name"] = props.name
        out["gpu.sm_count"] = str(props.multi_processor_count)
        hip = getattr(torch.version, "hip", None)
        if hip:
            out["hip"] = str(hip)
            out["gpu.capability"] = str(getattr(props, "gcnArchName", "unknown"))
            if torch.backends.cudnn.is_available():
                out["miopen"] = str(torch.backends.cudnn.version())
            out["hipblaslt"] = _dist_version("hipblaslt") or "bundled with torch"
        else:
            major, minor = torch.cuda.get_device_capability(idx)
            out["gpu.capability"] = f"{major}.{minor}"
            out["cuda"] = str(torch.version.cuda)
            if torch.backends.cudnn.is_available():
                out["cudnn"] = str(torch.backends.cudnn.version())
            out["cublas"] = (_dist_version("nvidia-cublas") or _dist_version("nvidia-cublas-cu12")
                             or "bundled with torch")
    else:
        out.update(cpu_info())
        out["cpu.aten_capability"] = str(torch.backends.cpu.get_cpu_capability())
        out["onednn"] = _onednn_version(torch)
    return tuple(out.items())


def attention_backends() -> str:
    """SDPA backends enabled for CUDA (torch picks the first that fits, in this order)."""
    import torch

    b = torch.backends.cuda
    names = [("flash", b.flash_sdp_enabled), ("mem_efficient", b.mem_efficient_sdp_enabled),
             ("cudnn", getattr(b, "cudnn_sdp_enabled", lambda: False)), ("math", b.math_sdp_enabled)]
    return ",".join(n for n, enabled in names if enabled()) or "none"


def _onednn_version(torch: Any) -> str:
    for line in torch.__config__.show().splitlines():
        if "MKL-DNN" in line or "oneDNN" in line:
            return line.split(" v", 1)[-1].split(" ", 1)[0].strip() if " v" in line else line.strip()
    return "unknown"


def _dist_version(name: str) -> str | None:
    from importlib import metadata

    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def _ops(torch: Any, F: Any) -> dict[str, tuple[tuple[tuple[int, ...], ...], Callable[..., Any]]]:
    """The probe's ops: name -> (input shapes, function). Names carry the shape after '@'
    where one op is probed at several, so a verdict can fold them ('bf16 matmul')."""
    return {
        "matmul@64x64x64": (((64, 64), (64, 64)), lambda a, b: a @ b),
        "matmul@77x512x96": (((77, 512), (512, 96)), lambda a, b: a @ b),
        "linear@32x96x24": (((32, 96), (24, 96), (24,)), lambda x, w, bias: F.linear(x, w, bias)),
        "conv2d@32ch": (((1, 32, 16, 16), (32, 32, 3, 3), (32,)), lambda x, w, b: F.conv2d(x, w, b, padding=1)),
        "conv3d@8ch": (((1, 8, 3, 8, 8), (8, 8, 3, 3, 3), (8,)), lambda x, w, b: F.conv3d(x, w, b, padding=1)),
        "sdpa@24x32": (((1, 2, 24, 32), (1, 2, 24, 32), (1, 2, 24, 32)),
                       lambda q, k, v: F.scaled_dot_product_attention(q, k, v)),
        "sdpa@64x64": (((1, 4, 64, 64), (1, 4, 64, 64), (1, 4, 64, 64)),
                       lambda q, k, v: F.scaled_dot_product_attention(q, k, v)),
        "group_norm": (((1, 16, 8, 8), (16,), (16,)), lambda x, w, b: F.group_norm(x, 4, w, b)),
        "layer_norm": (((4, 96), (96,), (96,)), lambda x, w, b: F.layer_norm(x, (96,), w, b)),
        "silu": (((8, 96),), lambda x: F.silu(x)),
        "gelu": (((8, 96),), lambda x: F.gelu(x, approximate="tanh")),
        "interpolate": (((1, 4, 8, 8),), lambda x: F.interpolate(x, scale_factor=2, mode="nearest")),
    }


def run_probe(device: str) -> tuple[dict[str, str], float]:
    """(op -> digest, milliseconds): every op of the probe in each dtype, on ``device``.

    Inputs come from one seeded CPU generator (the same numbers on every machine) and are
    moved to the device. An op a device cannot run records the error's type: that is part of
    how the machine computes too."""
    import torch
    import torch.nn.functional as F

    t0 = time.perf_counter()
    gen = torch.Generator(device="cpu").manual_seed(20261126)
    dtypes = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}
    ops = _ops(torch, F)
    inputs = {name: tuple(torch.randn(s, generator=gen) for s in shapes) for name, (shapes, _) in ops.items()}
    results: dict[str, Any] = {}
    with torch.no_grad():
        for dname in DTYPES:
            dt = dtypes[dname]
            for name, (_, fn) in ops.items():
                args = tuple(x.to(device=device, dtype=dt) for x in inputs[name])
                try:
                    results[f"{dname}.{name}"] = fn(*args)
                except Exception as exc:  # noqa: BLE001 - a kernel the device lacks is a fact to record
                    results[f"{dname}.{name}"] = f"unsupported: {type(exc).__name__}"
    digests: dict[str, str] = {}
    for key, y in results.items():
        if isinstance(y, str):
            digests[key] = y
            continue
        data = y.detach().contiguous().view(torch.uint8).cpu().numpy().tobytes()  # device sync here
        digests[key] = hashlib.sha256(data).hexdigest()[:16]
    return digests, (time.perf_counter() - t0) * 1e3
