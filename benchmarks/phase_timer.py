"""Where a case's time outside the build and the pipeline call goes (a pytest plugin for benchmarks).

``bench_cold_start.py --phases`` loads it with ``-p benchmarks.phase_timer``: it wraps the
session's steps with a clock (main thread, no profiler: a profiler's overhead on a 0.1 s case
is larger than what it would attribute) and writes, per case, the seconds of each step to the
JSON file named by ``REGRESS_PHASES``. Benchmark code: nothing in regress imports it.
"""

from __future__ import annotations

import functools
import json
import os
import time
from collections import defaultdict
from typing import Any

_CASES: list[dict[str, Any]] = []
_NOW: dict[str, float] = defaultdict(float)
_PROBES: list[dict[str, Any]] = []  # each clean-process probe: thread, seconds, the cache key it was for
_KEYS: dict[tuple[str, str], list[tuple[str, str]]] = {}  # (thread, probe cache key) -> kernel environment


def _timed(owner: Any, name: str, label: str, *, sync: bool = False) -> None:
    """Wrap ``owner.name`` with a clock adding to ``label``; ``sync``: with the device's queue
    drained before and after (what the step launched is counted in the step, not in the next
    one that waits)."""
    original = getattr(owner, name)

    def drain() -> None:
        import torch

        if sync and torch.cuda.is_available() and torch.cuda.is_initialized():
            torch.cuda.synchronize()

    @functools.wraps(original)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        drain()
        t0 = time.perf_counter()
        try:
            return original(*args, **kwargs)
        finally:
            drain()
            _NOW[label] += time.perf_counter() - t0

    setattr(owner, name, wrapper)


def _watch_probes() -> None:
    """Log each probe cache key asked for (and from which thread, with the kernel-choosing
    environment it hashed) and each clean-process probe: a key that changes between the
    warm-up and the judgement makes the judgement probe again."""
    import os
    import threading

    from regress import probing
    from regress.env import KERNEL_ENV_PREFIXES

    key_of = probing.cache_key

    def cache_key(device: str) -> str:
        key = key_of(device)
        env = sorted((k, v) for k, v in os.environ.items() if k.startswith(KERNEL_ENV_PREFIXES))
        _KEYS.setdefault((threading.current_thread().name, key), env)
        return key

    probing.cache_key = cache_key
    measure = probing.measure_clean

    def measure_clean(device: str) -> Any:
        t0, key = time.perf_counter(), key_of(device)  # (the key as the probe starts)
        try:
            return measure(device)
        finally:
            _PROBES.append({"thread": threading.current_thread().name, "s": round(time.perf_counter() - t0, 3),
                            "key": key})

    probing.measure_clean = measure_clean


def pytest_configure(config: Any) -> None:
    from regress import media, probing, session, warmup
    from regress.metrics import compare
    from regress.runners import built, diffusers_family, measurement, shape3d

    G, F, M = session.GoldenSession, diffusers_family, measurement.StageMeter
    steps: tuple[tuple[Any, str, str], ...] = (  # (owner, attribute, label), in the order of a case
        (warmup, "wait", "warm-up wait"), (warmup, "start", "warm-up start"), (session, "get_runner", "get_runner"),
        (G, "precision_for", "precision table"), (G, "run", "session.run total"), (G, "check", "session.check total"),
        (session, "check_model_pin", "model pin"), (G, "read_golden", "golden read submit"),
        (media.MediaQueue, "release", "media release (previous case)"),
        (session.PipelineCache, "get", "build (cache get)"), (M, "_begin", "meter start"),
        (M, "_end", "meter end (in wall until its clock)"), (F.DiffusersFamily, "run", "runner.run"),
        (shape3d.Shape3D, "run", "runner.run"), (F.DiffusersFamily, "to_output", "to_output"),
        (F.DiffusersFamily, "call_kwargs", "call kwargs"), (F, "check_kwargs", "check kwargs"),
        (F, "call_parameters", "call parameters"), (F, "seed_defaults", "seed defaults"),
        (F, "precision_settings", "precision settings"), (F.StageRecorder, "finish", "stage recorder finish"),
        (M, "perf", "meter perf"), (M, "settings", "meter settings"), (F, "versions", "versions"),
        (built.BuiltPipeline, "observe", "observe"), (session, "check_result", "check_result"),
        (session, "load_golden", "golden read (I/O thread, beside the run)"),
        (probing, "identity", "identity (probe)"), (session, "gather", "gather (metrics)"),
        (session, "judge", "judge"), (session, "stage_update", "staging"), (media.MediaQueue, "add", "media add"),
        (G, "_judge", "_judge total"))
    for owner, name, label in steps:
        _timed(owner, name, label)
    _timed(compare, "compare_outputs", "  of which compare_outputs", sync=True)
    _watch_probes()


def pytest_runtest_logstart(nodeid: str, location: Any) -> None:
    _NOW.clear()


def pytest_runtest_logreport(report: Any) -> None:
    if report.when == "call":
        _CASES.append({"id": report.nodeid.rsplit("::", 1)[-1].split("[")[0],
                       "phases": dict(_NOW)})


def pytest_unconfigure(config: Any) -> None:
    from regress import warmup

    path = os.environ.get("REGRESS_PHASES")
    if path:
        keys = [{"thread": t, "key": k, "env": env} for (t, k), env in _KEYS.items()]
        with open(path, "w") as fh:
            json.dump({"cases": _CASES, "warm-up": warmup.STEPS, "probes": _PROBES, "keys": keys}, fh, indent=1)
