"""The one place that touches torch's private profiler API (tested on the installed torch).

The CPU memory meter needs allocation events and its own stage ranges, but not the ~17k op
events per call that ``torch.profiler.profile`` records on a tiny pipeline (its stop then
costs more than the call). Only the private entry points let the record-function scope be
restricted to user scopes. Everything here returns plain numbers, so that a change of those
private APIs breaks this module and its test (tests/test_torch_profiler.py), nothing else.
"""

from __future__ import annotations

from typing import Any

from ..quiet import native_stderr_filtered

RANGE_PREFIX = "regress::"  # record_function names that mark stage boundaries for the profiler


def start_memory_profiler() -> bool:
    """Start the profiler for allocation events only; False when torch refuses to start it.

    Restricting the record-function scope to USER_SCOPE keeps the allocation events and our
    own stage ranges (``record_function`` is a user scope) and drops the op events.
    """
    from torch._C._profiler import RecordScope, _ExperimentalConfig
    from torch.autograd import (
        ProfilerActivity,
        ProfilerConfig,
        ProfilerState,
        _enable_profiler,
        _prepare_profiler,
    )

    # (state, record_shapes, profile_memory, with_stack, with_flops, with_modules, experimental)
    config = ProfilerConfig(ProfilerState.KINETO, False, True, False, False, False, _ExperimentalConfig())
    activities = {ProfilerActivity.CPU}
    try:
        with native_stderr_filtered():  # Kineto's USDT / gpuGetDeviceCount lines (regress/quiet.py)
            _prepare_profiler(config, activities)  # initialises kineto; enabling without it crashes
            _enable_profiler(config, activities, {RecordScope.USER_SCOPE})
    except RuntimeError:
        return False
    return True


def stage_range(stage: str) -> Any:
    """A profiler range (entered by the caller) that marks ``stage`` in the recorded events."""
    import torch

    return torch.profiler.record_function(RANGE_PREFIX + stage)


def stop_memory_profiler() -> tuple[list[int], list[int], list[tuple[int, int, str]]]:
    """Stop the profiler: (allocation times ns, allocation sizes in bytes, negative for a free,
    [(start ns, end ns, stage)] of the :func:`stage_range` ranges), all on one clock. The raw
    kineto events are read directly: the profiler's own event tree costs far more than the call."""
    from torch.autograd import _disable_profiler

    times: list[int] = []
    sizes: list[int] = []
    ranges: list[tuple[int, int, str]] = []
    with native_stderr_filtered():
        events = _disable_profiler().events()
    for ev in events:
        name = ev.name()
        if name == "[memory]":
            times.append(ev.start_ns())
            sizes.append(ev.nbytes())
        elif name.startswith(RANGE_PREFIX):
            ranges.append((ev.start_ns(), ev.end_ns(), name[len(RANGE_PREFIX):]))
    return times, sizes, ranges
