"""Where the kernel probe runs, and how its result is kept: this machine's numerics identity.

Where: in a clean Python process (``python -S -E``: no ``sitecustomize``, no ``.pth`` hooks, no
``PYTHON*`` variables), never in the process under test. The probe (:mod:`regress.probe`)
measures the *machine*; the code under test may patch ``scaled_dot_product_attention``,
register overrides or flip process-wide flags, and a probe that saw those would file a real
change under "platform drift" (measured: an attention-scale regression passed that way, issue
22). The child inherits the machine's environment (oneDNN / ATen ISA caps, visible devices)
except ``REGRESS_KERNELS``: settings a run applies are the run's, recorded in its settings
fingerprint (:mod:`regress.settings`), not in the identity.

Kept: a fresh process imports torch (about 2 s on the 2-core Xeon), so the identity is cached on
disk per machine, installed versions and kernel-choosing environment (:func:`cache_key`), and
in memory per process. ``benchmarks/bench_probe.py`` measures both.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
from pathlib import Path
from typing import Any

from .atomic import write_atomic
from .env import KERNEL_ENV_PREFIXES, NOT_KERNEL_CHOOSING, REGRESS_CACHE_DIR, REGRESS_KERNELS, XDG_CACHE_HOME
from .errors import RegressError
from .numerics import Identity
from .probe import PROBE_VERSION, cpu_info

_CACHE: dict[str, Identity] = {}
PROBE_TIMEOUT_S = 600  # a first CUDA context plus the probe take seconds; a hung driver must not hang a run
_MARK = "regress-probe-identity:"  # the child's one line of output that is the identity


def identity(device: str) -> Identity:
    """This machine's numerics identity on ``device``: measured in a clean process
    (:func:`measure_clean`), cached in memory and on disk by :func:`cache_key`."""
    key = cache_key(device)
    found = _CACHE.get(key)
    if found is None:
        found = _read_cached(key)
        if found is None:
            found = measure_clean(device)
            _write_cached(key, found)
        _CACHE[key] = found
    return found


def measure_clean(device: str) -> Identity:
    """Run the probe in a fresh interpreter that nothing of this process reaches: no site
    customisation, no import hooks, torch's default settings, this machine's environment
    (without ``REGRESS_KERNELS``). The child finds torch and regress on this process's path."""
    import subprocess

    path = [p for p in sys.path if p] + [str(Path(__file__).resolve().parents[1])]
    env = {k: v for k, v in os.environ.items() if k != REGRESS_KERNELS}
    code = ("import sys, json; sys.path[:0] = json.loads(sys.argv[1]); "
            "from regress.probing import _child; _child(sys.argv[2])")
    cmd = [sys.executable, "-S", "-E", "-s", "-c", code, json.dumps(path), device]
    try:
        proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=PROBE_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        raise RegressError(f"the kernel probe on {device} did not finish in {PROBE_TIMEOUT_S} s") from None
    except OSError as exc:
        raise RegressError(f"the kernel probe could not start a clean Python process: {exc}") from None
    for line in reversed(proc.stdout.splitlines()):
        if line.startswith(_MARK):
            found = Identity.from_json(json.loads(line[len(_MARK):]))
            if found is not None:
                return found
    tail = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or [f"exit {proc.returncode}, no output"]
    raise RegressError(f"the kernel probe on {device} failed in its clean process: {tail[0][:300]}")


def _child(device: str) -> None:
    """The clean process's work: the identity as one marked line of JSON on stdout."""
    import torch

    from .probe import installed, run_probe

    inst = installed(device)
    probe, ms = run_probe(device)
    found = Identity(installed=inst, probe=probe, device=torch.device(device).type, probe_ms=ms)
    print(_MARK + json.dumps(found.to_json()), flush=True)


def cache_key(device: str) -> str:
    """What the probe's result depends on, hashed: the probe's version, the interpreter and
    torch it would run with, the CPU (model and kernel-picking flags), the GPU, the driver, and
    every kernel-choosing environment variable. Cheap: no process, no probe."""
    torch = sys.modules.get("torch")
    parts: dict[str, Any] = {"probe": PROBE_VERSION, "python": sys.executable, "device": device,
                             "cpu": cpu_info(), "torch": getattr(torch, "__version__", None) or _torch_version(),
                             "torch_file": getattr(torch, "__file__", None),
                             "env": sorted((k, v) for k, v in os.environ.items()
                                           if k.startswith(KERNEL_ENV_PREFIXES) and k != REGRESS_KERNELS
                                           and k not in NOT_KERNEL_CHOOSING)}
    if device.startswith("cuda") and torch is not None:
        import torch as _torch

        idx = _torch.device(device).index or 0
        parts["gpu"] = (_torch.cuda.get_device_name(idx), str(_torch.cuda.get_device_capability(idx)),
                        str(_torch.version.cuda), str(getattr(_torch.version, "hip", None)))
    # The driver and the cards, from files (also where torch is not imported: `regress ab`'s key)
    gpus = sorted(str(p) for p in Path("/proc/driver/nvidia/gpus").glob("*/information"))
    for name in ("/proc/driver/nvidia/version", "/sys/module/amdgpu/version", *gpus):
        try:
            parts[name] = Path(name).read_text(encoding="utf-8", errors="replace").strip()
        except OSError:
            pass
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:24]


def cache_dir() -> Path | None:
    """Where probes are kept (``REGRESS_CACHE_DIR``; "off": nowhere)."""
    raw = os.environ.get(REGRESS_CACHE_DIR, "").strip()
    if raw.lower() == "off":
        return None
    if raw:
        return Path(raw).expanduser()
    xdg = os.environ.get(XDG_CACHE_HOME) or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(xdg) / "regress"


def _cache_file(key: str) -> Path | None:
    d = cache_dir()
    return d / "probe" / f"{key}.json" if d is not None else None


def _read_cached(key: str) -> Identity | None:
    """A cached identity, or None (none, unreadable or malformed: measured again)."""
    path = _cache_file(key)
    if path is None:
        return None
    try:
        return Identity.from_json(json.loads(path.read_text(encoding="utf-8")))
    except (OSError, ValueError, RecursionError):
        return None


def _write_cached(key: str, found: Identity) -> None:
    """Best effort: a cache that cannot be written costs a probe next time, nothing else."""
    path = _cache_file(key)
    if path is None:
        return
    try:
        write_atomic(path, json.dumps(found.to_json()))
    except OSError:
        pass


def _torch_version() -> str | None:
    from importlib import metadata

    try:
        return metadata.version("torch")
    except metadata.PackageNotFoundError:
        return None
