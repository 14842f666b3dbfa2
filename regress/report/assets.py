"""Per-case media for the report, written beside ``index.html`` under ``cases/<id>/<platform>/``.

* image: ``golden.png``, ``actual.png`` and ``diff.png`` (a heat-map).
* video: one PNG per frame under ``golden/``, ``actual/`` and ``diff/`` (``000.png`` ...), so
  that the page can scrub through frames of any length without decoding one giant strip;
  ``files`` points at the worst frame, the one a reader wants first.
* audio: ``golden.wav`` / ``actual.wav`` (16-bit PCM, what every browser plays) and, in the
  returned ``media``, min/max waveform envelopes that the page draws as SVG without JS.
* mesh: ``mesh_golden.png``, ``mesh_actual.png`` (grey shaded renders from the metrics' six fixed
  views, both meshes in the golden's frame, so a moved or resized mesh shows) and
  ``mesh_error.png`` (the current mesh coloured per vertex by its distance to the golden: grey
  none, red half the largest, yellow the largest; ``media["mesh"]["error_peak"]`` gives that
  largest distance over the golden's diagonal, for the page's scale line).

The heat-map scales the largest difference of the case to full brightness (for video, the
largest over all frames, so frames compare with each other): a 1/255 change is visible and
an identical pair stays black. That largest difference is recorded (``diff_peak``) so that the
page draws a scale bar beside the heat-map: a 1/255 change must not read as a 100/255 one. Frames larger than ``MAX_SIDE`` are shrunk for the page; the
diff shrinks by block maximum so that a single changed pixel survives the shrinking.

A bit-identical pair (the common case: GPU runs reproduce) is written once: the "actual" entries
point at the golden's files, no diff is written, and ``media[track]["identical"]`` is True (the
page then says so instead of showing a black heat-map), so that a passing, reproducible run
encodes each frame once instead of three times. Its audio media carry the golden's waveform
envelope only: the actual's is the same and the difference's is flat.
"""

from __future__ import annotations

import io
import math
import wave
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..metrics.identity import identical as same_values
from .png import encode_png

if TYPE_CHECKING:
    from ..outputs import Output
    from ..verdict import Verdict

MAX_SIDE = 512  # longest side of a frame shown in the report
WAVE_POINTS = 300  # min/max pairs per waveform


def heatmap(golden: np.ndarray, actual: np.ndarray, peak: float | None = None) -> np.ndarray:
    """Black (same) -> red -> yellow -> white (``peak``, default the largest difference here)."""
    d = np.abs(golden.astype(np.int16) - actual.astype(np.int16)).max(axis=-1).astype(np.float32)
    top = float(d.max()) if peak is None else float(peak)
    x = d / top if top > 0 else d
    rgb = np.stack([np.clip(3 * x, 0, 1), np.clip(3 * x - 1, 0, 1), np.clip(3 * x - 2, 0, 1)], axis=-1)
    return np.rint(rgb * 255).astype(np.uint8)


def diff_peak(golden: np.ndarray, actual: np.ndarray) -> int:
    """The largest difference of a pair, in 1/255 steps: the heat-map's full brightness."""
    return int(np.abs(golden.astype(np.int16) - actual.astype(np.int16)).max())


def identical(golden: np.ndarray | None, actual: np.ndarray | None) -> bool:
    """Both present and equal finite values of one dtype (:mod:`regress.metrics.identity`):
    an output with NaN or Inf always gets its own files and its diff drawn."""
    return golden is not None and actual is not None and same_values(golden, actual)


def _factor(shape: tuple[int, ...]) -> int:
    return max(1, math.ceil(max(shape[0], shape[1]) / MAX_SIDE))


def _shrink(img: np.ndarray, f: int, *, block_max: bool = False) -> np.ndarray:
    if f == 1:
        return img
    h, w = img.shape[:2]
    ph, pw = -h % f, -w % f
    padded = np.pad(img, ((0, ph), (0, pw), (0, 0)), mode="edge")
    blocks = padded.reshape((h + ph) // f, f, (w + pw) // f, f, img.shape[2])
    if block_max:
        return blocks.max(axis=(1, 3))
    return np.rint(blocks.astype(np.float32).mean(axis=(1, 3))).astype(np.uint8)


def _save_png(path: Path, arr: np.ndarray) -> None:
    data = encode_png(np.ascontiguousarray(arr))
    try:
        path.write_bytes(data)
    except FileNotFoundError:  # the first file of its folder: one mkdir per folder, not per frame
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)


def _image_assets(report_dir: Path, rel: Path, golden: np.ndarray | None, actual: np.ndarray | None,
                  files: dict[str, str], media: dict[str, Any]) -> None:
    ref = actual if actual is not None else golden
    assert ref is not None
    f = _factor(ref.shape)
    same = identical(golden, actual)
    for label, img in (("golden", golden), ("actual", None if same else actual)):
        if img is not None:
            _save_png(report_dir / rel / f"{label}.png", _shrink(img, f))
            files[label] = (rel / f"{label}.png").as_posix()
    if same:
        files["actual"] = files["golden"]
    elif golden is not None and actual is not None and golden.shape == actual.shape:
        _save_png(report_dir / rel / "diff.png", _shrink(heatmap(golden, actual), f, block_max=True))
        files["diff"] = (rel / "diff.png").as_posix()
    media["image"] = {"height": int(ref.shape[0]), "width": int(ref.shape[1]), "scale": f, "identical": same}
    if "diff" in files:  # the heat-map's full brightness, in 1/255 steps (the page's scale bar)
        media["image"]["diff_peak"] = diff_peak(golden, actual)


def _video_assets(report_dir: Path, rel: Path, golden: np.ndarray | None, actual: np.ndarray | None,
                  fps: float | None, worst: int | None, files: dict[str, str], media: dict[str, Any]) -> None:
    ref = actual if actual is not None else golden
    assert ref is not None
    f = _factor(ref.shape[1:])
    same = identical(golden, actual)
    dirs: dict[str, str] = {}
    counts: dict[str, int] = {}
    for label, frames in (("golden", golden), ("actual", None if same else actual)):
        if frames is None:
            continue
        for i, frame in enumerate(frames):
            _save_png(report_dir / rel / label / f"{i:03d}.png", _shrink(frame, f))
        dirs[label], counts[label] = (rel / label).as_posix(), len(frames)
    if same:
        dirs["actual"], counts["actual"] = dirs["golden"], counts["golden"]
    elif golden is not None and actual is not None and golden.shape == actual.shape:
        peak = float(diff_peak(golden, actual))
        for i in range(len(actual)):
            _save_png(report_dir / rel / "diff" / f"{i:03d}.png",
                      _shrink(heatmap(golden[i], actual[i], peak), f, block_max=True))
        dirs["diff"], counts["diff"] = (rel / "diff").as_posix(), len(actual)
    first = worst if worst is not None and worst < min(counts.values()) else 0
    for label, d in dirs.items():  # an image track, if the output also has one, keeps these names
        files.setdefault(label, f"{d}/{first:03d}.png")
    media["video"] = {"frames": max(counts.values()), "counts": counts, "fps": fps, "dirs": dirs,
                      "height": int(ref.shape[1]), "width": int(ref.shape[2]), "scale": f, "identical": same}
    if "diff" in dirs:
        media["video"]["diff_peak"] = int(peak)


def wav_bytes(samples: np.ndarray, sample_rate: int) -> bytes:
    """float32 CxN in [-1, 1] -> 16-bit PCM WAV (clipped; NaN as silence)."""
    x = np.nan_to_num(np.asarray(samples, dtype=np.float32), nan=0.0, posinf=1.0, neginf=-1.0)
    pcm = np.rint(np.clip(x, -1.0, 1.0) * 32767).astype("<i2").T.copy()  # interleave channels
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(int(x.shape[0]))
        w.setsampwidth(2)
        w.setframerate(int(sample_rate))
        w.writeframes(pcm.tobytes())
    return buf.getvalue()


def envelope(samples: np.ndarray, points: int = WAVE_POINTS) -> tuple[tuple[float, float], ...]:
    """(min, max) of the channel mean over ``points`` equal buckets (a drawable waveform).

    Tuples: the envelope is never changed once made, so a case's media and every
    results document made from it can share it instead of copying hundreds of pairs."""
    mono = np.nan_to_num(np.asarray(samples, dtype=np.float32).mean(axis=0))
    if mono.size == 0:
        return ()
    edges = np.linspace(0, mono.size, min(points, mono.size) + 1).astype(int)
    starts = np.unique(edges[:-1])  # buckets that hold at least one sample
    # One reduceat per side instead of a Python loop over the buckets (this runs for every
    # audio track of a run, on the critical path at the end of it).
    lo = np.round(np.minimum.reduceat(mono, starts).astype(np.float64), 4)
    hi = np.round(np.maximum.reduceat(mono, starts).astype(np.float64), 4)
    return tuple(zip(lo.tolist(), hi.tolist(), strict=True))


def _audio_assets(report_dir: Path, rel: Path, golden: Output | None, actual: Output | None,
                  files: dict[str, str], media: dict[str, Any]) -> None:
    waves: dict[str, tuple[tuple[float, float], ...]] = {}
    ref = actual if actual is not None and actual.audio is not None else golden
    ga, aa = getattr(golden, "audio", None), getattr(actual, "audio", None)
    same = identical(ga, aa) and golden.sample_rate == actual.sample_rate
    for label, out in (("golden", golden), ("actual", None if same else actual)):
        if out is None or out.audio is None:
            continue
        p = report_dir / rel / f"{label}.wav"
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(wav_bytes(out.audio, out.sample_rate))
        files[f"audio_{label}"] = (rel / f"{label}.wav").as_posix()
        waves[label] = envelope(out.audio)
    if same:  # the page draws the golden's envelope as the actual and a flat line as the diff
        files["audio_actual"] = files["audio_golden"]
    elif ga is not None and aa is not None and ga.shape == aa.shape:
        waves["diff"] = envelope(aa - ga)
    media["audio"] = {"sample_rate": ref.sample_rate, "channels": int(ref.audio.shape[0]),
                      "samples": int(ref.audio.shape[1]), "waveform": waves, "identical": same}


def _mesh_assets(report_dir: Path, rel: Path, golden: Output | None, actual: Output | None,
                 files: dict[str, str], media: dict[str, Any]) -> None:
    from ..metrics.mesh import vertex_errors
    from ..metrics.mesh_render import VIEWS, Frame, grid, render_views, shaded

    ref = golden if golden is not None and golden.vertices is not None else actual
    finite = ref.vertices[np.isfinite(ref.vertices).all(axis=1)]
    frame = Frame.of(finite) if len(finite) else Frame(centre=np.zeros(3), radius=1.0)
    same = (golden is not None and actual is not None and golden.vertices is not None and actual.vertices is not None
            and identical(golden.vertices, actual.vertices) and golden.faces.shape == actual.faces.shape
            and bool(np.array_equal(golden.faces, actual.faces)))
    counts: dict[str, dict[str, int]] = {"vertices": {}, "faces": {}}
    renders: dict[str, np.ndarray] = {}
    for label, out in (("golden", golden), ("actual", actual)):
        if out is None or out.vertices is None:
            continue
        counts["vertices"][label], counts["faces"][label] = len(out.vertices), len(out.faces)
        _, ids = render_views(out.vertices, out.faces, frame)
        renders[label] = ids
        if label == "actual" and same:
            continue
        grey = shaded(out.vertices, out.faces, ids)
        _save_png(report_dir / rel / f"mesh_{label}.png", grid(_grey_rgb(grey)))
        files[f"mesh_{label}"] = (rel / f"mesh_{label}.png").as_posix()
    if same:
        files["mesh_actual"] = files["mesh_golden"]
    peak = None
    if not same and "golden" in renders and "actual" in renders and len(golden.faces) and len(actual.faces):
        err = vertex_errors(golden.vertices, golden.faces, actual.vertices, actual.faces)
        finite_err = err[np.isfinite(err)]
        peak = float(finite_err.max()) if finite_err.size else None
        face_err = np.nan_to_num(err, nan=np.inf)[actual.faces].mean(axis=1)
        x = np.clip(face_err / peak, 0.0, 1.0) if peak else np.where(np.isfinite(face_err), 0.0, 1.0)
        ids = renders["actual"]
        grey = shaded(actual.vertices, actual.faces, ids)
        rgb = _grey_rgb(grey).astype(np.float32) / 255.0
        m = ids >= 0
        t = x[ids[m]]
        g = rgb[m][:, 0]
        rgb[m] = np.stack([g + (1 - g) * np.minimum(1.0, 2 * t), g * (1 - np.minimum(1.0, 2 * t)) + np.maximum(0.0, 2 * t - 1),
                           g * (1 - t)], axis=-1)
        _save_png(report_dir / rel / "mesh_error.png", grid(np.rint(rgb * 255).astype(np.uint8)))
        files["mesh_error"] = (rel / "mesh_error.png").as_posix()
    side = int(renders[next(iter(renders))].shape[1]) if renders else 0
    columns = 3
    media["mesh"] = {"height": side * -(-len(VIEWS) // columns), "width": side * columns, "views": len(VIEWS),
                     "vertices": counts["vertices"], "faces": counts["faces"], "identical": same,
                     "error_peak": peak}


def _grey_rgb(grey: np.ndarray) -> np.ndarray:
    """(V, H, W) floats in [0, 1] -> (V, H, W, 3) uint8."""
    return np.repeat(np.rint(np.clip(grey, 0.0, 1.0) * 255).astype(np.uint8)[..., None], 3, axis=-1)


@dataclass(frozen=True)
class CaseMedia:
    """What :func:`write_case_assets` wrote for one case: ``files`` (report-relative paths of
    golden / actual / diff, audio) and ``media`` (what the page needs to show them: sizes,
    frame folders, the heat-map's scale, waveforms). results.json's record carries both."""

    files: dict[str, str] = field(default_factory=dict)
    media: dict[str, Any] = field(default_factory=dict)


def write_case_assets(report_dir: Path, verdict: Verdict, actual: Output | None,
                      golden: Output | None) -> CaseMedia:
    """Write a case's media under ``cases/<id>/<platform>/`` and return their records. Reads
    the verdict (its id, platform and worst frame), never writes to it."""
    rel = Path("cases") / verdict.id / verdict.platform
    files: dict[str, str] = {}
    media: dict[str, Any] = {}
    gi, ai = getattr(golden, "image", None), getattr(actual, "image", None)
    if gi is not None or ai is not None:
        _image_assets(report_dir, rel, gi, ai, files, media)
    gv, av = getattr(golden, "video", None), getattr(actual, "video", None)
    if gv is not None or av is not None:
        fps = actual.fps if av is not None else golden.fps  # type: ignore[union-attr]
        _video_assets(report_dir, rel, gv, av, fps, verdict.worst_frame, files, media)
    if getattr(golden, "audio", None) is not None or getattr(actual, "audio", None) is not None:
        _audio_assets(report_dir, rel, golden, actual, files, media)
    if getattr(golden, "vertices", None) is not None or getattr(actual, "vertices", None) is not None:
        _mesh_assets(report_dir, rel, golden, actual, files, media)
    return CaseMedia(files, media)
