"""The one-time costs of judging, paid while the first pipeline builds.

On an H100 the first judgement of a process pays for the kernel probe (a clean child process:
torch's import, a CUDA context and 36 ops' kernels, seconds on a fresh machine and ~0.1 ms from
its cache afterwards, :mod:`regress.probing`) and for the fused SSIM kernel (Triton compiles it
once per machine, then loads it in each process: :mod:`regress.metrics.fused_compile`). A
shape-true build spends seconds in Python constructing modules while the GPU idles, so both
start then, in a background thread.

The session waits for the thread before the first measured call (:func:`wait`): the probe and,
on a machine that compiled the kernel before, its load. A compile on a fresh machine runs on in a
child process and is loaded afterwards, between measured calls (:data:`regress.measured.QUIET`): until then the
torch path judges. Neither the meter's peak memory nor its time sees any of it. On the CPU only
the first-use imports (:data:`FIRST_USE`) and the probe (1.6 s in a fresh process on a 2-core
Xeon, the larger part of a cold first case's regress time: benchmarks/bench_cold_start.py); they
are finished before the measured call too.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from importlib import import_module
from typing import Any

_STARTED: dict[str, threading.Thread] = {}
# Imported by the first judgement (the comparators, ~14 ms of a warm first case on the 2-core
# Xeon) and by the media writer during the second case (the report's typed records and
# helpers, ~40 ms): imported here instead, beside the first build.
FIRST_USE = ("regress.metrics.compare", "regress.metrics.stages", "regress.lpips_policy", "regress.report.assets")


STEPS: list[tuple[str, float, str | None]] = []  # (step, seconds, what it raised) of this process's warm-ups


def start(device: str) -> None:
    """Begin the probe and (on a GPU) the metric kernels' first launch on ``device`` (once per process)."""
    if device in _STARTED:
        return
    thread = threading.Thread(target=_work, args=(device,), name="regress-warm-up", daemon=True)
    _STARTED[device] = thread
    thread.start()


def wait(device: str) -> None:
    """Return once :func:`start`'s work on ``device`` is done (at once if it never started)."""
    thread = _STARTED.get(device)
    if thread is not None:
        thread.join()


def _work(device: str) -> None:
    from .metrics import fused_compile
    from .metrics.frames import _has_triton
    from .probing import identity

    # The compile (a child process, long only on a fresh machine) starts first; the probe
    # (another child, cached on disk) runs meanwhile. Each step on its own: one that raises
    # (the judgement runs the same code again and reports there) leaves the others to run.
    torch_path = None
    if device.startswith("cuda"):
        compiling = _step("fused kernel", lambda: fused_compile.prepare(device) if _has_triton() else None)
        if compiling is not None or not _has_triton():
            # The torch path will judge the first comparisons, and its first grouped
            # convolution in a process pays cuDNN's setup: paid here, beside the build. Where
            # the fused kernel was loaded, the torch path does not judge and is not warmed.
            torch_path = threading.Thread(target=_step, args=("torch path", lambda: _warm_torch_path(device)),
                                          daemon=True)
            torch_path.start()
    _step("kernel probe", lambda: identity(device))  # cached for the judgement
    _step("first-use imports", lambda: [import_module(name) for name in FIRST_USE])
    if torch_path is not None:
        torch_path.join()


def _step(name: str, work: Callable[[], Any]) -> Any:
    """``work()``, its seconds and what it raised kept in :data:`STEPS` (read by
    benchmarks/phase_timer.py: what the warm-up did on a fresh machine)."""
    t0, error = time.perf_counter(), None
    try:
        return work()
    except Exception as exc:  # noqa: BLE001 - see _work
        error = f"{type(exc).__name__}: {exc}"[:300]
        return None
    finally:
        STEPS.append((name, time.perf_counter() - t0, error))


def _warm_torch_path(device: str) -> None:
    """One torch-path SSIM of a 32x32 RGB pair on ``device`` (the window, channels and
    grouped convolutions of every image and video comparison)."""
    import numpy as np

    from .metrics.ssim import ssim_frames

    a = np.random.default_rng(0).integers(0, 256, size=(2, 32, 32, 3), dtype=np.uint8)
    ssim_frames(a, a ^ 1, device=device)
