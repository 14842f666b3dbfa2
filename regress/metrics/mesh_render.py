"""A small z-buffer rasteriser for triangle meshes (numpy only): depth and face-id images from
fixed views, for the mesh metrics' render SSIM and the report's side-by-side renders.

Why our own and not a renderer library: regress needs the same pixels from the same mesh on
every machine (no GPU, no OpenGL context, no driver), a few 64x64 views cost milliseconds, and
the metric must not depend on a library's anti-aliasing or lighting defaults. Orthographic
projection, pixel centres at ``i + 0.5``, both faces of a triangle drawn (marching cubes and
engines disagree on winding; the normal metric judges orientation), ties in depth kept by the
lower face index, so the image is a pure function of the arrays.

Both meshes of a pair are drawn in the *golden's* frame (its bounding-box centre and half
diagonal), so a current mesh that moved or grew shows it instead of being re-centred away.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

VIEW_SIZE = 64  # pixels per side of one view
# (azimuth, elevation) in degrees: four around the object, slightly from above, then top and bottom.
VIEWS: tuple[tuple[float, float], ...] = ((0.0, 25.0), (90.0, 25.0), (180.0, 25.0), (270.0, 25.0),
                                          (0.0, 90.0), (0.0, -90.0))
_CANDIDATES = 1 << 22  # candidate (triangle, pixel) pairs per chunk: bounds the scratch memory


@dataclass(frozen=True)
class Frame:
    """Where a pair is drawn: the golden's bounding-box centre and half diagonal."""

    centre: np.ndarray
    radius: float

    @classmethod
    def of(cls, vertices: np.ndarray) -> Frame:
        v = np.asarray(vertices, dtype=np.float64)
        lo, hi = v.min(axis=0), v.max(axis=0)
        radius = float(np.linalg.norm(hi - lo)) / 2.0
        return cls(centre=(lo + hi) / 2.0, radius=radius if radius > 0 else 1.0)


def rotation(azimuth: float, elevation: float) -> np.ndarray:
    """World -> view: x right, y up, z towards the viewer."""
    a, e = math.radians(azimuth), math.radians(elevation)
    yaw = np.array([[math.cos(a), 0.0, -math.sin(a)], [0.0, 1.0, 0.0], [math.sin(a), 0.0, math.cos(a)]])
    pitch = np.array([[1.0, 0.0, 0.0], [0.0, math.cos(e), -math.sin(e)], [0.0, math.sin(e), math.cos(e)]])
    return pitch @ yaw


def face_normals(vertices: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """Unit normals (right-hand rule), zero for a degenerate triangle; float64."""
    v = np.asarray(vertices, dtype=np.float64)
    tri = v[faces]
    n = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])
    norm = np.linalg.norm(n, axis=1, keepdims=True)
    return np.divide(n, norm, out=np.zeros_like(n), where=norm > 0)


def rasterise(vertices: np.ndarray, faces: np.ndarray, frame: Frame, view: tuple[float, float], *,
              size: int = VIEW_SIZE) -> tuple[np.ndarray, np.ndarray]:
    """(depth, face id) images of one view, each ``size`` x ``size``: depth in [0, 1] (1 nearest,
    0 background), face id -1 where no triangle covers the pixel centre."""
    rot = rotation(*view)
    p = ((np.asarray(vertices, dtype=np.float64) - frame.centre) / frame.radius) @ rot.T
    sx = (p[:, 0] * 0.5 + 0.5) * size
    sy = (0.5 - p[:, 1] * 0.5) * size
    z = p[:, 2]
    best = np.full(size * size, -np.inf)
    ids = np.full(size * size, -1, dtype=np.int64)
    if len(faces) == 0:
        return np.zeros((size, size)), ids.reshape(size, size)
    fx, fy, fz = sx[faces], sy[faces], z[faces]  # (F, 3)
    with np.errstate(invalid="ignore"):  # NaN vertices: their triangles cover nothing
        x0 = np.clip(np.nan_to_num(np.ceil(fx.min(axis=1) - 0.5), nan=size), 0, size).astype(np.int64)
        x1 = np.clip(np.nan_to_num(np.floor(fx.max(axis=1) - 0.5), nan=-1), -1, size - 1).astype(np.int64)
        y0 = np.clip(np.nan_to_num(np.ceil(fy.min(axis=1) - 0.5), nan=size), 0, size).astype(np.int64)
        y1 = np.clip(np.nan_to_num(np.floor(fy.max(axis=1) - 0.5), nan=-1), -1, size - 1).astype(np.int64)
    w, h = np.maximum(x1 - x0 + 1, 0), np.maximum(y1 - y0 + 1, 0)
    count = w * h
    live = np.flatnonzero(count > 0)
    start = 0
    while start < len(live):
        # a chunk of triangles whose candidate pixels fit the scratch budget (at least one)
        csum = np.cumsum(count[live[start:]])
        stop = start + max(1, int(np.searchsorted(csum, _CANDIDATES, side="right")))
        _draw(live[start:stop], count, x0, y0, w, fx, fy, fz, size, best, ids)
        start = stop
    depth = np.where(ids >= 0, np.clip((best + 1.0) / 2.0, 0.0, 1.0), 0.0)
    return depth.reshape(size, size), ids.reshape(size, size)


def _draw(tris: np.ndarray, count: np.ndarray, x0: np.ndarray, y0: np.ndarray, w: np.ndarray, fx: np.ndarray,
          fy: np.ndarray, fz: np.ndarray, size: int, best: np.ndarray, ids: np.ndarray) -> None:
    """Every (triangle, pixel of its bounding box) pair of ``tris`` at once; the nearest covering
    triangle of each pixel wins against what ``best`` / ``ids`` hold (strictly nearer only, so
    earlier, lower face ids win ties)."""
    n = count[tris]
    t = np.repeat(tris, n)
    offset = np.arange(int(n.sum())) - np.repeat(np.cumsum(n) - n, n)
    px = x0[t] + offset % w[t]
    py = y0[t] + offset // w[t]
    cx, cy = px + 0.5, py + 0.5
    ax, ay, bx, by, qx, qy = fx[t, 0], fy[t, 0], fx[t, 1], fy[t, 1], fx[t, 2], fy[t, 2]
    area = (bx - ax) * (qy - ay) - (by - ay) * (qx - ax)
    w0 = (bx - cx) * (qy - cy) - (by - cy) * (qx - cx)
    w1 = (qx - cx) * (ay - cy) - (qy - cy) * (ax - cx)
    w2 = area - w0 - w1
    inside = (area != 0) & (((w0 >= 0) & (w1 >= 0) & (w2 >= 0)) | ((w0 <= 0) & (w1 <= 0) & (w2 <= 0)))
    if not inside.any():
        return
    t, pix = t[inside], (py * size + px)[inside]
    a = area[inside]
    zz = (w0[inside] * fz[t, 0] + w1[inside] * fz[t, 1] + w2[inside] * fz[t, 2]) / a
    order = np.lexsort((t, -zz, pix))  # per pixel: nearest first, then lowest face id
    pix, zz, t = pix[order], zz[order], t[order]
    first = np.ones(len(pix), dtype=bool)
    first[1:] = pix[1:] != pix[:-1]
    pix, zz, t = pix[first], zz[first], t[first]
    win = zz > best[pix]
    best[pix[win]] = zz[win]
    ids[pix[win]] = t[win]


def render_views(vertices: np.ndarray, faces: np.ndarray, frame: Frame, *,
                 size: int = VIEW_SIZE) -> tuple[np.ndarray, np.ndarray]:
    """Depth (V, size, size) and face ids (V, size, size) of every view in :data:`VIEWS`."""
    depth, ids = zip(*(rasterise(vertices, faces, frame, v, size=size) for v in VIEWS), strict=True)
    return np.stack(depth), np.stack(ids)


def shaded(vertices: np.ndarray, faces: np.ndarray, ids: np.ndarray) -> np.ndarray:
    """Grey Lambert shading (light from the viewer, both faces lit) of rendered views: float in
    [0, 1], (V, H, W); background 1 (white)."""
    normals = face_normals(vertices, faces)
    out = np.ones(ids.shape)
    for i, view in enumerate(VIEWS):
        nz = np.abs(normals @ rotation(*view)[2])
        m = ids[i] >= 0
        out[i][m] = 0.25 + 0.7 * nz[ids[i][m]]
    return out


def grid(views: np.ndarray, columns: int = 3) -> np.ndarray:
    """(V, H, W, 3) views -> one (rows*H, columns*W, 3) image, row by row."""
    v, h, w, c = views.shape
    rows = -(-v // columns)
    pad = np.concatenate([views, np.ones((rows * columns - v, h, w, c), views.dtype) * 255], axis=0) \
        if rows * columns > v else views
    return pad.reshape(rows, columns, h, w, c).transpose(0, 2, 1, 3, 4).reshape(rows * h, columns * w, c)
