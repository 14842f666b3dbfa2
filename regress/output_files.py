"""An output's files: their names and their lossless, pickle-free reading and writing.

image -> ``output.png`` (8-bit RGB, refused from its header before decoding when it is too
large, 16-bit or has alpha); video -> ``output.npz`` (``frames``, ``fps``); audio ->
``audio.npz`` (``samples``, ``sample_rate``); mesh -> ``mesh.npz`` (``vertices`` float32 Vx3,
``faces`` int32/int64 Fx3); stage checkpoints -> ``stages.safetensors``.
npz files are always read with ``allow_pickle=False``. Apart from :mod:`regress.outputs` so
that the record (what a run produced) and the file formats can be read, and changed, apart.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np

from .errors import OutputError

IMAGE_FILE = "output.png"
VIDEO_FILE = "output.npz"
AUDIO_FILE = "audio.npz"
MESH_FILE = "mesh.npz"
OUTPUT_FILES = (IMAGE_FILE, VIDEO_FILE, AUDIO_FILE, MESH_FILE)
# The largest mesh regress reads (vertices, faces): far past a shape engine's output (a 256^3
# marching-cubes grid gives ~2M faces), and small enough that a hostile file cannot exhaust memory.
MAX_MESH_ELEMENTS = 16_000_000
# The stage checkpoints (prompt embeddings, latents per step, the decoder's input), float32,
# named '<stage>/<what>' (see regress.runners.diffusers_family.StageRecorder).
STAGES_FILE = "stages.safetensors"
MAX_STAGES_BYTES = 64 << 20  # a checkpoint file larger than this is refused on load


def write_npz(**arrays: np.ndarray) -> bytes:
    """A compressed npz with fixed zip timestamps: the same arrays give the same bytes, so a
    refresh that reproduces a golden leaves the store's content hash unchanged."""
    import zipfile

    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name, arr in arrays.items():
            info = zipfile.ZipInfo(f"{name}.npy", date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            member = io.BytesIO()
            np.lib.format.write_array(member, np.asarray(arr), allow_pickle=False)
            zf.writestr(info, member.getvalue())
    return buf.getvalue()


def _npz_names(path: Path) -> list[str]:
    try:
        with np.load(path, allow_pickle=False) as z:
            return list(z.files)
    except Exception as exc:  # zipfile / ValueError: report, do not crash
        raise OutputError(f"{path}: not a readable npz file ({exc.__class__.__name__})") from None


MAX_IMAGE_PIXELS = 89_478_485  # Pillow's own decompression-bomb limit (a 9459x9459 image)
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def png_header(path: Path) -> tuple[int, int, int, int]:
    """(width, height, bit depth, colour type) from a PNG's IHDR, read before any decoding:
    a file that is not a PNG, or one too large to decode, is refused here."""
    try:
        with open(path, "rb") as f:
            head = f.read(26)
    except OSError as exc:
        raise OutputError(f"{path}: unreadable ({exc.__class__.__name__})") from None
    if len(head) < 26 or head[:8] != _PNG_SIGNATURE or head[12:16] != b"IHDR":
        raise OutputError(f"{path}: not a readable PNG (no PNG header)")
    width, height = int.from_bytes(head[16:20], "big"), int.from_bytes(head[20:24], "big")
    return width, height, head[24], head[25]


def load_image(path: Path) -> np.ndarray:
    """An 8-bit RGB image. Anything a conversion to 8-bit RGB would change is refused rather
    than compared after losing information: 16-bit channels would be clipped to 255 and two
    different images could then compare equal; an alpha channel would be dropped."""
    from PIL import Image, UnidentifiedImageError

    width, height, depth, colour = png_header(path)
    if width * height > MAX_IMAGE_PIXELS:
        raise OutputError(f"{path}: {width}x{height} pixels, more than regress decodes ({MAX_IMAGE_PIXELS})")
    if depth == 16:
        raise OutputError(f"{path}: 16 bits per channel; regress compares 8-bit images (converting would clip "
                          "and hide differences)")
    if colour in (4, 6):
        raise OutputError(f"{path}: has an alpha channel; regress compares RGB (dropping alpha would hide "
                          "differences): flatten it first")
    try:
        with Image.open(path) as im:
            return np.asarray(im.convert("RGB"), dtype=np.uint8).copy()
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError) as exc:
        raise OutputError(f"{path}: not a readable PNG ({exc.__class__.__name__})") from None


def load_stages(path: Path) -> dict[str, np.ndarray]:
    """Stage checkpoints from safetensors (no pickle): float32 tensors only, size-limited."""
    from safetensors import SafetensorError
    from safetensors.numpy import load

    try:
        if not path.is_file() or path.stat().st_size > MAX_STAGES_BYTES:
            raise OutputError(f"{path}: not a regular file, or larger than {MAX_STAGES_BYTES >> 20} MiB")
        tensors = load(path.read_bytes())
    except (OSError, SafetensorError, ValueError) as exc:
        raise OutputError(f"{path}: not a readable safetensors file ({exc.__class__.__name__})") from None
    except KeyError as exc:  # safetensors.numpy has no numpy dtype for it (BF16, F8_*)
        raise OutputError(f"{path}: a stage tensor is {exc.args[0] if exc.args else 'of a dtype numpy lacks'}, "
                          "expected float32 (regress records stage checkpoints as float32)") from None
    bad = [k for k, v in tensors.items() if v.dtype != np.float32]
    if bad:
        raise OutputError(f"{path}: stage tensor {bad[0]!r} is {tensors[bad[0]].dtype}, expected float32")
    return tensors


def load_video(path: Path) -> tuple[np.ndarray, float]:
    try:
        with np.load(path, allow_pickle=False) as z:
            frames, fps = z["frames"], float(z["fps"])
    except Exception as exc:
        raise OutputError(f"{path}: not a readable video npz with 'frames' and 'fps' "
                          f"({exc.__class__.__name__})") from None
    if frames.dtype != np.uint8 or frames.ndim != 4 or frames.shape[-1] != 3:
        raise OutputError(f"{path}: frames must be uint8 TxHxWx3, got {frames.dtype} {frames.shape}")
    if 0 in frames.shape:
        raise OutputError(f"{path}: holds no frames or empty frames {frames.shape}: nothing to compare")
    return frames, fps


def load_audio(path: Path) -> tuple[np.ndarray, int]:
    try:
        with np.load(path, allow_pickle=False) as z:
            samples, rate = z["samples"], int(z["sample_rate"])
    except Exception as exc:
        raise OutputError(f"{path}: not a readable audio npz with 'samples' and 'sample_rate' "
                          f"({exc.__class__.__name__})") from None
    if samples.dtype != np.float32 or samples.ndim != 2:
        raise OutputError(f"{path}: samples must be float32 channels x samples, got "
                          f"{samples.dtype} {samples.shape}")
    if 0 in samples.shape:
        raise OutputError(f"{path}: holds no samples {samples.shape}: nothing to compare")
    return samples, rate


def check_mesh(vertices: object, faces: object, *, where: str) -> tuple[np.ndarray, np.ndarray]:
    """The mesh track's contract, shared by :class:`~regress.outputs.Output` and the file reader:
    float32 (V, 3) vertices and int32/int64 (F, 3) faces indexing them. Why so strict: a float64
    golden against a float32 run, or faces that point past the vertices, would be compared after
    a silent conversion or crash inside the metrics; a refusal here names the file and field.
    Zero faces is allowed here (the comparison calls it a mismatch, with the case named)."""
    if not isinstance(vertices, np.ndarray) or vertices.dtype != np.float32 or vertices.ndim != 2 \
            or vertices.shape[1] != 3:
        got = f"{getattr(vertices, 'dtype', type(vertices).__name__)} {getattr(vertices, 'shape', '')}"
        raise OutputError(f"{where}: mesh vertices must be float32 Vx3, got {got}")
    if not isinstance(faces, np.ndarray) or faces.dtype not in (np.int32, np.int64) or faces.ndim != 2 \
            or faces.shape[1] != 3:
        got = f"{getattr(faces, 'dtype', type(faces).__name__)} {getattr(faces, 'shape', '')}"
        raise OutputError(f"{where}: mesh faces must be int32 or int64 Fx3, got {got}")
    if vertices.size + faces.size > MAX_MESH_ELEMENTS:
        raise OutputError(f"{where}: mesh of {len(vertices)} vertices and {len(faces)} faces is larger than regress "
                          f"reads ({MAX_MESH_ELEMENTS} values)")
    if faces.size and (int(faces.min()) < 0 or int(faces.max()) >= len(vertices)):
        raise OutputError(f"{where}: mesh faces index vertices outside 0..{len(vertices) - 1} "
                          f"(min {int(faces.min())}, max {int(faces.max())})")
    return vertices, faces


def load_mesh(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """(vertices, faces) from ``mesh.npz``, read with ``allow_pickle=False``."""
    try:
        if path.stat().st_size > MAX_MESH_ELEMENTS * 8:
            raise OutputError(f"{path}: larger than regress reads for a mesh")
        with np.load(path, allow_pickle=False) as z:
            vertices, faces = z["vertices"], z["faces"]
    except OutputError:
        raise
    except Exception as exc:
        raise OutputError(f"{path}: not a readable mesh npz with 'vertices' and 'faces' "
                          f"({exc.__class__.__name__})") from None
    return check_mesh(vertices, faces, where=str(path))
