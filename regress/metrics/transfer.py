"""Host -> device streaming of uint8 frames, overlapped with the work on them.

Why: for a 121-frame 720p video pair (0.67 GB) the metric kernels take a few milliseconds,
while copying from ordinary (pageable) host memory takes 70-90 ms on an H100 (the driver
stages it through a small pinned buffer, one piece at a time) and from pinned memory about
12 ms. So the arrays travel in chunks of whole frames through a few pinned staging slots:
host threads copy chunk i+1 into a free slot while the DMA engine moves chunk i and the GPU
computes on chunk i-1. The data stay uint8 until they are on the device.

Modes (``REGRESS_H2D``, see :data:`MODE`): ``stage`` (default, above), ``direct`` (plain
``tensor.to(device)`` per chunk, the baseline), ``register`` (page-lock the caller's arrays
in place with ``cudaHostRegister``, copy at DMA speed, unregister afterwards). The
benchmark times all three; ``stage`` does not depend on how fast the OS pins pages.

Pinned slots are kept for the life of the process (allocating pinned memory costs
milliseconds per hundred MB), one set per device and slot size.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import numpy as np

from ..env import REGRESS_H2D

MODES = ("stage", "direct", "register")
MODE: str | None = None  # None: $REGRESS_H2D or "stage"
SLOTS = 3  # pinned staging slots: one being filled, one in flight, one spare
HOST_THREADS = max(1, min(8, os.cpu_count() or 1))

_pools: dict[int, ThreadPoolExecutor] = {}
_pool_lock = threading.Lock()
_slots: dict[tuple[str, int, int], list[Any]] = {}
_MAX_SLOT_SETS = 2  # slot sets of different sizes kept at once (e.g. image and video comparisons)


def mode() -> str:
    m = MODE or os.environ.get(REGRESS_H2D, "stage") or "stage"
    if m not in MODES:
        raise ValueError(f"{REGRESS_H2D}={m!r}: expected one of {', '.join(MODES)}")
    return m


def _executor() -> ThreadPoolExecutor:
    with _pool_lock:
        if HOST_THREADS not in _pools:
            _pools[HOST_THREADS] = ThreadPoolExecutor(max_workers=HOST_THREADS, thread_name_prefix="regress-h2d")
        return _pools[HOST_THREADS]


def frames_per_chunk(frame_bytes: int, n_arrays: int, budget: int) -> int:
    return max(1, budget // max(1, frame_bytes * n_arrays))


def stream_frames(arrays: Sequence[np.ndarray], dev: Any, chunk_frames: int) -> Iterator[tuple[int, int, list[Any]]]:
    """Yield ``(t0, t1, [device tensor per array])`` for consecutive frame chunks.

    The arrays share their leading (frame) dimension. Each yielded tensor is valid until the
    next iteration: the consumer enqueues its work on the current CUDA stream before asking
    for the next chunk (the slot is reused only after that work has finished on the GPU).
    On a non-CUDA device the chunks are plain (zero-copy on CPU) tensors.
    """
    import torch

    arrays = [np.ascontiguousarray(a) for a in arrays]
    T = arrays[0].shape[0]
    if any(a.shape[0] != T for a in arrays):
        raise ValueError("arrays differ in frame count")
    if dev.type != "cuda":
        for t0 in range(0, T, chunk_frames):
            t1 = min(T, t0 + chunk_frames)
            yield t0, t1, [torch.from_numpy(a[t0:t1]).to(dev) for a in arrays]
        return
    m = mode()
    if m == "direct":
        for t0 in range(0, T, chunk_frames):
            t1 = min(T, t0 + chunk_frames)
            yield t0, t1, [torch.from_numpy(a[t0:t1]).to(dev, non_blocking=False) for a in arrays]
        return
    if m == "register":
        yield from _stream_registered(arrays, dev, chunk_frames)
        return
    yield from _stream_staged(arrays, dev, chunk_frames)


def _stream_staged(arrays: list[np.ndarray], dev: Any, chunk_frames: int) -> Iterator[tuple[int, int, list[Any]]]:
    import torch

    T = arrays[0].shape[0]
    chunk_frames = max(1, min(chunk_frames, T))
    frame_bytes = [a[0].nbytes for a in arrays]
    slots = _staging_slots(dev, [chunk_frames * fb for fb in frame_bytes])
    compute = torch.cuda.current_stream(dev)
    copier = _copy_stream(dev)
    chunks = [(t0, min(T, t0 + chunk_frames)) for t0 in range(0, T, chunk_frames)]
    pool = _executor()
    h2d_done = [torch.cuda.Event() for _ in range(SLOTS)]
    consumed = [torch.cuda.Event() for _ in range(SLOTS)]
    used = [False] * SLOTS
    pending: dict[int, list[Future]] = {}
    copier.wait_stream(compute)  # an earlier call's kernels may still read the device slots

    def fill(i: int) -> None:
        """Copy chunk i into its pinned slot with the host threads (numpy copies release the
        GIL); the slot's previous DMA must be finished first."""
        s = i % SLOTS
        if used[s]:
            h2d_done[s].synchronize()
        t0, t1 = chunks[i]
        futs = []
        for a, host in zip(arrays, slots[s]["host"], strict=False):
            src = a[t0:t1].reshape(-1)
            dst = host[: src.size]
            step = max(1 << 20, -(-src.size // HOST_THREADS))
            for o in range(0, src.size, step):
                futs.append(pool.submit(np.copyto, dst[o:o + step], src[o:o + step]))
        pending[i] = futs

    for i in range(min(SLOTS - 1, len(chunks))):
        fill(i)
    for i, (t0, t1) in enumerate(chunks):
        s = i % SLOTS
        for fut in pending.pop(i):
            fut.result()
        outs = []
        with torch.cuda.stream(copier):
            if used[s]:
                copier.wait_event(consumed[s])  # the GPU is done with this slot's device buffers
            for a, host_t, dev_t in zip(arrays, slots[s]["host_t"], slots[s]["dev"], strict=False):
                n = (t1 - t0) * a[0].size
                dev_t[:n].copy_(host_t[:n], non_blocking=True)
                outs.append(dev_t[:n].view((t1 - t0,) + a.shape[1:]))
            h2d_done[s].record(copier)
        used[s] = True
        compute.wait_event(h2d_done[s])
        if i + SLOTS - 1 < len(chunks):
            fill(i + SLOTS - 1)  # overlaps with the DMA and the consumer's kernels
        yield t0, t1, outs
        consumed[s].record(compute)
    # Slots must not be refilled by a later call while this call's DMA may still read them.
    for s in range(SLOTS):
        if used[s]:
            h2d_done[s].synchronize()


def _stream_registered(arrays: list[np.ndarray], dev: Any, chunk_frames: int) -> Iterator[tuple[int, int, list[Any]]]:
    import torch

    cudart = torch.cuda.cudart()
    registered = []
    try:
        for a in arrays:
            err = cudart.cudaHostRegister(a.ctypes.data, a.nbytes, 0)
            if int(err) != 0:
                raise RuntimeError(f"cudaHostRegister failed ({err})")
            registered.append(a)
        T = arrays[0].shape[0]
        for t0 in range(0, T, chunk_frames):
            t1 = min(T, t0 + chunk_frames)
            yield t0, t1, [torch.from_numpy(a[t0:t1]).to(dev, non_blocking=True) for a in arrays]
        torch.cuda.current_stream(dev).synchronize()  # the DMA reads the caller's memory
    finally:
        for a in registered:
            cudart.cudaHostUnregister(a.ctypes.data)


_copy_streams: dict[int, Any] = {}


def _copy_stream(dev: Any) -> Any:
    import torch

    idx = dev.index if dev.index is not None else torch.cuda.current_device()
    if idx not in _copy_streams:
        _copy_streams[idx] = torch.cuda.Stream(device=idx)
    return _copy_streams[idx]


def _staging_slots(dev: Any, nbytes: list[int]) -> list[dict[str, Any]]:
    """SLOTS sets of (pinned host buffer, device buffer) per array, reused across calls."""
    import torch

    key = (str(dev), len(nbytes), max(nbytes))
    slots = _slots.get(key)
    if slots is None:
        size = max(nbytes)
        slots = []
        # Plain tensors even when the first call comes from inference mode: inference tensors
        # cannot be written in place (copy_) by a later call outside it.
        with torch.inference_mode(False):
            _alloc(slots, size, nbytes, dev)
        while len(_slots) >= _MAX_SLOT_SETS:  # bound pinned memory: drop the oldest size
            _slots.pop(next(iter(_slots)))
        _slots[key] = slots
    return slots


def _alloc(slots: list[dict[str, Any]], size: int, nbytes: list[int], dev: Any) -> None:
    import torch

    for _ in range(SLOTS):
        host_t = [torch.empty(size, dtype=torch.uint8, pin_memory=True) for _ in nbytes]
        slots.append({"host_t": host_t, "host": [h.numpy() for h in host_t],
                      "dev": [torch.empty(size, dtype=torch.uint8, device=dev) for _ in nbytes]})
