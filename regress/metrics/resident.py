"""Judging frames where they already are: on the GPU that made them.

Why: a 121-frame 720p output pair is 0.67 GB of uint8. The fused kernel reads it in a few
milliseconds on an H100; copying it from host memory costs ~12 ms pinned and 70-90 ms
pageable (:mod:`regress.metrics.transfer`). A GPU run's frames are quantised on the device
and stay there (:class:`regress.outputs.DeviceFrames`), so only the golden has to travel, and
only once:

* :func:`device_pair` gives a track's two device copies when both outputs hold it on one
  CUDA device; when only the current output does, it first uploads the golden's frames
  (through the pinned pipeline) and keeps them on the golden's :class:`~regress.outputs.Output`,
  so a golden compared again (calibrate's runs, a sweep's repeats) is not uploaded again;
* :class:`GoldenOnDevice` keeps one case's golden frames across fresh loads of the same
  golden (bisect judges one case once per variant, loading it each time) and lets them go
  with the case.

Anything else (a CPU run, a hand-made output, an output and golden on different devices)
takes the host path. Both paths run the same kernel and give the same numbers.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import numpy as np

from ..outputs import Output

TRACKS = ("image", "video")


def on_gpu(t: Any) -> bool:
    """``t`` is a tensor on a CUDA (or ROCm) device: where frames are judged without a host
    round trip (:func:`regress.metrics.frames.frame_metrics_on_device`)."""
    return t is not None and bool(getattr(t, "is_cuda", False))


def device_pair(golden: Output, current: Output, track: str) -> tuple[Any, Any] | None:
    """(golden, current) device copies of ``track`` when it can be judged where the current
    output is, uploading the golden's once if needed; None: judge on the host. The caller has
    checked that the two tracks have one shape."""
    c = current.device_frames(track)
    if not on_gpu(c):
        return None
    g = golden.device_frames(track)
    if g is None:
        g = upload(getattr(golden, track), c.device)
        kept = {t: golden.device_frames(t) for t in TRACKS}
        golden.keep_on_device(**{**kept, track: g})
    if not (on_gpu(g) and g.device == c.device):
        return None
    return g, c


def upload(frames: np.ndarray, device: Any) -> Any:
    """A uint8 array on ``device``, in whole-frame chunks through the pinned staging slots of
    :func:`~regress.metrics.transfer.stream_frames` (a plain ``.to(device)`` from pageable
    memory runs at a fraction of the bus's speed)."""
    import contextlib

    import torch

    from .frames import CHUNK_BYTES
    from .transfer import frames_per_chunk, stream_frames

    a4 = frames if frames.ndim == 4 else frames[None]
    dev = torch.device(device)
    with torch.cuda.device(dev) if dev.type == "cuda" else contextlib.nullcontext():
        dst = torch.empty(a4.shape, dtype=torch.uint8, device=dev)
        for t0, t1, (x,) in stream_frames([a4], dev, frames_per_chunk(a4[0].nbytes, 1, CHUNK_BYTES)):
            dst[t0:t1].copy_(x)  # on the stream the slot's copy was ordered before
    return dst.reshape(frames.shape)


class GoldenOnDevice:
    """The device copies of one golden's frames, kept while its case is being judged.

    Keyed by the case and the sha256 of the golden's files (checked when it was loaded), so a
    re-published golden is never judged through a stale copy. Holds one golden at most: a
    different key releases the previous one, and so does :meth:`release` (the session calls it
    once a case is judged, and on close)."""

    def __init__(self) -> None:
        self._key: str | None = None
        self._frames: dict[str, Any] = {}

    def lend(self, *, case_id: str, meta: Mapping[str, Any], golden: Output) -> None:
        """Give ``golden`` the frames kept for it, if any (before comparing)."""
        key = _key(case_id, meta)
        if key is None or key != self._key:
            self.release()
            self._key = key
            return
        if golden.on_device is None and self._frames:
            golden.keep_on_device(**self._frames)

    def keep(self, golden: Output) -> None:
        """Remember the frames the comparison uploaded for ``golden`` (after comparing)."""
        if self._key is not None and golden.on_device is not None:
            self._frames = {t: golden.device_frames(t) for t in TRACKS if golden.device_frames(t) is not None}

    def release(self) -> None:
        self._key, self._frames = None, {}

    @property
    def holds(self) -> tuple[str, ...]:
        """The tracks held now (for tests and the docs' claim that one golden at most is kept)."""
        return tuple(self._frames)


def _key(case_id: str, meta: Mapping[str, Any]) -> str | None:
    files = meta.get("files")
    if not isinstance(files, Mapping) or not files:
        return None  # nothing proves two loads are the same golden: do not keep it
    return json.dumps([case_id, sorted(files.items())])
