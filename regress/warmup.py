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
the probe (1.6 s in a fresh process on a 2-core Xeon, the larger part of a cold first case's
regress time: benchmarks/bench_cold_start.py); it is finished before the measured call too.
"""

from __future__ import annotations

import threading

_STARTED: dict[str, threading.Thread] = {}


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
    try:
        from .metrics import fused_compile
        from .metrics.frames import _has_triton
        from .probing import identity

        # The compile (a child process, long only on a fresh machine) starts first; the probe
        # (another child, cached on disk) runs meanwhile.
        if device.startswith("cuda") and _has_triton():
            fused_compile.prepare(device)
        identity(device)  # cached for the judgement
    except Exception:  # noqa: BLE001 - the judgement runs the same code again and reports there
        pass
