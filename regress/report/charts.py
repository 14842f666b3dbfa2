"""The report's small inline SVG charts: the per-frame SSIM sparkline and audio waveforms,
as the numbers the templates draw (points, scale, marks).

Apart from :mod:`regress.report.html` because they are geometry, not page assembly.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from typing import Any

from .summary import as_float, fmt_value


def sparkline(values: Sequence[Any], worst: int | None, width: int = 420, height: int = 60) -> dict[str, Any] | None:
    """Per-frame SSIM as a line; the worst frame in red; a cursor follows the scrubber."""
    vals = [as_float(v) for v in values]
    finite = [v for v in vals if v is not None and math.isfinite(v)]
    if len(vals) < 2 or not finite:
        return None
    lo, hi = min(finite), max(finite)
    if hi - lo < 1e-12:
        lo, hi = lo - 1e-6, hi + 1e-6
    pad = 6
    step = (width - 2 * pad) / (len(vals) - 1)

    def y(v: float | None) -> float:
        if v is None or not math.isfinite(v):
            return height - pad
        return pad + (hi - v) / (hi - lo) * (height - 2 * pad)

    mark = None
    if worst is not None and 0 <= worst < len(vals):
        mark = (f"{pad + worst * step:.1f}", f"{y(vals[worst]):.1f}")
    return {"width": width, "height": height, "pad": pad, "step": f"{step:.3f}", "mark": mark,
            "points": " ".join(f"{pad + i * step:.1f},{y(v):.1f}" for i, v in enumerate(vals)),
            "lo": fmt_value(lo), "hi": fmt_value(hi)}


def wave(env: Sequence[Sequence[float]], color: str, width: int = 600, height: int = 70) -> dict[str, Any] | None:
    if not env:
        return None
    peak = max(max(abs(a), abs(b)) for a, b in env)
    mid = height / 2
    out = {"color": color, "peak": f"{peak:.3g}", "mid": f"{mid:.1f}", "width": f"{width:.1f}", "flat": not peak}
    if peak:  # else a silent track (an identical pair's diff): the flat line, labelled "peak 0"
        k = (mid - 2) / peak
        xs = _wave_xs(len(env), width)
        top = [f"{x},{mid - b * k:.1f}" for x, (_, b) in zip(xs, env, strict=True)]
        bottom = [f"{x},{mid - a * k:.1f}" for x, (a, _) in zip(xs, env, strict=True)]
        out["points"] = " ".join(top + bottom[::-1])
    return out


@functools.lru_cache(maxsize=8)
def _wave_xs(n: int, width: int) -> tuple[str, ...]:
    """The x coordinates of an n-point waveform, formatted once per (n, width): every track of
    a report has the same number of points."""
    step = width / max(n - 1, 1)
    return tuple(f"{i * step:.1f}" for i in range(n))
