"""Is the current output byte-for-byte the golden? The short-cut behind every metric.

Why: most golden checks compare an output with the golden it reproduces exactly (CUDA and
CPU runs of the built-in families are bit-reproducible). For an identical pair every metric
is known without computing it: SSIM is 1 (numerator and denominator of each window are the
same expression), the squared and absolute differences are 0, PSNR is infinite, LPIPS is 0
(its features differ by exactly zero and its linear heads have no bias), the audio SNR is
infinite and the log-mel distance 0. Computing them anyway cost ~4 ms per tiny case on an
H100 (host->device copies, a kernel launch and a synchronisation) against ~60 ms of pipeline
call, which is most of the framework's overhead budget.

The check is exact and cheap: a chunked comparison that stops at the first differing chunk,
so a changed output costs one chunk before the real metrics run. It only applies to
integer data (quantised frames) or to finite floats: NaN is never equal to itself, and an
Inf that matches an Inf must still fail through the metrics' non-finite handling, so float
inputs with a non-finite value never take the short-cut.
"""

from __future__ import annotations

import numpy as np

# Bytes compared per step: small enough that a differing output is rejected almost for free,
# large enough that numpy's vectorised compare runs at memory speed.
CHUNK_BYTES = 4 << 20


def identical(a: np.ndarray, b: np.ndarray, *, max_bytes: int | None = None) -> bool:
    """True when ``a`` and ``b`` have one shape and dtype and the same finite values.

    ``max_bytes``: above this size return False without looking (a caller whose own path is
    faster than a host-side scan of large arrays, like the fused GPU kernel, passes it).
    """
    a, b = np.asarray(a), np.asarray(b)
    if a.shape != b.shape or a.dtype != b.dtype:
        return False
    floating = np.issubdtype(a.dtype, np.floating) or np.issubdtype(a.dtype, np.complexfloating)
    if not (floating or np.issubdtype(a.dtype, np.integer) or a.dtype == np.bool_):
        return False
    if max_bytes is not None and a.nbytes > max_bytes:
        return False
    fa, fb = a.reshape(-1), b.reshape(-1)  # a copy only for non-contiguous inputs
    step = max(1, CHUNK_BYTES // max(1, a.itemsize))
    for i in range(0, fa.size, step):
        x, y = fa[i:i + step], fb[i:i + step]
        if not np.array_equal(x, y):
            return False  # NaN != NaN lands here too
        if floating and not np.isfinite(x).all():
            return False
    return True
