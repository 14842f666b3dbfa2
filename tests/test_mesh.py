"""The 3D output kind ``mesh`` (issue 27 item 3): a shape engine's triangle mesh judged like an
image, through a custom runner and the ``golden`` fixture alike.

Why these tests: a mesh golden must be stored without pickle and refused in one line when it is
malformed; the metrics (Chamfer, Hausdorff, F-score, normal consistency, depth-render SSIM)
must be what their definitions say (checked against a brute force written here); a NaN vertex
must never pass and a mesh with no faces is not comparable; a single vertex moved beyond the
thresholds must fail while the same mesh written and read back passes; and the tiny shape
engine (bf16 networks) must fail naming the network whose precision flipped. Goldens are made
inside each test, so nothing depends on this machine's ISA; meshes in the metric tests are
analytic (no network output is compared bit for bit)."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import numpy as np
import pytest

from regress.errors import OutputError
from regress.metrics.compare import compare_outputs
from regress.metrics.mesh import FSCORE_TAU, MESH_METRICS, compare_mesh
from regress.outputs import MESH_FILE, Output

# pytester's in-process runs drop the modules a run imported; torch registers native ops on
# import, so a lazily imported torch submodule imported again in the next run fails. Import
# it here, outside the runs (as tests/test_custom_runner.py does).
pytest.importorskip("torch._dynamo")

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")
PLUGINS_OFF = ("-p", "no:cacheprovider", "-p", "no:hypothesispytest")


def sphere(n: int = 16, radius: float = 0.6) -> tuple[np.ndarray, np.ndarray]:
    """A marching-cubes sphere (analytic SDF: the same mesh on every machine to within an ulp)."""
    from skimage.measure import marching_cubes

    x = np.linspace(-1.0, 1.0, n)
    X, Y, Z = np.meshgrid(x, x, x, indexing="ij")
    v, f, _, _ = marching_cubes(np.sqrt(X**2 + Y**2 + Z**2) - radius, 0.0, spacing=(2.0 / (n - 1),) * 3)
    return (v - 1.0).astype(np.float32), f.astype(np.int64)


def octahedron(scale: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    v = np.array([[1, 0, 0], [-1, 0, 0], [0, 1, 0], [0, -1, 0], [0, 0, 1], [0, 0, -1]], np.float32) * scale
    f = np.array([[0, 2, 4], [2, 1, 4], [1, 3, 4], [3, 0, 4], [2, 0, 5], [1, 2, 5], [3, 1, 5], [0, 3, 5]], np.int64)
    return v, f


# ------------------------------------------------------------------ metrics vs a brute force

def _reference(gv, gf, cv, cf) -> dict[str, float]:
    """The definitions of regress.metrics.mesh, written out with loops and a full distance matrix."""
    def points(v, f):
        v = v.astype(np.float64)
        pts, nrm = [], []
        vn = [np.zeros(3) for _ in v]
        fn = []
        for a, b, c in f:
            n = np.cross(v[b] - v[a], v[c] - v[a])
            for i in (a, b, c):
                vn[i] = vn[i] + n
            fn.append(n)
        for i, p in enumerate(v):
            pts.append(p)
            nrm.append(vn[i] / np.linalg.norm(vn[i]) if np.linalg.norm(vn[i]) > 0 else np.zeros(3))
        for (a, b, c), n in zip(f, fn):
            pts.append((v[a] + v[b] + v[c]) / 3)
            nrm.append(n / np.linalg.norm(n) if np.linalg.norm(n) > 0 else np.zeros(3))
        return np.array(pts), np.array(nrm)

    gp, gn = points(gv, gf)
    cp, cn = points(cv, cf)
    diag = float(np.linalg.norm(gv.astype(np.float64).max(0) - gv.astype(np.float64).min(0)))
    d = np.sqrt(((gp[:, None, :] - cp[None, :, :]) ** 2).sum(-1))  # golden x current
    d_gc, d_cg = d.min(1), d.min(0)
    i_gc, i_cg = d.argmin(1), d.argmin(0)
    tau = FSCORE_TAU * diag
    recall, precision = np.mean(d_gc <= tau), np.mean(d_cg <= tau)

    def cos(a, b):
        ok = [i for i in range(len(a)) if a[i].any() and b[i].any()]
        return float(np.mean([a[i] @ b[i] for i in ok]))

    return {"mesh_chamfer": (d_gc.mean() + d_cg.mean()) / 2 / diag, "mesh_hausdorff": max(d_gc.max(), d_cg.max()) / diag,
            "mesh_fscore": 2 * recall * precision / (recall + precision),
            "mesh_normal": (cos(gn, cn[i_gc]) + cos(cn, gn[i_cg])) / 2}


@pytest.mark.parametrize("brute", [False, True], ids=["cKDTree", "no-scipy"])
def test_metrics_agree_with_a_brute_force_reference(brute: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    import regress.metrics.mesh as mesh

    if brute:  # the fallback when scipy is missing gives the same numbers
        monkeypatch.setattr(mesh, "nearest", mesh._brute_nearest)
    gv, gf = octahedron()
    rng = np.random.default_rng(0)
    cv = (gv * np.float32(1.02) + rng.normal(0, 0.01, gv.shape)).astype(np.float32)
    cf = gf[[0, 1, 2, 3, 4, 5, 7, 6]][:, ::-1].copy()  # other order, flipped winding on all faces
    values, reasons = compare_mesh(gv, gf, cv, cf)
    assert reasons == []
    ref = _reference(gv, gf, cv, cf)
    for name, want in ref.items():
        assert values[name] == pytest.approx(want, rel=1e-9, abs=1e-12), name
    assert values["mesh_normal"] < 0  # flipped winding: normals disagree
    # a mesh of other topology (sphere of another resolution and size)
    gv, gf = sphere(8)
    cv, cf = sphere(10, radius=0.62)
    values, _ = compare_mesh(gv, gf, cv, cf)
    for name, want in _reference(gv, gf, cv, cf).items():
        assert values[name] == pytest.approx(want, rel=1e-9, abs=1e-12), name


def test_identical_meshes_score_exactly_and_a_grown_mesh_moves_every_metric() -> None:
    v, f = sphere()
    values, reasons = compare_mesh(v, f, v.copy(), f.copy())
    assert reasons == [] and values == {"mesh_chamfer": 0.0, "mesh_hausdorff": 0.0, "mesh_fscore": 1.0,
                                        "mesh_normal": 1.0, "mesh_depth_ssim": 1.0}
    grown, _ = compare_mesh(v, f, v * np.float32(1.05), f)
    assert grown["mesh_chamfer"] > 0.01 and grown["mesh_hausdorff"] > 0.01
    assert grown["mesh_fscore"] < 0.5 and grown["mesh_depth_ssim"] < 0.99


def test_depth_renders_are_drawn_in_the_golden_frame() -> None:
    from regress.metrics.mesh_render import Frame, rasterise

    v, f = octahedron()
    depth, ids = rasterise(v, f, Frame.of(v), (0.0, 0.0), size=32)
    assert depth.shape == (32, 32) and ids.min() == -1 and ids.max() < len(f)
    assert depth.max() <= 1.0 and depth[ids >= 0].min() > 0.0 and (depth[ids < 0] == 0).all()
    # the octahedron's tip faces the viewer (+z): the centre is the nearest pixel
    assert depth[15:17, 15:17].max() == pytest.approx(depth.max())
    moved, _ = rasterise(v + np.float32(0.3), f, Frame.of(v), (0.0, 0.0), size=32)
    assert not np.array_equal(moved, depth)  # not re-centred away


# ------------------------------------------------------------------ not comparable, non-finite

def test_nan_vertices_never_pass_and_no_faces_is_a_mismatch() -> None:
    from regress.metrics.catalog import METRICS

    v, f = sphere()
    bad = v.copy()
    bad[3, 1] = np.nan
    out = Output(vertices=bad, faces=f)
    assert out.nonfinite == 1  # counted when the output is made: the verdict fails on it
    comp = compare_outputs(Output(vertices=v, faces=f), out)
    assert comp.mismatch == ["mesh vertices hold NaN/Inf values (current 1)"]
    assert all(not METRICS[m].passes(comp.values[m], METRICS[m].low if METRICS[m].higher_is_better
                                     else METRICS[m].high) for m in MESH_METRICS)
    empty = compare_outputs(Output(vertices=v, faces=f), Output(vertices=v, faces=f[:0]))
    assert empty.values == {} and empty.mismatch == ["mesh has no faces (current: %d vertices, 0 faces): nothing to "
                                                     "compare" % len(v)]
    kind = compare_outputs(Output(vertices=v, faces=f), Output(image=np.zeros((4, 4, 3), np.uint8)))
    assert kind.mismatch == ["output kind differs: golden mesh, current image"]


# ------------------------------------------------------------------ files: no pickle, one line

def test_mesh_files_round_trip_without_pickle(tmp_path: Path) -> None:
    v, f = sphere()
    out = Output(vertices=v, faces=f.astype(np.int32))
    written = out.save(tmp_path)
    assert list(written) == [MESH_FILE] and out.kind == "mesh"
    assert out.encode() == Output(vertices=v, faces=f.astype(np.int32)).encode()  # same arrays, same bytes
    back = Output.load(tmp_path)
    assert back.faces.dtype == np.int32 and np.array_equal(back.vertices, v) and np.array_equal(back.faces, f)
    assert Output.from_file(tmp_path / MESH_FILE).kind == "mesh"


@pytest.mark.parametrize("arrays,message", [
    ({"vertices": np.zeros((4, 3), np.float64), "faces": np.zeros((1, 3), np.int64)},
     "mesh vertices must be float32 Vx3, got float64 (4, 3)"),
    ({"vertices": np.zeros((4, 3), np.float32), "faces": np.array([[0, 1, 9]], np.int64)},
     "mesh faces index vertices outside 0..3 (min 0, max 9)"),
    ({"vertices": np.zeros((4, 3), np.float32), "faces": np.zeros((1, 3), np.float32)},
     "mesh faces must be int32 or int64 Fx3, got float32 (1, 3)"),
    ({"vertices": np.array([None] * 3, dtype=object).reshape(1, 3), "faces": np.zeros((1, 3), np.int64)},
     "not a readable mesh npz with 'vertices' and 'faces' (ValueError)"),
    ({"faces": np.zeros((1, 3), np.int64)}, "not a readable mesh npz with 'vertices' and 'faces' (KeyError)"),
])
def test_a_malformed_mesh_file_is_refused_in_one_line(tmp_path: Path, arrays: dict, message: str) -> None:
    import io

    buf = io.BytesIO()
    np.savez(buf, **arrays)  # object arrays are pickled by numpy: regress must refuse to unpickle
    (tmp_path / MESH_FILE).write_bytes(buf.getvalue())
    with pytest.raises(OutputError) as exc:
        Output.load(tmp_path)
    line = str(exc.value)
    assert line.endswith(message) and "\n" not in line and MESH_FILE in line


# ------------------------------------------------------------------ the golden fixture

FIXTURE_TEST = """
import os
from pathlib import Path

import numpy as np
from skimage.measure import marching_cubes

from regress.outputs import Output


def make_mesh():
    x = np.linspace(-1.0, 1.0, 16)
    X, Y, Z = np.meshgrid(x, x, x, indexing="ij")
    v, f, _, _ = marching_cubes(np.sqrt(X**2 + Y**2 + Z**2) - 0.6, 0.0, spacing=(2.0 / 15,) * 3)
    return (v - 1.0).astype(np.float32), f.astype(np.int64)


def test_shape(golden, tmp_path):
    v, f = make_mesh()
    mode = os.environ.get("MESH_MODE", "")
    if mode == "move":  # one vertex moved by 2% of the diagonal (1.38 for this sphere)
        v[len(v) // 2, 0] += np.float32(0.02 * 2 * 3 ** 0.5 * 0.6 / 1.0)
    if mode == "nan":
        v[0, 0] = np.nan
    if mode == "resaved":  # written and read back: the same mesh
        Output(vertices=v, faces=f).save(tmp_path)
        out = Output.load(tmp_path)
        v, f = out.vertices, out.faces
    golden.check((v, f))
"""


def _fixture_run(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, mode: str, *args: str):
    monkeypatch.setenv("MESH_MODE", mode)
    return pytester.runpytest_inprocess(*PLUGINS_OFF, *args)


def test_golden_fixture_one_vertex_move_fails_and_the_resaved_mesh_passes(pytester: pytest.Pytester,
                                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    pytester.makepyfile(test_shape=FIXTURE_TEST)
    _fixture_run(pytester, monkeypatch, "", "--golden-update=missing").assert_outcomes(passed=1)
    assert (pytester.path / "goldens" / "store").is_dir()
    _fixture_run(pytester, monkeypatch, "resaved").assert_outcomes(passed=1)
    r = _fixture_run(pytester, monkeypatch, "move")
    r.assert_outcomes(failed=1)
    out = r.stdout.str()
    assert "mesh_hausdorff=" in out and "(needs <= 0.005, suite default)" in out
    r = _fixture_run(pytester, monkeypatch, "nan")
    r.assert_outcomes(failed=1)
    assert "output holds 1 NaN/Inf values" in r.stdout.str() and "mesh vertices hold NaN/Inf values" in r.stdout.str()


# ------------------------------------------------------------------ the tiny shape engine

SUITE = """
[suite]
fingerprint = "fail"

[store]
kind = "file"
path = "store"

[defaults]
mesh_chamfer = 0.0001
mesh_hausdorff = 0.005
mesh_fscore = 0.999
mesh_normal = 0.995
mesh_depth_ssim = 0.999

[[case]]
id = "mesh"
pipeline = "shape3d"
prompt = "a small ceramic vase"
steps = 2
args = { grid = 20 }
"""


@pytest.mark.parametrize("component", ["sdf_decoder", "transformer"])
def test_shape_engine_precision_flip_fails_naming_the_network(pytester: pytest.Pytester, tmp_path: Path,
                                                             component: str) -> None:
    (pytester.path / "goldens").mkdir()
    (pytester.path / "goldens" / "suite.toml").write_text(textwrap.dedent(SUITE))
    golden = ("-m", "golden", *PLUGINS_OFF)
    pytester.runpytest_inprocess(*golden, "--golden-update=missing").assert_outcomes(passed=1)
    meta = json.loads(next((pytester.path / "goldens" / "store").rglob("meta.json")).read_text())
    assert meta["kind"] == "mesh" and meta["precision"] == {"transformer": "bf16", "sdf_decoder": "bf16"}
    assert set(meta["files"]) == {"mesh.npz", "stages.safetensors"}
    report = tmp_path / "report"
    r = pytester.runpytest_inprocess(*golden, "--golden-precision", f"{component}=fp32", f"--golden-report={report}")
    r.assert_outcomes(failed=1)
    assert f"precision changed: {component} bf16 -> fp32" in r.stdout.str()
    case = json.loads((report / "results.json").read_text())["cases"][0]
    # the report shows golden / current / per-vertex error renders
    assert {"mesh_golden", "mesh_actual", "mesh_error"} <= set(case["files"])
    assert all((report / case["files"][k]).is_file() for k in ("mesh_golden", "mesh_actual", "mesh_error"))
    assert case["media"]["mesh"]["identical"] is False and case["media"]["mesh"]["error_peak"] > 0


def test_shape_engine_refuses_fields_that_do_not_apply() -> None:
    from regress.errors import RunnerError
    from regress.runners import get_runner
    from regress.suite import Case

    runner = get_runner("shape3d")
    with pytest.raises(RunnerError, match="'shape3d' makes a mesh; 'height' does not apply"):
        runner.build(Case(id="m", pipeline="shape3d", height=32), {}, "cpu")
    with pytest.raises(RunnerError, match="'shape3d' has no component 'vae'"):
        runner.build(Case(id="m", pipeline="shape3d"), {"vae": "fp32"}, "cpu")


def test_calibration_knows_the_mesh_metrics() -> None:
    """`regress calibrate` (--drift too) measures mesh bounds: one ulp of one vertex is the
    one-code change, and the derived bounds are finite and in the metrics' direction."""
    from regress.bounds import derive_thresholds, one_code_change

    v, f = sphere()
    golden = Output(vertices=v, faces=f)
    quantum = compare_outputs(golden, one_code_change(golden)).values
    assert 0 < quantum["mesh_hausdorff"] < 1e-6
    floor = {"mesh_chamfer": 1e-4, "mesh_hausdorff": 0.01, "mesh_fscore": 0.99, "mesh_normal": 0.999,
             "mesh_depth_ssim": 0.998}
    bounds = derive_thresholds(floor, quantum)
    assert bounds["mesh_hausdorff"] == pytest.approx(0.02) and bounds["mesh_fscore"] == pytest.approx(0.98)
    assert bounds["mesh_depth_ssim"] == pytest.approx(0.996)
