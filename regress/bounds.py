"""The arithmetic that turns measured distances into bounds, shared by the noise floor
(:mod:`regress.calibrate`: runs on this machine) and the drift bounds (:mod:`regress.drift`:
kernel paths and goldens of one backend).

Why one module: both records state the same rule, and a bound means the same thing whichever
measured it::

    bound distance = max(margin x worst observed distance, one-code distance)

on a distance that is 0 for identical outputs (``1 - ssim``; the MSE behind ``psnr``; the
noise-to-signal energy ratio behind ``audio_snr``; the value itself for ``max_abs``,
``mean_abs``, ``lpips``, ``audio_mel`` and ``audio_max_abs``), where the one-code distance is
what a golden scores against itself with a single value moved by one code at one place (1/255
at one pixel, one 16-bit PCM step at one audio sample, one float32 ulp of a stage tensor or of
one mesh vertex's coordinate; ``1 - value`` for the mesh similarities, the value itself for the
normalised mesh distances).
Bounds are clamped to each metric's range, and only finite ones are written into a meta.json.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from .metrics.catalog import METRICS
from .outputs import Output

MARGIN = 2.0
# Metrics that get calibrated thresholds (image_* duplicates of combined outputs are left alone).
CALIBRATED = ("ssim", "ssim_worst", "psnr", "psnr_worst", "max_abs", "mean_abs", "lpips", "lpips_worst",
              "audio_snr", "audio_mel", "audio_max_abs", "stage_cos", "stage_rel_l2",
              "mesh_chamfer", "mesh_hausdorff", "mesh_fscore", "mesh_normal", "mesh_depth_ssim")
# Metrics whose distance is 1 - value (a similarity of 1 for identical outputs).
_ONE_MINUS = ("stage_cos", "mesh_fscore", "mesh_normal")
AUDIO_CODE = 1.0 / 32768.0  # one step of 16-bit PCM: the smallest audio change the report can show


def distance(name: str, value: float) -> float:
    """0 for identical outputs, growing with the difference."""
    if name.startswith("ssim") or name.endswith("_ssim") or name in _ONE_MINUS:
        return 1.0 - value
    if name.startswith("psnr"):
        return 0.0 if math.isinf(value) and value > 0 else 255.0**2 * 10.0 ** (-value / 10.0)
    if name == "audio_snr":
        return 0.0 if math.isinf(value) and value > 0 else 10.0 ** (-value / 10.0)
    return value


def from_distance(name: str, d: float) -> float:
    spec = METRICS[name]
    if name.startswith("ssim") or name.endswith("_ssim") or name in _ONE_MINUS:
        v = 1.0 - d
    elif name.startswith("psnr"):
        v = math.inf if d <= 0 else 10.0 * math.log10(255.0**2 / d)
    elif name == "audio_snr":
        v = math.inf if d <= 0 else -10.0 * math.log10(d)
    else:
        v = d
    return min(max(v, spec.low), spec.high)


def derive_thresholds(floor: dict[str, float], quantum: dict[str, float], margin: float = MARGIN) -> dict[str, float]:
    """Apply the rule of the module docstring to each metric present in both tables."""
    out: dict[str, float] = {}
    for name in CALIBRATED:
        if name in floor and name in quantum:
            d = max(margin * distance(name, floor[name]), distance(name, quantum[name]))
            out[name] = from_distance(name, d)
    return out


def finite_bounds(thresholds: dict[str, float], *, case_id: str, what: str) -> tuple[dict[str, float], list[str]]:
    """The thresholds that may be written into a golden's meta.json, and a one-line warning for
    each one that may not (naming the case and the metric).

    Why: a non-finite stage tensor makes a NaN distance, a golden tensor of zero norm an
    infinite relative L2; written as a bound, every later load of the golden refuses it
    (:func:`regress.stores.base.meta_problem`), so one bad measurement would take the golden
    out of every run. Such a metric is left unmeasured instead (judged as before)."""
    from .stores.base import meta_problem

    kept: dict[str, float] = {}
    dropped: list[str] = []
    for name, value in thresholds.items():
        problem = None
        if not isinstance(value, (int, float)) or not math.isfinite(value):
            problem = f"{value} is not a finite number"
        else:
            found = meta_problem({"files": {}, what: {"thresholds": {name: value}}})
            problem = found.split(": ", 1)[-1] if found else None
        if problem:
            dropped.append(f"{case_id}: {what} {name} not written ({problem}; a non-finite checkpoint or a "
                           "zero-norm golden tensor measures nothing)")
        else:
            kept[name] = value
    return kept, dropped


def worst_values(runs: list[dict[str, Any]]) -> dict[str, float]:
    """Worst value of each metric over the runs (NaN is worst of all)."""
    floor: dict[str, float] = {}
    for name in CALIBRATED:
        vals = [r["values"][name] for r in runs if name in r["values"]]
        if not vals:
            continue
        if any(isinstance(v, float) and math.isnan(v) for v in vals):
            floor[name] = math.nan
        else:
            floor[name] = min(vals) if METRICS[name].higher_is_better else max(vals)
    return floor


def stage_values(golden: Output, current: Output) -> dict[str, float]:
    """The stage-checkpoint metrics of a pair (worst over its checkpoints), when both have them."""
    from .metrics.stages import stage_evidence

    return stage_evidence(golden, current)[1]


def stage_quantum(golden: Output) -> dict[str, float]:
    """The smallest change a stage checkpoint can show: one float32 ulp at one value of its
    largest tensor, as the stage metrics score it against the golden."""
    if not golden.stages:
        return {}
    bumped = {k: v.copy() for k, v in golden.stages.items()}
    key = max(bumped, key=lambda k: bumped[k].size)
    flat = bumped[key].reshape(-1)
    i = int(np.argmax(np.abs(flat)))
    flat[i] = np.nextafter(flat[i], np.float32(np.inf), dtype=np.float32)
    return stage_values(golden, Output(image=np.zeros((1, 1, 3), np.uint8), stages=bumped))


def one_code_change(output: Output) -> Output:
    """The golden with one value moved by one code on each track: the smallest change an output
    can show (1/255 at one pixel; one 16-bit PCM step at one audio sample)."""
    def bump(arr: np.ndarray) -> np.ndarray:
        arr = arr.copy()
        idx = tuple(s // 2 for s in arr.shape[:-1]) + (0,)
        arr[idx] = arr[idx] - 1 if arr[idx] > 0 else arr[idx] + 1
        return arr

    def bump_audio(arr: np.ndarray) -> np.ndarray:
        arr = arr.copy()
        idx = (0, arr.shape[1] // 2)
        arr[idx] = arr[idx] - AUDIO_CODE if arr[idx] > 0 else arr[idx] + AUDIO_CODE
        return arr

    def bump_mesh(arr: np.ndarray) -> np.ndarray:  # one float32 ulp of one coordinate of one vertex
        arr = arr.copy()
        i = len(arr) // 2
        arr[i, 0] = np.nextafter(arr[i, 0], np.float32(np.inf), dtype=np.float32)
        return arr

    return Output(image=bump(output.image) if output.image is not None else None,
                  video=bump(output.video) if output.video is not None else None, fps=output.fps,
                  audio=bump_audio(output.audio) if output.audio is not None else None,
                  sample_rate=output.sample_rate,
                  vertices=bump_mesh(output.vertices) if output.vertices is not None else None, faces=output.faces)


def json_floats(d: dict[str, float]) -> dict[str, float | str]:
    """meta.json is strict JSON: infinities and NaN are written as strings ('inf', 'nan'); a NaN
    literal would make the golden unreadable (regress.records refuses it)."""
    def one(v: Any) -> Any:
        if isinstance(v, float) and math.isnan(v):
            return "nan"
        if isinstance(v, float) and math.isinf(v):
            return "inf" if v > 0 else "-inf"
        return v

    return {k: one(v) for k, v in d.items()}
