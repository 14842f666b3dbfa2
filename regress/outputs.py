"""What a pipeline run produces, and its lossless, pickle-free files (formats: :mod:`regress.output_files`).

An :class:`Output` holds up to four tracks: an image (uint8 HxWx3), a video (uint8
TxHxWx3 plus fps), audio (float32 CxN plus sample rate) and a mesh (float32 Vx3 vertices,
int32/int64 Fx3 triangle faces: a 3D engine's output). ltx2 makes video and audio in one call,
and both belong to one golden, so tracks live side by side in one object.

Files: image -> ``output.png``; video -> ``output.npz`` (``frames``, ``fps``); audio ->
``audio.npz`` (``samples``, ``sample_rate``); mesh -> ``mesh.npz`` (``vertices``, ``faces``).
npz files are always read with ``allow_pickle=False``.

Frames still on the device that made them (a GPU run's image or video, a golden uploaded for
judging) may ride along as :class:`DeviceFrames`: the metrics read them there instead of
copying the host arrays back (:mod:`regress.metrics.resident`). They are a cache of the
host arrays, never more: not written, not pickled, not compared, not part of ``kind``.
"""

from __future__ import annotations

import hashlib
import io
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .errors import OutputError
from .output_files import (  # noqa: F401  (OUTPUT_FILES, STAGES_FILE: stores and staging name them from here)
    AUDIO_FILE, IMAGE_FILE, MESH_FILE, OUTPUT_FILES, STAGES_FILE, VIDEO_FILE, _npz_names, check_mesh, load_audio,
    load_image, load_mesh, load_stages, load_video, write_npz)

TRACKS = ("image", "video", "audio", "mesh")


@dataclass
class Output:
    """One run's result. ``nonfinite`` counts NaN/Inf values seen before quantisation to
    uint8 (which would otherwise hide them): any non-zero count fails the case. A mesh's
    vertices are not quantised, so their NaN/Inf are counted here, when the output is made
    (never fewer than the caller's count): a NaN vertex fails whoever built the output."""

    image: np.ndarray | None = None
    video: np.ndarray | None = None
    fps: float | None = None
    audio: np.ndarray | None = None
    sample_rate: int | None = None
    vertices: np.ndarray | None = None  # mesh: float32 (V, 3)
    faces: np.ndarray | None = None  # mesh: int32/int64 (F, 3) indices into vertices
    nonfinite: int = 0
    # Intermediate tensors between the pipeline's stages (judged apart from the tracks, so that
    # a verdict can name the first stage that diverged). Not part of ``kind``.
    stages: dict[str, np.ndarray] | None = None
    # The same frames on a device (see DeviceFrames); set with keep_on_device, never by the
    # constructor, so that copies (dataclasses.replace, pickle, deepcopy) start without them.
    on_device: DeviceFrames | None = field(default=None, init=False, compare=False, repr=False)

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["on_device"] = None  # device memory never travels with a copy
        return state

    def keep_on_device(self, *, image: Any = None, video: Any = None) -> Output:
        """Attach the uint8 frames of the image / video track as they are on a device (torch
        tensors equal to the host arrays, which the caller guarantees by making one from the
        other). Only their shape is checked here: comparing the values would cost the copy
        this exists to avoid. ``None`` for both drops them. Returns this output."""
        if image is None and video is None:
            self.on_device = None
            return self
        for name, t in (("image", image), ("video", video)):
            host = getattr(self, name)
            if t is None:
                continue
            if host is None or tuple(t.shape) != host.shape or str(t.dtype) != "torch.uint8":
                raise OutputError(f"device copy of the {name} track must be uint8 {getattr(host, 'shape', None)}, "
                                  f"got {t.dtype} {tuple(t.shape)}")
        self.on_device = DeviceFrames(image=image, video=video)
        return self

    def device_frames(self, track: str) -> Any:
        """The device copy of ``track`` ('image' or 'video'), or None."""
        return getattr(self.on_device, track) if self.on_device is not None else None

    def __post_init__(self) -> None:
        if self.image is None and self.video is None and self.audio is None and self.vertices is None:
            raise OutputError("an Output needs at least one of image, video, audio or mesh")
        if (self.vertices is None) != (self.faces is None):
            raise OutputError("a mesh output needs both vertices and faces")
        if self.vertices is not None:
            check_mesh(self.vertices, self.faces, where="mesh output")
            bad = int(self.vertices.size - np.count_nonzero(np.isfinite(self.vertices)))
            self.nonfinite = max(self.nonfinite, bad)
        if self.image is not None:
            _check_uint8(self.image, 3, "image", "HxWx3")
        if self.video is not None:
            _check_uint8(self.video, 4, "video", "TxHxWx3")
            if self.fps is None or not np.isfinite(self.fps) or self.fps <= 0:
                raise OutputError(f"video output needs a positive fps, got {self.fps!r}")
        if self.audio is not None:
            if self.audio.ndim != 2 or self.audio.dtype != np.float32:
                raise OutputError(f"audio must be float32 channels x samples, got {self.audio.dtype} "
                                  f"{self.audio.shape}")
            if not self.sample_rate or self.sample_rate <= 0:
                raise OutputError(f"audio output needs a positive sample_rate, got {self.sample_rate!r}")

    @property
    def kind(self) -> str:
        """'image', 'video', 'audio', 'mesh' or a '+'-joined combination such as 'video+audio'."""
        parts = [n for n in TRACKS if getattr(self, "vertices" if n == "mesh" else n) is not None]
        return "+".join(parts)

    def shapes(self) -> dict[str, list[int]]:
        out = {n: list(getattr(self, n).shape) for n in ("image", "video", "audio") if getattr(self, n) is not None}
        if self.vertices is not None and self.faces is not None:
            out["vertices"], out["faces"] = list(self.vertices.shape), list(self.faces.shape)
        return out

    def save(self, directory: Path) -> dict[str, str]:
        """Write the track files into ``directory``; returns {file name: sha256}."""
        directory.mkdir(parents=True, exist_ok=True)
        written: dict[str, str] = {}
        for name, data in self.encode().items():
            (directory / name).write_bytes(data)
            written[name] = hashlib.sha256(data).hexdigest()
        return written

    def encode(self) -> dict[str, bytes]:
        """The bytes of each track file (deterministic for the same arrays)."""
        files: dict[str, bytes] = {}
        if self.image is not None:
            from PIL import Image

            buf = io.BytesIO()
            Image.fromarray(self.image, mode="RGB").save(buf, format="PNG", optimize=False)
            files[IMAGE_FILE] = buf.getvalue()
        if self.video is not None:
            files[VIDEO_FILE] = write_npz(frames=self.video, fps=np.float64(self.fps))
        if self.audio is not None:
            files[AUDIO_FILE] = write_npz(samples=self.audio, sample_rate=np.int64(self.sample_rate))
        if self.vertices is not None:
            files[MESH_FILE] = write_npz(vertices=self.vertices, faces=self.faces)
        if self.stages:
            from safetensors.numpy import save

            files[STAGES_FILE] = save({k: np.ascontiguousarray(v, dtype=np.float32) for k, v in self.stages.items()})
        return files

    @classmethod
    def load(cls, directory: Path) -> Output:
        """Read every track file present in ``directory``."""
        kw: dict = {}
        found = False
        if (directory / IMAGE_FILE).exists():
            kw["image"] = load_image(directory / IMAGE_FILE)
            found = True
        if (directory / VIDEO_FILE).exists():
            kw["video"], kw["fps"] = load_video(directory / VIDEO_FILE)
            found = True
        if (directory / AUDIO_FILE).exists():
            kw["audio"], kw["sample_rate"] = load_audio(directory / AUDIO_FILE)
            found = True
        if (directory / MESH_FILE).exists():
            kw["vertices"], kw["faces"] = load_mesh(directory / MESH_FILE)
            found = True
        if not found:
            raise OutputError(f"{directory}: no output file ({', '.join(OUTPUT_FILES)})")
        if (directory / STAGES_FILE).exists():
            kw["stages"] = load_stages(directory / STAGES_FILE)
        return cls(**kw)

    @classmethod
    def from_file(cls, path: Path) -> Output:
        """Read one output file by its suffix: .png image, .npz video (frames), audio (samples) or
        mesh (vertices, faces)."""
        suffix = path.suffix.lower()
        if not path.is_file():
            raise OutputError(f"{path}: no such file")
        if suffix == ".png":
            return cls(image=load_image(path))
        if suffix == ".npz":
            names = _npz_names(path)
            if "frames" in names:
                frames, fps = load_video(path)
                return cls(video=frames, fps=fps)
            if "samples" in names:
                samples, rate = load_audio(path)
                return cls(audio=samples, sample_rate=rate)
            if "vertices" in names:
                vertices, faces = load_mesh(path)
                return cls(vertices=vertices, faces=faces)
            raise OutputError(f"{path}: npz holds none of 'frames' (video), 'samples' (audio), 'vertices' (mesh)")
        raise OutputError(f"{path}: unsupported output file type {suffix!r} (.png or .npz)")


@dataclass(frozen=True)
class DeviceFrames:
    """An :class:`Output`'s image (H, W, 3) and video (T, H, W, 3) as uint8 torch tensors on
    the device where they already are (typed Any: ``import regress`` does not import torch)."""

    image: Any = None
    video: Any = None


def _check_uint8(arr: np.ndarray, ndim: int, what: str, layout: str) -> None:
    if not isinstance(arr, np.ndarray) or arr.dtype != np.uint8 or arr.ndim != ndim or arr.shape[-1] != 3:
        got = f"{getattr(arr, 'dtype', type(arr).__name__)} {getattr(arr, 'shape', '')}"
        raise OutputError(f"{what} must be uint8 {layout}, got {got}")


def to_uint8(x: np.ndarray) -> tuple[np.ndarray, int]:
    """Quantise float pixels in [0, 1] to uint8 (round half to even, clipped), counting
    non-finite values first so that quantisation cannot hide them."""
    x = np.asarray(x, dtype=np.float32)
    bad = int(x.size - np.count_nonzero(np.isfinite(x)))
    if bad:
        x = np.nan_to_num(x, nan=0.0, posinf=1.0, neginf=0.0)
    q = x * 255.0  # one scratch array, then in place (this runs on every case's output)
    np.clip(q, 0.0, 255.0, out=q)
    np.rint(q, out=q)
    return q.astype(np.uint8), bad
