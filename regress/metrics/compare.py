"""Compare a current :class:`~regress.outputs.Output` with its golden, track by track.

The result holds metric values under the names of :mod:`regress.metrics.catalog` and, in
``mismatch``, every reason the two outputs cannot be compared (different kind, image
shape, frame count, frame size, fps, audio channels, sample rate or length). A track with
a mismatch gets no metrics: SSIM of a resized or re-timed video would be meaningless, and
the verdict fails the case on any mismatch anyway. Tracks present on both sides are still
compared when another track mismatches, so the report shows as much as it can.

Metric names per track:

* image: ``ssim``, ``psnr``, ``max_abs``, ``mean_abs``. If the output also has a video
  track (no built-in pipeline makes both), the image metrics are stored with an
  ``image_`` prefix so that they do not overwrite the video's.
* video: ``ssim`` (mean over frames), ``ssim_worst`` (min over frames), ``psnr`` (over all
  pixels of all frames), ``psnr_worst`` (min per-frame PSNR), ``max_abs``, ``mean_abs``;
  ``worst_frame`` is the index of the lowest-SSIM frame, ``worst_frames`` the worst frame of
  each per-frame metric, and ``per_frame`` holds the per-frame 'ssim' and 'psnr' lists.
* LPIPS, when asked for (``lpips=``): ``lpips`` (image; video: mean over frames) and, for
  video, ``lpips_worst`` (max over frames) with its frame in ``worst_frames`` and the
  per-frame list in ``per_frame``. Frames too small for the backbone get no value and a
  line in ``notes`` instead.
* audio: ``audio_snr`` (``10*log10(sum(g^2) / sum((g - c)^2))`` in dB, ``inf`` when
  identical), ``audio_mel`` (log-mel spectral distance in dB) and ``audio_max_abs``; channel
  count, sample rate and duration must match. Defined in :mod:`regress.metrics.audio`.
* mesh: ``mesh_chamfer``, ``mesh_hausdorff``, ``mesh_fscore``, ``mesh_normal`` and
  ``mesh_depth_ssim``, normalised by the golden's bounding-box diagonal; a mesh with no faces is
  a mismatch, NaN/Inf vertices make every mesh metric NaN. Defined in :mod:`regress.metrics.mesh`.

Where the frames are judged: when both outputs hold a frame track on one CUDA device (a GPU
run's output, its golden uploaded once), SSIM, the pixel statistics and LPIPS read it there
(:mod:`regress.metrics.resident`, ``on_device`` names the tracks); otherwise from the host
arrays. Same kernel, same numbers; mismatches are found before either, from the shapes.

Non-finite values are not special-cased here (the verdict fails any case with
``current.nonfinite > 0``), but the metric functions propagate NaN so that no NaN-tainted
input can yield a passing value.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..outputs import Output
from .audio import audio_metrics  # noqa: F401  (re-exported: compare's audio numbers live in audio.py)
from .lpips import LpipsRequest  # noqa: F401  (re-exported: what compare_outputs takes)

_TRACKS = ("image", "video", "audio", "vertices")  # what an Output's kind is made of (Output.kind)


@dataclass
class Comparison:
    values: dict[str, float]          # metric name -> value
    mismatch: list[str]               # reasons the outputs are not comparable; non-empty => the case fails
    worst_frame: int | None = None    # video: index of the worst-SSIM frame
    per_frame: dict[str, list[float]] = field(default_factory=dict)  # video: 'ssim', 'psnr' per frame
    worst_frames: dict[str, int] = field(default_factory=dict)  # video: metric -> index of its worst frame
    notes: dict[str, str] = field(default_factory=dict)  # metric -> why it has no value
    path: str | None = None  # which SSIM implementation ran (see regress.metrics.frames)
    on_device: tuple[str, ...] = ()  # tracks judged where they were, on the GPU (no host round trip)


def compare_outputs(golden: Output, current: Output, *, device: str = "cpu",
                    lpips: LpipsRequest | None = None) -> Comparison:
    """All metrics of every track both outputs have, plus every reason they are not comparable."""
    result = Comparison(values={}, mismatch=[])
    if [getattr(golden, t) is None for t in _TRACKS] != [getattr(current, t) is None for t in _TRACKS]:
        result.mismatch.append(f"output kind differs: golden {golden.kind}, current {current.kind}")
    if golden.image is not None and current.image is not None:
        prefix = "image_" if (golden.video is not None or current.video is not None) else ""
        _compare_image(golden, current, result, prefix, device, lpips)
    if golden.video is not None and current.video is not None:
        _compare_video(golden, current, result, device, lpips)
    if golden.audio is not None and current.audio is not None:
        _compare_audio(golden, current, result)
    if golden.vertices is not None and current.vertices is not None:
        _compare_mesh(golden, current, result)
    return result


def _compare_image(golden: Output, current: Output, out: Comparison, prefix: str, device: str,
                   lpips: LpipsRequest | None) -> None:
    g, c = golden.image, current.image
    assert g is not None and c is not None
    if g.shape != c.shape:
        out.mismatch.append(f"image shape differs: golden {_dims(g.shape)}, current {_dims(c.shape)}")
        return
    pair, fm = _frame_metrics(golden, current, "image", out, device)
    stats = fm.pixel
    max_abs, mean_abs = stats.abs_diff()
    out.path = fm.path
    out.values[prefix + "ssim"] = float(fm.ssim[0])
    out.values[prefix + "psnr"] = stats.psnr_all(255.0)
    out.values[prefix + "max_abs"] = max_abs
    out.values[prefix + "mean_abs"] = mean_abs
    if lpips is not None:
        per = _lpips(pair, fm, out, prefix + "lpips", device, lpips)
        if per is not None:
            out.values[prefix + "lpips"] = float(per[0])


def _frame_metrics(golden: Output, current: Output, track: str, out: Comparison, device: str) -> tuple[Any, Any]:
    """(the pair LPIPS reads, SSIM and pixel statistics) of a frame track of one shape, from one
    :class:`~.layout.FramePair` built once: on the device when both outputs hold the track there
    (:func:`~.resident.device_pair`), else from the host arrays (identity-checked once)."""
    from .frames import device_frame_pair, identical_metrics, pair_metrics
    from .layout import FramePair
    from .resident import device_pair

    on_device = device_pair(golden, current, track) if current.on_device is not None else None
    if on_device is None:
        pair = FramePair.of(getattr(golden, track), getattr(current, track))
        return pair, pair_metrics(pair, device=device)
    pair = device_frame_pair(*on_device)
    fm = pair_metrics(pair, device=str(pair.golden.device))
    # The squared differences are exact integer sums: zero on every frame means equal bytes,
    # found without a scan of its own. Then the values are the host path's exact ones.
    same = not fm.pixel.sse.any()
    if fm.path.startswith("fused"):  # not where the device pair fell back (no Triton, < 11x11)
        out.on_device += (track,)
    return pair, identical_metrics(tuple(pair.golden.shape)) if same else fm


def _lpips(pair: Any, fm: Any, out: Comparison, name: str, device: str, req: LpipsRequest) -> np.ndarray | None:
    from .lpips import MIN_SIDE, lpips_of, lpips_on_device

    side = MIN_SIDE[req.weights.net]
    h, w = pair.golden.shape[1], pair.golden.shape[2]
    if h < side or w < side:
        out.notes[name] = (f"not applicable: {h}x{w} frames are smaller than LPIPS-{req.weights.net}'s "
                           f"{side}x{side} minimum")
        return None
    if fm.path == "identical":  # equal features, bias-free heads: exactly 0 (see identity.py)
        return np.zeros(pair.golden.shape[0], dtype=np.float64)
    if pair.on_device:
        return lpips_on_device(golden=pair.golden, current=pair.current, weights=req.weights,
                               precision=req.precision)
    return lpips_of(pair, req.weights, device=device, precision=req.precision)


def _compare_video(golden: Output, current: Output, out: Comparison, device: str,
                   lpips: LpipsRequest | None) -> None:
    g, c = golden.video, current.video
    assert g is not None and c is not None
    reasons = []
    if g.shape[0] != c.shape[0]:
        reasons.append(f"video frame count differs: golden {g.shape[0]}, current {c.shape[0]}")
    if g.shape[1:] != c.shape[1:]:
        reasons.append(f"video frame size differs: golden {_dims(g.shape[1:])}, "
                       f"current {_dims(c.shape[1:])}")
    if golden.fps != current.fps:
        reasons.append(f"video fps differs: golden {golden.fps:g}, current {current.fps:g}")
    if reasons:
        out.mismatch.extend(reasons)
        return
    pair, fm = _frame_metrics(golden, current, "video", out, device)
    ssim, stats = fm.ssim, fm.pixel
    out.path = fm.path
    psnr = stats.psnr_frames(255.0)
    max_abs, mean_abs = stats.abs_diff()
    # np.mean / np.min / np.argmin propagate NaN: a NaN frame is the worst frame.
    out.values["ssim"] = float(np.mean(ssim))
    out.values["ssim_worst"] = float(np.min(ssim))
    out.values["psnr"] = stats.psnr_all(255.0)
    out.values["psnr_worst"] = float(np.min(psnr))
    out.values["max_abs"] = max_abs
    out.values["mean_abs"] = mean_abs
    out.worst_frame = int(np.argmin(ssim))
    out.worst_frames = {"ssim_worst": out.worst_frame, "psnr_worst": int(np.argmin(psnr))}
    out.per_frame = {"ssim": [float(v) for v in ssim], "psnr": [float(v) for v in psnr]}
    if lpips is not None:
        per = _lpips(pair, fm, out, "lpips", device, lpips)
        if per is not None:
            # np.max / np.argmax propagate NaN like the SSIM reductions above.
            out.values["lpips"] = float(np.mean(per))
            out.values["lpips_worst"] = float(np.max(per))
            out.worst_frames["lpips_worst"] = int(np.argmax(per))
            out.per_frame["lpips"] = [float(v) for v in per]


def _compare_audio(golden: Output, current: Output, out: Comparison) -> None:
    from .audio import compare_audio

    assert golden.audio is not None and current.audio is not None
    values, reasons = compare_audio(golden.audio, golden.sample_rate, current.audio, current.sample_rate)
    out.values.update(values)
    out.mismatch.extend(reasons)


def _compare_mesh(golden: Output, current: Output, out: Comparison) -> None:
    from .mesh import compare_mesh

    values, reasons = compare_mesh(golden.vertices, golden.faces, current.vertices, current.faces)
    out.values.update(values)
    out.mismatch.extend(reasons)


def _dims(shape: tuple[int, ...]) -> str:
    return "x".join(str(n) for n in shape)
