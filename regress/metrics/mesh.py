"""Mesh metrics: how far a current triangle mesh lies from its golden, in units of the golden's
size, so that one threshold fits a shape of any scale.

Every distance is divided by the golden's bounding-box diagonal ``D``:

* ``mesh_chamfer``: symmetric Chamfer distance, ``(mean_g d(g, C) + mean_c d(c, G)) / 2 / D``;
* ``mesh_hausdorff``: ``max(max_g d(g, C), max_c d(c, G)) / D``: the one number that a single
  moved vertex cannot hide in;
* ``mesh_fscore``: F-score at ``tau = FSCORE_TAU * D`` (precision: share of current points
  within tau of the golden; recall: the reverse);
* ``mesh_normal``: normal consistency, the mean signed cosine between each point's normal and
  its nearest neighbour's on the other mesh, both ways (signed: flipped winding is a change;
  points of zero-area triangles, which have no normal, are left out);
* ``mesh_depth_ssim``: SSIM (regress's own, :func:`~.ssim.ssim_frames`) of depth renders from
  six fixed views (:mod:`.mesh_render`), both meshes drawn in the golden's frame; mean over views.

Points: each mesh's vertices plus its face centroids, with vertex normals (area-weighted) and
face normals. Why not area-weighted random samples: two samplings of the same surface differ
everywhere, and a one-vertex change would re-draw them all; vertices and centroids move only
where the mesh moved, and identical meshes give exactly 0. Nearest neighbours come from
``scipy.spatial.cKDTree`` when scipy is installed, else from a chunked brute force (same
numbers: both are exact).

Not comparable (``mismatch``, no metrics): a mesh with no faces, a golden of zero size. NaN or
Inf in either mesh's vertices makes every metric NaN (which never passes) and a mismatch line.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

FSCORE_TAU = 0.01  # F-score distance, as a fraction of the golden's bounding-box diagonal
MESH_METRICS = ("mesh_chamfer", "mesh_hausdorff", "mesh_fscore", "mesh_normal", "mesh_depth_ssim")
_CHUNK = 1 << 22  # brute-force pairs per chunk (no scipy)


@dataclass(frozen=True)
class MeshPoints:
    """The points a mesh is compared by, with a unit normal each (zero where undefined)."""

    points: np.ndarray  # float64 (N, 3)
    normals: np.ndarray  # float64 (N, 3)

    @classmethod
    def of(cls, vertices: np.ndarray, faces: np.ndarray) -> MeshPoints:
        v = np.asarray(vertices, dtype=np.float64)
        tri = v[faces]
        cross = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])  # length = 2 x area
        vn = np.zeros_like(v)
        for k in range(3):
            np.add.at(vn, faces[:, k], cross)
        fn = cross
        return cls(points=np.concatenate([v, tri.mean(axis=1)]), normals=np.concatenate([_unit(vn), _unit(fn)]))


def _unit(n: np.ndarray) -> np.ndarray:
    norm = np.linalg.norm(n, axis=1, keepdims=True)
    return np.divide(n, norm, out=np.zeros_like(n), where=norm > 0)


def nearest(reference: np.ndarray, query: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(distance, index) of each query point's nearest reference point (exact)."""
    try:
        from scipy.spatial import cKDTree
    except ImportError:
        return _brute_nearest(reference, query)
    d, i = cKDTree(reference).query(query, k=1)
    return np.asarray(d, dtype=np.float64), np.asarray(i, dtype=np.int64)


def _brute_nearest(reference: np.ndarray, query: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    step = max(1, _CHUNK // max(1, len(reference)))
    dist, idx = np.empty(len(query)), np.empty(len(query), dtype=np.int64)
    rr = (reference * reference).sum(axis=1)
    for s in range(0, len(query), step):
        q = query[s:s + step]
        d2 = (q * q).sum(axis=1)[:, None] + rr[None, :] - 2.0 * q @ reference.T
        j = np.argmin(d2, axis=1)
        idx[s:s + step] = j
        dist[s:s + step] = np.linalg.norm(q - reference[j], axis=1)  # exact distance of the chosen point
    return dist, idx


def diagonal(vertices: np.ndarray) -> float:
    v = np.asarray(vertices, dtype=np.float64)
    return float(np.linalg.norm(v.max(axis=0) - v.min(axis=0)))


def compare_mesh(gv: np.ndarray, gf: np.ndarray, cv: np.ndarray, cf: np.ndarray) -> tuple[dict[str, float], list[str]]:
    """(metric values, reasons the meshes cannot be compared) of a current mesh against its golden."""
    reasons = []
    for who, v, f in (("golden", gv, gf), ("current", cv, cf)):
        if len(f) == 0:
            reasons.append(f"mesh has no faces ({who}: {len(v)} vertices, 0 faces): nothing to compare")
    if reasons:
        return {}, reasons
    bad = {who: int(v.size - np.count_nonzero(np.isfinite(v))) for who, v in (("golden", gv), ("current", cv))}
    if any(bad.values()):
        where = ", ".join(f"{who} {n}" for who, n in bad.items() if n)
        return dict.fromkeys(MESH_METRICS, float("nan")), [f"mesh vertices hold NaN/Inf values ({where})"]
    scale = diagonal(gv)
    if scale == 0.0:
        return {}, ["golden mesh has zero size (its bounding-box diagonal is 0): distances cannot be normalised"]
    if gv.shape == cv.shape and gf.shape == cf.shape and np.array_equal(gv, cv) and np.array_equal(gf, cf):
        return {"mesh_chamfer": 0.0, "mesh_hausdorff": 0.0, "mesh_fscore": 1.0, "mesh_normal": 1.0,
                "mesh_depth_ssim": 1.0}, []
    g, c = MeshPoints.of(gv, gf), MeshPoints.of(cv, cf)
    d_gc, i_gc = nearest(c.points, g.points)
    d_cg, i_cg = nearest(g.points, c.points)
    tau = FSCORE_TAU * scale
    recall, precision = float(np.mean(d_gc <= tau)), float(np.mean(d_cg <= tau))
    fscore = 0.0 if recall + precision == 0 else 2.0 * recall * precision / (recall + precision)
    normal = 0.5 * (_cosine(g.normals, c.normals[i_gc]) + _cosine(c.normals, g.normals[i_cg]))
    return {"mesh_chamfer": 0.5 * (float(d_gc.mean()) + float(d_cg.mean())) / scale,
            "mesh_hausdorff": max(float(d_gc.max()), float(d_cg.max())) / scale,
            "mesh_fscore": fscore, "mesh_normal": normal,
            "mesh_depth_ssim": depth_ssim(gv, gf, cv, cf)}, []


def _cosine(a: np.ndarray, b: np.ndarray) -> float:
    """Mean cosine of paired unit normals, over the pairs where both are defined. Why skip the
    others: marching cubes leaves zero-area triangles (no normal), and counting them as 0 would
    score a mesh below 1 against itself. No defined pair at all: 0 (nothing agrees)."""
    ok = (np.abs(a).sum(axis=1) > 0) & (np.abs(b).sum(axis=1) > 0)
    return float(np.mean(np.sum(a[ok] * b[ok], axis=1))) if ok.any() else 0.0


def depth_ssim(gv: np.ndarray, gf: np.ndarray, cv: np.ndarray, cf: np.ndarray) -> float:
    """Mean over the fixed views of the SSIM of the two depth renders (golden's frame)."""
    from .mesh_render import Frame, render_views
    from .ssim import ssim_frames

    frame = Frame.of(gv)
    g, _ = render_views(gv, gf, frame)
    c, _ = render_views(cv, cf, frame)
    return float(np.mean(ssim_frames(g[..., None], c[..., None], data_range=1.0)))


def vertex_errors(gv: np.ndarray, gf: np.ndarray, cv: np.ndarray, cf: np.ndarray) -> np.ndarray:
    """Each current vertex's distance to the golden's nearest point, over the golden's diagonal
    (the report's per-vertex error colouring); NaN where a vertex is not finite."""
    out = np.full(len(cv), np.nan)
    ok = np.isfinite(cv).all(axis=1)
    scale = diagonal(gv) if np.isfinite(gv).all() and len(gv) else 0.0
    if not ok.any() or scale == 0.0 or len(gf) == 0:
        return out
    out[ok] = nearest(MeshPoints.of(gv, gf).points, np.asarray(cv[ok], dtype=np.float64))[0] / scale
    return out
