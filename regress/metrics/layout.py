"""The one form frame metrics take: two arrays viewed as (T, H, W, C), and their device copies.

Every frame metric (SSIM, the pixel statistics, LPIPS) reads the same :class:`FramePair`,
validated once per comparison (host path: :meth:`FramePair.of`; device path:
:func:`regress.metrics.frames.device_frame_pair`). A slice of it goes to the device as it
is (:func:`regress.metrics.ssim.to_device`: uint8 stays uint8, conversion to float happens there).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np


def as_frames(a: Any, b: Any) -> tuple[np.ndarray, np.ndarray]:
    """Validate and view both inputs as (T, H, W, C) without copying or converting."""
    a, b = np.asarray(a), np.asarray(b)
    if a.shape != b.shape:
        raise ValueError(f"inputs differ in shape: {a.shape} vs {b.shape}")
    if a.ndim not in (3, 4):
        raise ValueError(f"expected (H, W, C) or (T, H, W, C) arrays, got shape {a.shape}")
    for arr in (a, b):
        if not (np.issubdtype(arr.dtype, np.integer) or np.issubdtype(arr.dtype, np.floating)
                or arr.dtype == np.bool_):
            raise ValueError(f"inputs must be real numbers, got dtype {arr.dtype}")
    if a.ndim == 3:
        a, b = a[None], b[None]
    if 0 in a.shape:
        raise ValueError(f"inputs are empty: shape {a.shape}")
    return a, b


@dataclass(frozen=True)
class FramePair:
    """Two images or videos in the one form every frame metric reads: (T, H, W, C), validated
    once. Host path: numpy views (:meth:`of`); device path (``on_device``): uint8 torch tensors
    on one device, with ``fused`` saying whether the kernel takes them where they are.
    (Whether the pair is identical is the metrics' first answer: ``FrameMetrics.path``.)"""

    golden: Any
    current: Any
    fused: bool = False  # device path: the fused GPU kernel takes this pair where it is
    on_device: bool = False  # torch tensors on a device, not host arrays

    @classmethod
    def of(cls, a: Any, b: Any) -> FramePair:
        """A host pair of ``a`` and ``b`` (see :func:`as_frames`)."""
        a4, b4 = as_frames(a, b)
        return cls(golden=a4, current=b4)

