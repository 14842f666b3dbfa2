"""The one form frame metrics take: two arrays viewed as (T, H, W, C), and their device copies.

Every frame metric (SSIM, the pixel statistics, LPIPS) reads the same views, validated here
once; :func:`to_device` ships a slice as it is (uint8 stays uint8: conversion to float happens
on the device).
"""

from __future__ import annotations

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


def to_device(arr: np.ndarray, dev: Any) -> Any:
    """A torch tensor of ``arr`` on ``dev`` (the CPU: no copy), in its own dtype (bool as uint8)."""
    import torch

    arr = np.ascontiguousarray(arr)
    if arr.dtype == np.bool_:
        arr = arr.view(np.uint8)
    t = torch.from_numpy(arr)
    return t.to(dev, non_blocking=False) if dev.type != "cpu" else t
