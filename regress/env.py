"""Environment variables regress reads, named once."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

CI = "CI"  # set by GitHub Actions and most CI systems: turns --golden-strict on
GITHUB_ACTIONS = "GITHUB_ACTIONS"
GITHUB_STEP_SUMMARY = "GITHUB_STEP_SUMMARY"
REGRESS_LPIPS_WEIGHTS = "REGRESS_LPIPS_WEIGHTS"  # LPIPS backbone weights file (beats every other source)
REGRESS_H2D = "REGRESS_H2D"  # host->device copy mode of the GPU metrics: stage | direct | register
REGRESS_FAIL_AT = "REGRESS_FAIL_AT"  # tests: inject a failure at a named step of a publish ("NAME" or "NAME:kill")
REGRESS_STORE_WAIT = "REGRESS_STORE_WAIT"  # seconds a reader waits for a file store's publish in flight (60)
REGRESS_HUB_RETRIES = "REGRESS_HUB_RETRIES"  # tries before "cannot reach the Hub" (default 3)
REGRESS_HUB_BACKOFF = "REGRESS_HUB_BACKOFF"  # seconds before the 2nd try, doubled after each (default 1.0)
# Kernel-choosing settings applied when a run starts, e.g. "sdpa=math,tf32=on" (regress/kernels.py):
# reproduce what another card or build computes; `regress calibrate --drift` runs its variants with it.
REGRESS_KERNELS = "REGRESS_KERNELS"
# Compiled runs (regress.runners.compiling): the torch.compile backend (default inductor; "aot_eager"
# traces without generating code), and the mode of `calibrate --drift --compile`'s compiled variant.
REGRESS_COMPILE_BACKEND = "REGRESS_COMPILE_BACKEND"
REGRESS_COMPILE = "REGRESS_COMPILE"
# `regress calibrate --drift`: seconds one kernel-path variant's subprocess may run (default 14400).
REGRESS_DRIFT_TIMEOUT = "REGRESS_DRIFT_TIMEOUT"
# A parallel case's ranks (regress.parallel_run): seconds the launch may run (default 3600), and an
# injected sharding fault (benchmarks and tests only: regress.parallel_faults names them).
REGRESS_PARALLEL_TIMEOUT = "REGRESS_PARALLEL_TIMEOUT"
REGRESS_PARALLEL_FAULT = "REGRESS_PARALLEL_FAULT"
# `calibrate --drift --parallel LAYOUT`: the layout its parallel variant runs the one-process cases over.
REGRESS_PARALLEL = "REGRESS_PARALLEL"
# Set by torch's launcher (torch.distributed.run) in each rank it starts.
RANK = "RANK"
LOCAL_RANK = "LOCAL_RANK"

# Read by torch / oneDNN at their start (so only a new process can change them); regress records
# them in the numerics identity and sets them for the variants of `regress calibrate --drift`.
ONEDNN_MAX_CPU_ISA = "ONEDNN_MAX_CPU_ISA"  # cap oneDNN's ISA: AVX2, AVX512_CORE, AVX512_CORE_BF16, ...
DNNL_MAX_CPU_ISA = "DNNL_MAX_CPU_ISA"  # its older name
ATEN_CPU_CAPABILITY = "ATEN_CPU_CAPABILITY"  # cap ATen's vector kernels: avx2, avx512, default
OMP_NUM_THREADS = "OMP_NUM_THREADS"
# Prefixes of the variables that the libraries under torch read at start-up to choose kernels
# (oneDNN, ATen, OpenMP/MKL, cuBLAS/cuDNN, ROCm): the kernel probe's cache is keyed by them.
KERNEL_ENV_PREFIXES = ("ONEDNN_", "DNNL_", "ATEN_", "OMP_", "MKL_", "KMP_", "TORCH_", "PYTORCH_", "NVIDIA_",
                       "CUBLAS", "CUDNN", "CUDA_", "HIP_", "ROCBLAS_", "HIPBLASLT_", "MIOPEN_", "HSA_")
# Variables with those prefixes that choose no kernel and that libraries set in os.environ while
# they import or compile (torch's inductor sets KMP_DUPLICATE_LIB_OK; on the lent H100 both were
# set during the first build). Keyed on, they made the warm-up's probe and the judgement's
# differ, and a cold machine's first judgement probed a second time (2.9-3.1 s on the H100,
# benchmarks/RESULTS.md).
NOT_KERNEL_CHOOSING = frozenset({"KMP_DUPLICATE_LIB_OK", "KMP_INIT_AT_FORK"})
# Where regress keeps what it measured about this machine (the kernel probe, per installed
# versions): default $XDG_CACHE_HOME/regress, else ~/.cache/regress; "off" keeps nothing.
REGRESS_CACHE_DIR = "REGRESS_CACHE_DIR"
# Triton's kernel cache (default ~/.triton/cache): a compiled fused-SSIM variant is marked per
# cache (regress/metrics/fused_compile.py), and CI caches it between jobs (docs/ci.md).
TRITON_CACHE_DIR = "TRITON_CACHE_DIR"
# regress ab: BASE's worktree goes first on it, so that BASE's own code (an engine in the
# repository, or regress itself) is what its run imports. A parallel case's ranks: the launcher's
# regress goes first (regress.parallel_run).
PYTHONPATH = "PYTHONPATH"

# Hugging Face Hub (goldens in a Hub store, real checkpoints). Read by huggingface_hub too; regress
# reads them when a store opens or a checkpoint loads (not at import), through hub_environment()
# only, and passes them to huggingface_hub explicitly, so that a value set after the library was
# imported (by a process, or a test) still holds.
HF_ENDPOINT = "HF_ENDPOINT"  # another Hub (a mirror, or the tests' local one)
HF_HUB_OFFLINE = "HF_HUB_OFFLINE"  # load from the HF cache only, never the network
HF_HUB_CACHE = "HF_HUB_CACHE"  # where the HF cache lives
HUGGINGFACE_HUB_CACHE = "HUGGINGFACE_HUB_CACHE"  # its older name
HF_HOME = "HF_HOME"  # the cache is $HF_HOME/hub when neither of the above is set
HF_TOKEN = "HF_TOKEN"  # gated/private repos; never logged

GITHUB_WORKSPACE = "GITHUB_WORKSPACE"  # annotations name suite files relative to it
# Whose values never reach a log, results.json or a report (regress.errors.redact).
TOKEN_VARS = (HF_TOKEN, "HUGGING_FACE_HUB_TOKEN", "HF_API_TOKEN")

# LPIPS backbone weights in torch.hub's cache, located as torch.hub.get_dir() does, without torch.
TORCH_HOME = "TORCH_HOME"
XDG_CACHE_HOME = "XDG_CACHE_HOME"

# pytest-xdist: each worker is pinned to one GPU from this list (else the visible devices).
REGRESS_WORKER_DEVICES = "REGRESS_WORKER_DEVICES"
CUDA_VISIBLE_DEVICES = "CUDA_VISIBLE_DEVICES"
HIP_VISIBLE_DEVICES = "HIP_VISIBLE_DEVICES"


@dataclass(frozen=True)
class HubEnvironment:
    endpoint: str
    cache_dir: Path
    offline: bool
    token: str | None


def hub_environment() -> HubEnvironment:
    """The Hub settings of this process, read now, with huggingface_hub's precedence: the
    variable, else the library's own default (which also reads them, but at its import)."""
    from huggingface_hub import constants

    home = os.environ.get(HF_HOME)
    cache = (os.environ.get(HF_HUB_CACHE) or os.environ.get(HUGGINGFACE_HUB_CACHE)
             or (os.path.join(home, "hub") if home else None) or constants.HF_HUB_CACHE)
    return HubEnvironment(endpoint=(os.environ.get(HF_ENDPOINT) or constants.ENDPOINT).rstrip("/"),
                          cache_dir=Path(cache).expanduser(),
                          offline=hub_offline(constants),
                          token=os.environ.get(HF_TOKEN) or None)


def hub_offline(constants: object) -> bool:
    """``HF_HUB_OFFLINE`` read now and parsed exactly as huggingface_hub parses it (with its own
    helper, so that ``off``, ``no`` or ``0`` mean online to both, and ``1``, ``on``, ``yes`` or
    ``true`` offline to both), ``TRANSFORMERS_OFFLINE`` as its fallback; or the library's own
    setting (read at its import) when it is offline anyway."""
    is_true = getattr(constants, "_is_true", None)
    if is_true is None:  # a huggingface_hub without the helper: its documented true values
        true_values = getattr(constants, "ENV_VARS_TRUE_VALUES", TRUE_VALUES)

        def is_true(value: str | None) -> bool:
            return value is not None and value.upper() in true_values

    raw = os.environ.get(HF_HUB_OFFLINE) or os.environ.get("TRANSFORMERS_OFFLINE")
    return bool(is_true(raw)) or bool(getattr(constants, "HF_HUB_OFFLINE", False))


# The values huggingface_hub reads as true (its constants.ENV_VARS_TRUE_VALUES; a test holds them
# equal): one rule for every on/off variable, so HF_HUB_OFFLINE=off or CI=off mean off to both.
TRUE_VALUES = frozenset({"1", "ON", "YES", "TRUE"})


def truthy(name: str) -> bool:
    return os.environ.get(name, "").strip().upper() in TRUE_VALUES


def in_ci() -> bool:
    return truthy(CI)


def number(name: str, default: float) -> float:
    """A numeric setting; a value that is not a number is a ValueError whose message names the
    variable (the caller makes it its one-line error: this module imports nothing of regress,
    so that regress.errors can read the token names above)."""
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        return float(raw)
    except ValueError:
        raise ValueError(f"environment variable {name}={raw!r} is not a number") from None
