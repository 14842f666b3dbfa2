"""Per-case images for the report: golden, actual and a diff heat-map, as PNG files.

Video is shown as a strip of its frames (the worst frame marked in the page); the diff
heat-map scales the largest difference of the case to full brightness, so a 1/255 change is
visible, and an identical pair stays black.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from ..session import CaseRun


def _strip(frames: np.ndarray) -> np.ndarray:
    """TxHxWx3 -> Hx(T*W)x3, one pixel of gap between frames."""
    t, h, w, c = frames.shape
    out = np.zeros((h, t * (w + 1) - 1, c), dtype=np.uint8)
    for i in range(t):
        out[:, i * (w + 1): i * (w + 1) + w] = frames[i]
    return out


def heatmap(golden: np.ndarray, actual: np.ndarray) -> np.ndarray:
    """Black (same) -> red -> yellow -> white (largest difference in this pair)."""
    d = np.abs(golden.astype(np.int16) - actual.astype(np.int16)).max(axis=-1).astype(np.float32)
    peak = float(d.max())
    x = d / peak if peak > 0 else d
    rgb = np.stack([np.clip(3 * x, 0, 1), np.clip(3 * x - 1, 0, 1), np.clip(3 * x - 2, 0, 1)], axis=-1)
    return np.rint(rgb * 255).astype(np.uint8)


def _save_png(path: Path, arr: np.ndarray) -> None:
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(arr, mode="RGB").save(path)


def _pixels(output: object) -> np.ndarray | None:
    img = getattr(output, "image", None)
    if img is not None:
        return img
    vid = getattr(output, "video", None)
    return _strip(vid) if vid is not None else None


def write_case_assets(report_dir: Path, run: CaseRun) -> None:
    """Write golden.png / actual.png / diff.png for a case and note their paths in the verdict."""
    v = run.verdict
    rel = Path("cases") / v.id / v.platform
    actual = _pixels(run.result.output) if run.result is not None else None
    golden = _pixels(run.golden_output) if run.golden_output is not None else None
    if actual is not None:
        _save_png(report_dir / rel / "actual.png", actual)
        v.files["actual"] = (rel / "actual.png").as_posix()
    if golden is not None:
        _save_png(report_dir / rel / "golden.png", golden)
        v.files["golden"] = (rel / "golden.png").as_posix()
    if actual is not None and golden is not None and actual.shape == golden.shape:
        _save_png(report_dir / rel / "diff.png", heatmap(golden, actual))
        v.files["diff"] = (rel / "diff.png").as_posix()
