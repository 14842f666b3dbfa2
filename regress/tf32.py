"""TF32 switched for a block and put back exactly as it was: the one save-and-restore.

SSIM and LPIPS in ``fp32`` mode must not run on TF32 (their figures would depend on the
process's settings), LPIPS in ``tf32`` mode must, and calibration runs once with TF32 flipped.
torch >= 2.9 also keeps per-backend precision strings (``fp32_precision``) that setting the
legacy flags rewrites, so both are saved and restored.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any


@contextlib.contextmanager
def tf32(on: bool | None) -> Iterator[None]:
    """TF32 for cuDNN convolutions and CUDA matmuls ``on`` (True / False) inside the block, or
    left as it is (None: only restored afterwards, for code that changes it itself)."""
    import torch

    b = torch.backends
    legacy = (b.cuda.matmul.allow_tf32, b.cudnn.allow_tf32)
    modern: list[tuple[Any, str]] = []
    for obj in (getattr(b.cuda, "matmul", None), getattr(b.cudnn, "conv", None)):
        if obj is not None and hasattr(obj, "fp32_precision"):
            modern.append((obj, obj.fp32_precision))
    try:
        if on is not None:
            b.cuda.matmul.allow_tf32 = b.cudnn.allow_tf32 = on
        yield
    finally:
        b.cuda.matmul.allow_tf32, b.cudnn.allow_tf32 = legacy
        for obj, value in modern:
            with contextlib.suppress(Exception):
                obj.fp32_precision = value
