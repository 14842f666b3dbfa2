"""Wall time and peak memory of one pipeline call, per stage (see :class:`StageMeter`)."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

import torch

from ..measured import QUIET
from . import torch_profiler
from .base import Perf
from .observation import precision_settings

if TYPE_CHECKING:
    from typing_extensions import Self

    from .built import BuiltPipeline

STAGES = ("text_encode", "denoise", "decode", "audio_decode")
DECODE_STAGES = ("decode", "audio_decode")  # what follows the first of these is post-processing


class Stage:
    """Context for one wrapped stage: notifies the active meter (if any) on entry and exit."""

    def __init__(self, built: BuiltPipeline, stage: str) -> None:
        self.meter: StageMeter | None = built.meter
        self.stage = stage

    def __enter__(self) -> None:
        if self.meter is not None:
            self.meter.enter(self.stage)

    def __exit__(self, *exc: object) -> None:
        if self.meter is not None:
            self.meter.exit(self.stage)


class StageMeter:
    """Wall time and peak memory of one pipeline call, per stage.

    The call is cut into segments at the wrappers' boundaries: 'text_encode', 'decode' and
    'audio_decode' are the time inside ``encode_prompt`` / ``vae.decode`` / the audio VAE and
    vocoder; 'denoise' is the rest of the call before the first decode; what follows a decode
    and is not itself a decode (post-processing) counts only in the total. On CUDA/ROCm the
    boundaries are events on the current stream, read after the call's one synchronisation:
    a host wait at every boundary would stall the kernel queue inside the measured call.

    Memory: on CUDA (and ROCm, same API) the allocator's peak is reset at each segment start
    and read at its end, minus what was allocated before the call (other cached pipelines),
    plus this pipeline's resident weights. On CPU torch keeps no allocator statistics, so the profiler records
    allocation events (``profile_memory``); the raw kineto events are read directly (the
    profiler's own event tree costs far more than the call) and the running total gives the
    peak. CPU figures add the components' resident bytes as a baseline, so they mean the
    same as on CUDA: weights plus the largest transient working set.
    """

    def __init__(self, built: BuiltPipeline, device: str, *, cpu_memory: bool = True) -> None:
        self.built = built
        dev = torch.device(device)
        self.mode = "cuda" if dev.type == "cuda" else "profiler" if dev.type == "cpu" and cpu_memory else "none"
        self.dev = dev
        self.times: dict[str, float] = {}
        self.peaks: dict[str, int] = {}
        self.wall_s = 0.0
        self.profile_overhead_s = 0.0
        self._decoded = False
        self._seg: str = "denoise"
        self._seg_start: Any = 0.0
        self._spans: list[tuple[str, Any, Any]] = []  # (stage, start mark, end mark)
        self._prof = False
        self._ranges: list[Any] = []
        self._cuda_offset = 0
        self._resident = 0
        self.device = device
        self.stage_settings: dict[str, dict[str, str]] = {}  # stage -> settings at its first start

    # ---- call boundaries

    def __enter__(self) -> Self:
        # No background GPU work of this process (the fused kernel's load) during the call.
        QUIET.acquire()
        try:
            return self._begin()
        except BaseException:
            QUIET.release()
            raise

    def _begin(self) -> Self:
        self.built.meter = self
        self._resident = self.built.resident_bytes()  # before the call: weights it may cast count after
        if self.mode == "profiler":
            self._prof = torch_profiler.start_memory_profiler()
            if not self._prof:  # another profiler is active (a user profiling a test run)
                self.mode = "none"
        elif self.mode == "cuda":
            torch.cuda.synchronize(self.dev)  # work queued before the call is not the call's
            torch.cuda.reset_peak_memory_stats(self.dev)
            # Other pipelines cached in this process hold device memory too: count only what
            # this call allocates on top of what was there, plus this pipeline's own weights,
            # so the figure does not depend on which cases ran before.
            self._cuda_offset = self._resident - _cuda_allocated(self.dev)[0]
        self._start = time.perf_counter()
        self._seg_start = self._mark()
        return self

    def __exit__(self, *exc: object) -> None:
        try:
            self._end(exc)
        finally:
            QUIET.release()

    def _end(self, exc: tuple[object, ...]) -> None:
        mark = self._mark()
        if self.mode == "cuda":
            torch.cuda.synchronize(self.dev)  # the one wait of the call (diffusers' own .cpu() waits too)
        end = time.perf_counter()
        self._close_segment(mark)
        self.wall_s = end - self._start
        for seg, a, b in self._spans:
            self.times[seg] = self.times.get(seg, 0.0) + self._seconds(a, b)
        self.built.meter = None
        if self._prof:
            events = torch_profiler.stop_memory_profiler()
            if exc[0] is None:
                self._cpu_peaks(*events)
            self.profile_overhead_s = time.perf_counter() - end

    @property
    def stage(self) -> str:
        """The stage running now ('post' after the last decode)."""
        return self._seg

    # ---- stage boundaries (called by the wrappers)

    def enter(self, stage: str) -> None:
        if stage not in self.stage_settings:  # an engine may switch a setting for one stage only
            self.stage_settings[stage] = precision_settings(self.device)
        mark = self._mark()
        self._close_segment(mark)
        self._seg, self._seg_start = stage, mark
        if self._prof:
            rf = torch_profiler.stage_range(stage)
            rf.__enter__()
            self._ranges.append(rf)

    def exit(self, stage: str) -> None:
        if self._prof and self._ranges:
            self._ranges.pop().__exit__(None, None, None)
        mark = self._mark()
        self._close_segment(mark)
        if stage in DECODE_STAGES:
            self._decoded = True
        self._seg, self._seg_start = ("post" if self._decoded else "denoise"), mark

    def settings(self, start: dict[str, str]) -> dict[str, str]:
        """The run's settings: ``start`` plus ``NAME@STAGE`` for each stage that began with
        another value (see :mod:`regress.settings`)."""
        out = dict(start)
        for stage, seen in self.stage_settings.items():
            out.update({f"{k}@{stage}": v for k, v in seen.items() if start.get(k) != v})
        return out

    def _mark(self) -> Any:
        """A point in time: on CUDA an event recorded on the current stream (no host wait: the
        stage times come from the GPU's timeline once the call has finished), else the clock."""
        if self.mode == "cuda":
            ev = torch.cuda.Event(enable_timing=True)
            ev.record()
            return ev
        return time.perf_counter()

    def _seconds(self, a: Any, b: Any) -> float:
        return a.elapsed_time(b) / 1000.0 if self.mode == "cuda" else b - a

    def _close_segment(self, mark: Any) -> None:
        seg = self._seg
        if seg != "post":
            self._spans.append((seg, self._seg_start, mark))
        if self.mode == "cuda":
            # The caching allocator books allocations when the host enqueues them, so the peak
            # so far is exact at this point of the host's program order without a sync.
            peak = _cuda_allocated(self.dev)[1] + self._cuda_offset
            self.peaks[seg] = max(self.peaks.get(seg, 0), peak)
            torch.cuda.reset_peak_memory_stats(self.dev)

    # ---- CPU memory from the profiler's raw events

    def _cpu_peaks(self, times: list[int], sizes: list[int], ranges: list[tuple[int, int, str]]) -> None:
        """Peak of the running allocation total, overall and within each stage's ranges.

        Allocation events are classified by our ``record_function`` ranges (same clock);
        outside them, before the first decode is 'denoise' and after it 'post' (counted in
        the total only). Vectorised: a call has thousands of allocation events.
        """
        import numpy as np

        t = np.asarray(times, dtype=np.int64)
        order = np.argsort(t, kind="stable")
        t = t[order]
        base = self._resident
        # level[i]: bytes held after event i; before[i]: before it
        level = base + np.cumsum(np.asarray(sizes, dtype=np.int64)[order])
        before = np.concatenate(([base], level[:-1])) if len(level) else level

        decode_start = min((a for a, _, st in ranges if st in DECODE_STAGES), default=None)
        segment = np.zeros(len(t), dtype=np.int8)  # 0 denoise, 1 post, 2.. ranges' stages
        if decode_start is not None:
            segment[t > decode_start] = 1
        names = ["denoise", "post"]
        peaks: dict[str, int] = {"denoise": base, "total": int(max(base, level.max(initial=base)))}
        for a, b, stage in ranges:
            if stage not in names:
                names.append(stage)
            segment[(t >= a) & (t <= b)] = names.index(stage)
            # a stage starts at the level its predecessor left, allocating or not
            i = int(np.searchsorted(t, a, side="left"))
            start_level = int(before[i]) if i < len(before) else int(level[-1]) if len(level) else base
            peaks[stage] = max(peaks.get(stage, 0), start_level)
        for k, stage in enumerate(names):
            mask = segment == k
            if mask.any():
                peaks[stage] = max(peaks.get(stage, 0), int(level[mask].max()))
        self.peaks = peaks

    def perf(self) -> Perf:
        stages = {s: self.times[s] for s in STAGES if s in self.times}
        if self.mode == "none":
            return Perf(wall_s=self.wall_s, stages=stages)
        peaks = {k: v for k, v in self.peaks.items() if k != "post"}
        peaks["total"] = max(self.peaks.values(), default=0)
        if self.mode == "cuda":
            return Perf(wall_s=self.wall_s, stages=stages, peak_memory=peaks,
                        memory_source="cuda.max_memory_allocated")
        return Perf(wall_s=self.wall_s, stages=stages, peak_memory=peaks, memory_source="profiler")


def _cuda_allocated(dev: Any) -> tuple[int, int]:
    """(current, peak) bytes allocated on a CUDA/ROCm device, from one read of the allocator's
    statistics (``torch.cuda.max_memory_allocated`` flattens and sorts every statistic on each
    call, which the meter does at every stage boundary)."""
    stats = torch.cuda.memory_stats_as_nested_dict(dev).get("allocated_bytes", {}).get("all", {})
    return int(stats.get("current", 0)), int(stats.get("peak", 0))
