"""The one form frame metrics take: two arrays viewed as (T, H, W, C), and their device copies.

Every frame metric (SSIM, the pixel statistics, LPIPS) reads the same :class:`FramePair`,
validated once per comparison (host path: :func:`regress.metrics.frames.frame_pair`; device
path: :func:`regress.metrics.frames.device_frame_pair`). A slice of it goes to the device as it
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
    once, with what is known of them once: whether they are identical and whether the fused
    kernel takes them. Host path: numpy views (:meth:`of`); device path (``on_device``): uint8
    torch tensors on one device."""

    golden: Any
    current: Any
    identical: bool = False  # equal finite values; False also where the check was skipped or not made
    fused: bool = False  # the fused GPU kernel takes this pair on the run's device
    on_device: bool = False  # torch tensors on a device, not host arrays

    @classmethod
    def of(cls, a: Any, b: Any) -> FramePair:
        """A host pair of ``a`` and ``b`` (see :func:`as_frames`), nothing else checked yet."""
        a4, b4 = as_frames(a, b)
        return cls(golden=a4, current=b4)

