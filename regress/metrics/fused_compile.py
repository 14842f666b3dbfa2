"""The fused SSIM kernel is compiled off the judging path, and taken once it is loaded.

Why: Triton compiles the kernel of :mod:`regress.metrics.ssim_triton` on its first launch on a
machine, and a fresh CI runner has no compiler cache: on a fresh H100 lease the first image case
and the first video case each paid 20-40 s of regress time, nearly all of it compiles
(benchmarks/bench_cold_start.py, RESULTS.md). The torch path computes the same SSIM (both agree
with skimage within 1e-5) in milliseconds on a tiny case and in about a tenth of a second on a
121-frame 720p pair, so a judgement never waits for a compile:

* the kernel's runtime integers and input pointers are not specialised (ssim_triton's
  ``do_not_specialize``): one compile per *variant* (channels, windows per lane) serves every
  shape, where each shape class used to compile its own;
* the variants are compiled by a child process (``python -m regress.metrics.fused_compile``),
  which fills Triton's on-disk cache while the first pipeline builds and runs, without holding
  this interpreter's lock or touching this process's GPU allocator, whose peaks the meter reads;
* this process then loads them (an on-disk cache hit) in a background thread, never during a
  measured pipeline call (``regress.measured.QUIET``); only a variant loaded here is taken by
  :func:`regress.metrics.frames.frame_metrics`, every other comparison takes the torch path.

A machine that compiled them before (a marker under regress's cache directory, keyed by the
kernel's source, its launch constants, Triton, torch and the GPU) loads them in the warm-up
before the first measured call, as every warm machine did before.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import threading
from pathlib import Path
from collections.abc import Callable
from typing import Any

from ..env import TRITON_CACHE_DIR
from ..measured import QUIET

Variant = tuple[int, int]  # (channels, windows per lane)
# What the warm-up prepares: RGB frames, two windows per lane (images, small videos) and three
# (large comparisons, see frames.THREE_PER_LANE_FROM). Others are compiled on first request.
STANDARD: tuple[Variant, ...] = ((3, 2), (3, 3))
COMPILE_TIMEOUT_S = 900  # a compile takes seconds to a minute; a hung compiler must not hang a run

_lock = threading.Lock()
_ready: set[tuple[str, Variant]] = set()      # (device, variant) loaded in this process
_requested: set[tuple[str, Variant]] = set()  # (device, variant) being prepared or given up on
_errors: dict[tuple[str, Variant], str] = {}  # why a variant could not be prepared (the torch path judges)


def device_key(device: Any) -> str:
    """"cuda" and "cuda:0" are one device for the kernel's state."""
    import torch

    dev = torch.device(device)
    if dev.type == "cuda" and dev.index is None:
        dev = torch.device("cuda", torch.cuda.current_device())
    return str(dev)


def ready(device: Any, variant: Variant) -> bool:
    """Whether ``variant`` is loaded on ``device`` in this process; if it is not, its
    preparation starts in the background (once) and the caller takes the torch path."""
    key = (device_key(device), variant)
    with _lock:
        if key in _ready:
            return True
        if key in _requested:
            return False
        _requested.add(key)
    threading.Thread(target=_prepare, args=(key[0], [variant]), name="regress-fused-compile", daemon=True).start()
    return False


def prepare(device: str, variants: tuple[Variant, ...] = STANDARD) -> threading.Thread | None:
    """Prepare ``variants`` on ``device`` (the warm-up's call). Where this machine compiled them
    before, they are loaded now and None is returned; otherwise a background thread compiles
    them in a child process and loads them afterwards, and is returned."""
    dev = device_key(device)
    with _lock:
        todo = [v for v in variants if (dev, v) not in _requested]
        _requested.update((dev, v) for v in todo)
    if not todo:
        return None
    if all(_marker(dev, v) is not None and _marker(dev, v).exists() for v in todo):
        _load(dev, todo)
        return None
    thread = threading.Thread(target=_prepare, args=(dev, todo), name="regress-fused-compile", daemon=True)
    thread.start()
    return thread


def _prepare(device: str, variants: list[Variant]) -> None:
    """Compile in a child process, then load here between measured calls."""
    failed = _compile_in_child(device, variants)
    if failed:
        with _lock:
            _errors.update({(device, v): failed for v in variants})
        return
    for v in variants:
        marker = _marker(device, v)
        if marker is not None:
            try:
                marker.parent.mkdir(parents=True, exist_ok=True)
                marker.touch()
            except OSError:
                pass  # best effort: the next process compiles in a child again
    _load(device, variants)


def _compile_in_child(device: str, variants: list[Variant]) -> str | None:
    """Run :func:`_child` in a fresh interpreter; None on success, else why not (one line)."""
    path = [p for p in sys.path if p] + [str(Path(__file__).resolve().parents[2])]
    code = ("import sys, json; sys.path[:0] = json.loads(sys.argv[1]); import regress.metrics.frames; "
            "from regress.metrics.fused_compile import _child; _child(sys.argv[2], json.loads(sys.argv[3]))")
    cmd = [sys.executable, "-c", code, json.dumps(path), device, json.dumps([list(v) for v in variants])]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=COMPILE_TIMEOUT_S, env=dict(os.environ))
    except subprocess.TimeoutExpired:
        return f"the fused kernel's compile did not finish in {COMPILE_TIMEOUT_S} s"
    except OSError as exc:
        return f"the fused kernel's compile could not start a process: {exc}"
    if proc.returncode != 0:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or [f"exit {proc.returncode}"]
        return f"the fused kernel's compile failed: {tail[0][:300]}"
    return None


def _child(device: str, variants: list[list[int]]) -> None:
    """The child's work: one launch of each variant, which compiles it into Triton's cache."""
    for c, p in variants:
        _launch(device, (int(c), int(p)))


def _load(device: str, variants: list[Variant]) -> None:
    """Launch each variant once in this process (from Triton's cache: a load, not a compile),
    never while a pipeline call is measured, then mark it ready."""
    for v in variants:
        try:
            with QUIET:
                _launch(device, v)
        except Exception as exc:  # noqa: BLE001 - the torch path judges; the reason is kept
            with _lock:
                _errors[(device, v)] = f"{type(exc).__name__}: {str(exc).splitlines()[0][:300] if str(exc) else ''}"
            continue
        with _lock:
            _ready.add((device, v))


# The launch of one variant and the launch constants a compiled variant depends on, given by
# regress.metrics.frames when it loads (it owns the kernel's launch; importing it here would
# make a cycle).
_LAUNCH: Callable[[str, Variant], None] | None = None
_LAUNCH_PARTS: list[Any] = []


def register(*, launch: Callable[[str, Variant], None], parts: list[Any]) -> None:
    """Set how a variant is launched (a comparison of two small inputs) and what its compile
    depends on besides the kernel's source."""
    global _LAUNCH, _LAUNCH_PARTS
    _LAUNCH, _LAUNCH_PARTS = launch, list(parts)


def _launch(device: str, variant: Variant) -> None:
    if _LAUNCH is None:
        import importlib

        importlib.import_module("regress.metrics.frames")  # registers its launcher
    assert _LAUNCH is not None
    _LAUNCH(device, variant)


def _marker(device: str, variant: Variant) -> Path | None:
    """The file that says this machine compiled ``variant`` (None: no cache directory)."""
    from .. import probing

    root = probing.cache_dir()
    if root is None:
        return None
    return root / "fused" / f"{_kernel_key(device)}-c{variant[0]}p{variant[1]}.ok"


_KEYS: dict[str, str] = {}


def _kernel_key(device: str) -> str:
    """What a compiled variant depends on: the kernel's source, its launch constants, Triton,
    torch, the GPU and Triton's cache directory."""
    if device in _KEYS:
        return _KEYS[device]
    import torch
    import triton

    from . import ssim_triton

    idx = torch.device(device).index or 0
    parts = {
        "source": hashlib.sha256(Path(ssim_triton.__file__).read_bytes()).hexdigest(),
        "launch": _LAUNCH_PARTS,
        "triton": triton.__version__, "torch": torch.__version__,
        "gpu": [torch.cuda.get_device_name(idx), list(torch.cuda.get_device_capability(idx))],
        "cache": os.environ.get(TRITON_CACHE_DIR) or os.path.expanduser("~/.triton/cache"),
    }
    _KEYS[device] = hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()[:24]
    return _KEYS[device]


def state() -> dict[str, Any]:
    """What is loaded, pending and failed (for tests and `regress env`)."""
    with _lock:
        return {"ready": sorted(_ready), "pending": sorted(_requested - _ready - set(_errors)),
                "errors": dict(_errors)}


def reset() -> None:
    """Forget everything (tests)."""
    with _lock:
        _ready.clear()
        _requested.clear()
        _errors.clear()
