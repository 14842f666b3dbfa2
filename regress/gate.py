"""The quality gate a new golden must pass before it is published.

A golden that is blank, constant or holds NaN/Inf would make every later comparison
meaningless (everything "matches" a black square), so refresh refuses it unless forced.
"""

from __future__ import annotations

import numpy as np

from .outputs import Output


def _frame_problem(frame: np.ndarray) -> str | None:
    lo, hi = int(frame.min()), int(frame.max())
    if hi - lo == 0:
        return f"constant (every pixel {lo})"
    if hi <= 8:
        return "blank (all pixels <= 8/255)"
    return None


def quality_problems(output: Output) -> list[str]:
    """Reasons this output must not become a golden (empty list: fine)."""
    problems: list[str] = []
    if output.nonfinite:
        problems.append(f"output held {output.nonfinite} NaN/Inf values before quantisation")
    if output.image is not None:
        p = _frame_problem(output.image)
        if p:
            problems.append(f"image is {p}")
    if output.video is not None:
        bad = [(i, p) for i, f in enumerate(output.video) if (p := _frame_problem(f))]
        if bad:
            i, p = bad[0]
            problems.append(f"{len(bad)} of {len(output.video)} video frames are blank or constant "
                            f"(first: frame {i}, {p})")
    if output.audio is not None:
        a = output.audio
        if not np.all(np.isfinite(a)):
            problems.append("audio holds NaN/Inf")
        elif float(np.max(np.abs(a))) == 0.0:
            problems.append("audio is silent (all zeros)")
    return problems
