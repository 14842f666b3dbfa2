"""LPIPS: parity with ``lpips.LPIPS``, where the backbone weights come from and how they are
checked, and what a run does when there are none.

No real backbone weights can be downloaded here, so every test uses a *seeded* AlexNet
weights file written by the fixture below. Values computed with it are LPIPS-shaped numbers
for checking the code path, not perceptual distances.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from suite_edit import edit_suite, merge

torch = pytest.importorskip("torch")
lpips_pkg = pytest.importorskip("lpips")
from skimage import data  # noqa: E402

from regress.metrics import lpips as L  # noqa: E402
from regress.metrics import lpips_model  # noqa: E402

ALEX_SHAPES = {"features.0": (64, 3, 11, 11), "features.3": (192, 64, 5, 5), "features.6": (384, 192, 3, 3),
               "features.8": (256, 384, 3, 3), "features.10": (256, 256, 3, 3)}


def seeded_alexnet(seed: int = 0) -> dict[str, torch.Tensor]:
    """torchvision-format AlexNet backbone tensors, He-initialised from a fixed seed."""
    g = torch.Generator().manual_seed(seed)
    sd = {}
    for name, shape in ALEX_SHAPES.items():
        fan_in = shape[1] * shape[2] * shape[3]
        sd[f"{name}.weight"] = torch.randn(shape, generator=g) * (2.0 / fan_in) ** 0.5
        sd[f"{name}.bias"] = torch.randn(shape[0], generator=g) * 0.01
    return sd


@pytest.fixture(scope="session")
def weights_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("lpips-weights")
    sd = seeded_alexnet()
    torch.save(sd, d / "seeded-alex.pth")
    from safetensors.torch import save_file

    save_file(sd, str(d / "seeded-alex.safetensors"))
    torch.save(seeded_alexnet(seed=1), d / "other-alex.pth")
    return d


@pytest.fixture
def no_weights_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """No REGRESS_LPIPS_WEIGHTS and an empty torch hub cache."""
    monkeypatch.delenv("REGRESS_LPIPS_WEIGHTS", raising=False)
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch-home"))
    return tmp_path / "torch-home"


def reference_lpips(a: np.ndarray, b: np.ndarray, ref: torch.nn.Module) -> float:
    """``lpips.LPIPS`` itself on [0, 1] inputs."""

    def t(x: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(x).permute(2, 0, 1)[None].float() / 255.0

    with torch.no_grad():
        return float(ref(t(a), t(b), normalize=True).item())


def image_pairs() -> dict[str, tuple[np.ndarray, np.ndarray]]:
    astro = np.ascontiguousarray(data.astronaut()[60:124, 180:260])
    coffee = np.ascontiguousarray(data.coffee()[100:164, 200:264])
    rng = np.random.default_rng(0)
    noisy = np.clip(np.rint(astro + rng.normal(0, 10, astro.shape)), 0, 255).astype(np.uint8)
    shifted = np.ascontiguousarray(data.astronaut()[62:126, 181:261])
    return {"astronaut+noise": (astro, noisy), "astronaut+shift": (astro, shifted),
            "coffee+brightness": (coffee, np.clip(coffee.astype(np.int16) + 25, 0, 255).astype(np.uint8)),
            "astronaut_vs_coffee": (astro[:, :64], coffee)}


# --------------------------------------------------------------------------- parity

def test_lpips_equals_the_lpips_package_with_the_same_weights(weights_dir: Path, no_weights_env: Path) -> None:
    w = L.resolve_weights("alex", environ={"REGRESS_LPIPS_WEIGHTS": str(weights_dir / "seeded-alex.pth")})
    assert isinstance(w, L.LpipsWeights)
    with lpips_model._quiet():
        ref = lpips_pkg.LPIPS(net="alex", pnet_rand=True, verbose=False)
    ref.net.load_state_dict(lpips_model._backbone_state(ref, seeded_alexnet(), Path("seeded"), "alex"))
    ref.eval()
    for name, (a, b) in image_pairs().items():
        got = L.lpips_frames(a, b, w)
        assert got.shape == (1,) and got.dtype == np.float64
        assert abs(got[0] - reference_lpips(a, b, ref)) < 1e-6, name
    a, b = image_pairs()["astronaut+noise"]
    assert L.lpips_frames(a, a, w)[0] == 0.0


def test_lpips_video_per_frame_and_safetensors_give_the_same_values(weights_dir: Path) -> None:
    pairs = list(image_pairs().values())[:3]
    va, vb = np.stack([p[0][:, :64] for p in pairs]), np.stack([p[1][:, :64] for p in pairs])
    pth = L.resolve_weights("alex", environ={"REGRESS_LPIPS_WEIGHTS": str(weights_dir / "seeded-alex.pth")})
    st = L.resolve_weights("alex", environ={"REGRESS_LPIPS_WEIGHTS": str(weights_dir / "seeded-alex.safetensors")})
    assert pth.sha256 != st.sha256  # different files, same tensors
    per = L.lpips_frames(va, vb, pth, chunk_bytes=1)  # one frame a chunk
    # Same tensors, same batches, same process: the same bits from either file.
    assert np.array_equal(per, L.lpips_frames(va, vb, st, chunk_bytes=1))
    # A batch of 3 against batches of 1 reduces in another order once torch uses 2+ threads
    # (1.9e-9 measured on a 2-core AMX Xeon): equal within float32 rounding, not bit for bit.
    np.testing.assert_allclose(per, L.lpips_frames(va, vb, st), rtol=0, atol=1e-6)
    for t in range(3):
        assert abs(per[t] - L.lpips_frames(va[t], vb[t], pth)[0]) < 1e-7


def test_lpips_rejects_small_and_non_uint8_frames(weights_dir: Path) -> None:
    w = L.resolve_weights("alex", environ={"REGRESS_LPIPS_WEIGHTS": str(weights_dir / "seeded-alex.pth")})
    small = np.zeros((30, 64, 3), np.uint8)
    with pytest.raises(ValueError, match="minimum 31x31"):
        L.lpips_frames(small, small, w)
    with pytest.raises(ValueError, match="uint8"):
        L.lpips_frames(small.astype(np.float32), small.astype(np.float32), w)


# --------------------------------------------------------------------------- resolution

def test_resolution_order_env_then_suite_then_store_then_hub(weights_dir: Path, tmp_path: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    seeded = weights_dir / "seeded-alex.pth"
    hub = tmp_path / "th" / "hub" / "checkpoints"
    hub.mkdir(parents=True)
    digest = L.file_sha256(seeded)
    hub_file = hub / f"alexnet-owt-{digest[:8]}.pth"  # a torch.hub-style name for the seeded file
    shutil.copy(seeded, hub_file)
    store_root = tmp_path / "store"
    (store_root / "_metrics" / "lpips").mkdir(parents=True)
    shutil.copy(weights_dir / "seeded-alex.safetensors", store_root / "_metrics" / "lpips" / "alex.safetensors")
    (store_root / "_metrics" / "lpips" / "alex.json").write_text(json.dumps(
        {"file": "alex.safetensors", "sha256": L.file_sha256(weights_dir / "seeded-alex.safetensors")}))

    class Store:
        def file(self, rel: str) -> Path | None:
            p = store_root / rel
            return p if p.is_file() else None

    env = {"TORCH_HOME": str(tmp_path / "th")}
    other = weights_dir / "other-alex.pth"
    w = L.resolve_weights("alex", environ={**env, "REGRESS_LPIPS_WEIGHTS": str(other)}, setting=str(seeded),
                          store=Store())
    assert (w.source, w.path, w.check) == ("REGRESS_LPIPS_WEIGHTS", other, "unverified")
    w = L.resolve_weights("alex", environ=env, setting="seeded-alex.pth", suite_path=weights_dir / "suite.toml",
                          store=Store())
    assert (w.source, w.path) == ("suite lpips_weights", seeded)
    w = L.resolve_weights("alex", environ=env, store=Store())
    assert (w.source, w.check, w.path.name) == ("golden store", "pinned sha256", "alex.safetensors")
    # torch.hub's file names are looked for under $TORCH_HOME/hub/checkpoints (the real
    # name's hash prefix cannot match a seeded file, so the test names its own).
    with monkeypatch.context() as m:
        m.setitem(L.TORCHVISION_FILES, "alex", hub_file.name)
        w = L.resolve_weights("alex", environ=env, store=None)
        assert (w.source, w.check, w.sha256) == ("torch hub cache", "torchvision name prefix", digest)
    none = L.resolve_weights("alex", environ=env, store=None)
    assert isinstance(none, L.Unavailable) and "REGRESS_LPIPS_WEIGHTS" in none.message
    assert "alexnet-owt-7be5be79.pth" in none.message and "\n" not in none.message


def test_every_file_is_checked_by_sha256(weights_dir: Path, tmp_path: Path) -> None:
    seeded = weights_dir / "seeded-alex.pth"
    # A file with torchvision's name must have the hash prefix its name carries.
    fake = tmp_path / "alexnet-owt-7be5be79.pth"
    shutil.copy(seeded, fake)
    with pytest.raises(L.LpipsError, match="does not start with 7be5be79"):
        L.resolve_weights("alex", environ={"REGRESS_LPIPS_WEIGHTS": str(fake)})
    # A declared hash (suite setting or a sha256sum-style sidecar) must match.
    with pytest.raises(L.LpipsError, match="does not match the declared"):
        L.resolve_weights("alex", environ={}, setting=str(seeded), setting_sha256="0" * 64)
    side = tmp_path / "w.pth"
    shutil.copy(seeded, side)
    (tmp_path / "w.pth.sha256").write_text(f"{L.file_sha256(seeded)}  w.pth\n")
    assert L.resolve_weights("alex", environ={"REGRESS_LPIPS_WEIGHTS": str(side)}).check == "declared sha256"
    (tmp_path / "w.pth.sha256").write_text("f" * 64 + "\n")
    with pytest.raises(L.LpipsError, match="does not match"):
        L.resolve_weights("alex", environ={"REGRESS_LPIPS_WEIGHTS": str(side)})
    with pytest.raises(L.LpipsError, match="no such file"):
        L.resolve_weights("alex", environ={"REGRESS_LPIPS_WEIGHTS": str(tmp_path / "missing.pth")})


def test_pickles_are_opened_with_weights_only(tmp_path: Path) -> None:
    """A .pth that holds anything but tensors is refused, not executed."""

    class Payload:
        def __reduce__(self):  # would run on a plain torch.load
            return (Path("/nonexistent/should-not-run").touch, ())

    evil = tmp_path / "evil.pth"
    torch.save({"features.0.weight": Payload()}, evil)
    with pytest.raises(L.LpipsError, match="not a readable weights file"):
        L.read_backbone(evil, "alex")
    wrong = tmp_path / "wrong.pth"
    torch.save({"features.0.weight": torch.zeros(3)}, wrong)
    w = L.LpipsWeights("alex", wrong, L.file_sha256(wrong), "test", "unverified")
    with pytest.raises(L.LpipsError, match="lacks features.3.weight|has shape"):
        L.load_model(w)


# --------------------------------------------------------------------------- in a golden run

LPIPS_SUITE_EXTRA = """
[metrics]
lpips_net = "alex"
"""


def _lpips_project(project: Path, strict_threshold: float = 0.05) -> Path:
    suite = project / "goldens" / "suite.toml"
    def add_lpips(d: dict) -> None:
        d["defaults"]["lpips"] = strict_threshold
        merge(d, LPIPS_SUITE_EXTRA)

    return edit_suite(suite, add_lpips)


def _check(suite_path: Path, case_id: str, *, strict: bool):
    from regress.session import GoldenSession, Options
    from regress.suite import load_suite

    suite = load_suite(suite_path)
    session = GoldenSession(suite, Options(device="cpu", strict=strict))
    return session, session.check(suite.case(case_id)).verdict


def test_no_weights_strict_fails_with_one_line_naming_the_variable(project: Path, no_weights_env: Path) -> None:
    suite = _lpips_project(project)
    _, v = _check(suite, "qwen", strict=True)
    assert v.status == "failed"
    msg = v.message()
    assert "\n" not in msg and "REGRESS_LPIPS_WEIGHTS" in msg
    assert v.metrics["lpips"].value is None and v.metrics["lpips"].note.startswith("unavailable")
    assert v.metric_info["lpips"]["status"] == "unavailable"


def test_no_weights_non_strict_passes_with_lpips_marked_unavailable(project: Path, no_weights_env: Path,
                                                                     tmp_path: Path) -> None:
    from regress.report import write_report

    suite = _lpips_project(project)
    session, v = _check(suite, "qwen", strict=False)
    assert v.status == "passed", v.message()
    assert any("LPIPS unavailable" in w for w in v.warnings)
    write_report(tmp_path / "report", [v], suite=session.suite, platform=v.platform, revision=None)
    doc = json.loads((tmp_path / "report" / "results.json").read_text())
    rec = doc["cases"][0]["metrics"]["lpips"]
    assert rec["value"] is None and rec["passed"] is None and rec["note"] == "unavailable: no weights"
    assert "LPIPS unavailable" in (tmp_path / "report" / "index.html").read_text()


def test_with_weights_lpips_is_gated_and_its_hash_recorded(project: Path, weights_dir: Path,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    suite = _lpips_project(project)
    seeded = weights_dir / "seeded-alex.pth"
    monkeypatch.setenv("REGRESS_LPIPS_WEIGHTS", str(seeded))
    session, v = _check(suite, "qwen", strict=True)
    assert v.status == "passed", v.message()
    assert v.metrics["lpips"].value == 0.0 and v.metrics["lpips"].passed is True
    info = v.metric_info["lpips"]
    assert info["status"] == "computed" and info["sha256"] == L.file_sha256(seeded)
    from regress.provenance import lpips_record

    assert lpips_record(session.suite, session.store, session.suite.case("qwen"),
                        session.platform)["sha256"] == info["sha256"]
    # The golden was recorded without LPIPS weights: nothing to compare, nothing flagged.
    assert "matches_golden" not in info
    # Video frames of 16x16 are below AlexNet's minimum: not applicable, not a failure.
    _, vw = _check(suite, "wan", strict=True)
    assert vw.status == "passed", vw.message()
    assert vw.metric_info["lpips"]["status"] == "not applicable"
    assert vw.metrics["lpips_worst"].note.startswith("not applicable")


def test_weights_other_than_the_goldens_are_flagged(project: Path, weights_dir: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    suite = _lpips_project(project)
    monkeypatch.setenv("REGRESS_LPIPS_WEIGHTS", str(weights_dir / "other-alex.pth"))
    from regress.golden_records import GoldenMeta
    from regress.lpips_policy import lpips_setup, lpips_verdict

    assert GoldenMeta.from_json({"lpips_weights": {"sha256": "ab" * 32}}).lpips_sha256 == "ab" * 32
    assert GoldenMeta.from_json({"noise_floor": {"lpips_weights": {"sha256": "cd" * 32}}}).lpips_sha256 == "cd" * 32
    from regress.metrics.compare import Comparison
    from regress.thresholds import resolve_thresholds
    from regress.verdict import Verdict

    session, _ = _check(suite, "qwen", strict=True)
    case = session.suite.case("qwen")
    th = resolve_thresholds(session.suite, case, session.platform)
    setup = lpips_setup(session.suite, session.store, th)
    v = Verdict(id="qwen", platform=session.platform, status="passed", kind="image")
    lpips_verdict(setup, v, Comparison(values={"lpips": 0.0}, mismatch=[]), th,
                  GoldenMeta.from_json({"lpips_weights": {"sha256": hashlib.sha256(b"x").hexdigest()}}), strict=True)
    assert v.metric_info["lpips"]["matches_golden"] is False
    assert any("other weights than the golden's" in w for w in v.warnings)


def test_calibrated_lpips_alone_does_not_switch_lpips_on(project: Path) -> None:
    from regress.lpips_policy import judged_thresholds, lpips_setup
    from regress.suite import load_suite
    from regress.thresholds import resolve_thresholds

    suite = load_suite(project / "goldens" / "suite.toml")
    th = resolve_thresholds(suite, suite.case("qwen"), "cpu-avx2", calibrated={"lpips": 0.01, "ssim": 0.99})
    before = dict(th)
    assert lpips_setup(suite, None, th) is None
    assert th == before  # the caller's thresholds are read, never edited
    judged = judged_thresholds(th)
    assert "lpips" not in judged and "lpips_worst" not in judged and judged["ssim"].source == "calibrated"
    assert "lpips" in th


def test_suite_metrics_table_is_validated(tmp_path: Path) -> None:
    from regress.errors import SuiteError
    from regress.suite import load_suite

    base = '[store]\nkind = "file"\npath = "store"\n'
    p = tmp_path / "suite.toml"
    p.write_text(base + '[metrics]\nlpips_net = "alex"\nlpips_weights = "w.pth"\nlpips_precision = "bf16"\n')
    assert load_suite(p).metrics == {"lpips_net": "alex", "lpips_weights": "w.pth", "lpips_precision": "bf16"}
    for bad, field in (('lpips_net = "resnet"', "metrics.lpips_net"), ('lpips_weigths = "x"', "metrics.lpips_weigths"),
                       ('lpips_weights_sha256 = "abc"', "metrics.lpips_weights_sha256")):
        p.write_text(base + f"[metrics]\n{bad}\n")
        with pytest.raises(SuiteError, match=field):
            load_suite(p)


def test_pin_weights_in_the_store_moves_the_lock_and_is_found_offline(project: Path, weights_dir: Path,
                                                                      no_weights_env: Path,
                                                                      capsys: pytest.CaptureFixture) -> None:
    from regress.cli import main
    from regress.stores import open_store
    from regress.suite import load_suite

    suite_path = project / "goldens" / "suite.toml"
    assert main(["lpips", "--suite", str(suite_path)]) == 1  # nothing to use yet
    assert "REGRESS_LPIPS_WEIGHTS" in capsys.readouterr().out
    lock = (project / "goldens" / "goldens.lock").read_text()
    # seeded weights are not torchvision's: refused as a pin unless named unreleased
    assert main(["lpips", "pin", str(weights_dir / "seeded-alex.pth"), "--suite", str(suite_path)]) == 2
    assert "not torchvision's released AlexNet" in capsys.readouterr().err
    assert main(["lpips", "pin", str(weights_dir / "seeded-alex.pth"), "--suite", str(suite_path),
                 "--unreleased"]) == 0
    assert (project / "goldens" / "goldens.lock").read_text() != lock
    capsys.readouterr()
    assert main(["lpips", "--suite", str(suite_path)]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["source"] == "golden store" and shown["check"] == "pinned sha256 of unreleased weights"
    index = json.loads((project / "goldens" / "store" / "_metrics" / "lpips" / "alex.json").read_text())
    assert index["source_sha256"] == L.file_sha256(weights_dir / "seeded-alex.pth")
    store = open_store(load_suite(suite_path))  # the pin verifies: the tree hash covers _metrics/
    pinned = L.resolve_weights("alex", store=store, environ={"TORCH_HOME": str(no_weights_env)})
    direct = L.resolve_weights("alex", environ={"REGRESS_LPIPS_WEIGHTS": str(weights_dir / "seeded-alex.pth")})
    a, b = image_pairs()["astronaut+noise"]
    assert L.lpips_frames(a, b, pinned)[0] == L.lpips_frames(a, b, direct)[0]
    # A pin whose bytes no longer match its recorded hash is refused, not skipped.
    f = project / "goldens" / "store" / "_metrics" / "lpips" / "alex.safetensors"
    f.write_bytes(f.read_bytes()[:-1] + b"\0")
    with pytest.raises(L.LpipsError, match="does not match"):
        L.resolve_weights("alex", store=store, environ={})


def test_video_lpips_gates_mean_and_worst_frame(weights_dir: Path) -> None:
    from regress.metrics.compare import LpipsRequest, compare_outputs
    from regress.outputs import Output
    from regress.thresholds import Threshold
    from regress.verdict import judge_metrics

    w = L.resolve_weights("alex", environ={"REGRESS_LPIPS_WEIGHTS": str(weights_dir / "seeded-alex.pth")})
    a, b = image_pairs()["astronaut+noise"]
    golden = np.stack([a[:40, :48]] * 4)
    current = golden.copy()
    current[2] = b[:40, :48]  # one changed frame
    comp = compare_outputs(Output(video=golden, fps=8.0), Output(video=current, fps=8.0), lpips=LpipsRequest(w))
    per = comp.per_frame["lpips"]
    assert per[0] == per[1] == per[3] == 0.0 and per[2] > 0
    assert comp.values["lpips_worst"] == per[2] and comp.values["lpips"] == pytest.approx(per[2] / 4)
    assert comp.worst_frames["lpips_worst"] == 2
    th = {"lpips": Threshold(1.0, "suite default"), "lpips_worst": Threshold(per[2] / 2, "case")}
    res = judge_metrics(comp.values, th)
    assert res["lpips"].passed is True and res["lpips_worst"].passed is False


def test_a_failed_pin_changes_nothing(project: Path, weights_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from regress.cli import main
    from regress.stores.file import tree_hash

    suite_path = project / "goldens" / "suite.toml"
    lock = (project / "goldens" / "goldens.lock").read_text()
    before = tree_hash(project / "goldens" / "store")
    monkeypatch.setenv("REGRESS_FAIL_AT", "before-lock")
    assert main(["lpips", "pin", str(weights_dir / "seeded-alex.pth"), "--suite", str(suite_path),
                 "--unreleased"]) == 2
    assert (project / "goldens" / "goldens.lock").read_text() == lock
    assert tree_hash(project / "goldens" / "store") == before


def test_each_output_pair_is_normalised_and_identity_checked_once(weights_dir: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """One judgement views a pair as frames once and checks identity once; SSIM, the pixel
    statistics and LPIPS are all handed that same pair."""
    from regress.metrics import frames, layout, pixel, ssim
    from regress.metrics.compare import LpipsRequest, compare_outputs
    from regress.outputs import Output

    weights = L.resolve_weights("alex", environ={"REGRESS_LPIPS_WEIGHTS": str(weights_dir / "seeded-alex.pth")})
    calls = {"pair": 0, "identical": 0, "as_frames": 0}
    pairs: list = []
    real_of, real_identical, real_as_frames = layout.FramePair.of.__func__, frames.identical, layout.as_frames

    def counted_pair(cls, *args, **kw):  # noqa: ANN001, ANN002, ANN003, ANN202
        calls["pair"] += 1
        pairs.append(real_of(cls, *args, **kw))
        return pairs[-1]

    def counted_identical(*args, **kw):  # noqa: ANN002, ANN003, ANN202
        calls["identical"] += 1
        return real_identical(*args, **kw)

    def counted_as_frames(*args, **kw):  # noqa: ANN002, ANN003, ANN202
        calls["as_frames"] += 1
        return real_as_frames(*args, **kw)

    monkeypatch.setattr(layout.FramePair, "of", classmethod(counted_pair))
    monkeypatch.setattr(frames, "identical", counted_identical)
    monkeypatch.setattr(layout, "as_frames", counted_as_frames)
    handed: list[tuple[str, int]] = []
    for module, name in ((ssim, "ssim_of"), (pixel, "pixel_stats_of"), (L, "lpips_of")):
        def spy(pair, *args, _real=getattr(module, name), _name=name, **kw):  # noqa: ANN001, ANN002, ANN003, ANN202
            handed.append((_name, id(pair)))
            return _real(pair, *args, **kw)

        monkeypatch.setattr(module, name, spy)
    rng = np.random.default_rng(0)
    golden = rng.integers(0, 256, (3, 64, 64, 3), dtype=np.uint8)
    current = golden.copy()
    current[1, :8] ^= 1
    comp = compare_outputs(Output(video=golden, fps=8.0), Output(video=current, fps=8.0),
                           lpips=LpipsRequest(weights))
    assert calls == {"pair": 1, "identical": 1, "as_frames": 1}
    assert sorted(n for n, _ in handed) == ["lpips_of", "pixel_stats_of", "ssim_of"]
    assert {p for _, p in handed} == {id(pairs[0])}
    assert comp.values["lpips"] > 0 and comp.values["max_abs"] == 1.0
    # An identical pair: one check, and no metric computes anything.
    calls.update(pair=0, identical=0, as_frames=0)
    handed.clear()
    same = compare_outputs(Output(image=golden[0]), Output(image=golden[0].copy()), lpips=LpipsRequest(weights))
    assert calls == {"pair": 1, "identical": 1, "as_frames": 1} and handed == []
    assert same.values["lpips"] == 0.0 and same.values["ssim"] == 1.0


def test_lpips_pin_works_with_a_hub_store(hub_project, weights_dir: Path) -> None:
    """`regress lpips pin` on a Hub store: one commit on the pinned commit (through an HfApi
    stand-in that lands it in olah's repo, as the Hub would), the lock moved, and a fresh store
    reading the Hub (olah) resolves the pinned weights from it."""
    from huggingface_hub import CommitInfo, HfApi

    from regress.commands.lpips import pin
    from regress.errors import RegressError
    from regress.lock import read_lock
    from regress.stores import open_store
    from regress.suite import load_suite

    hub = hub_project.hub

    class Publishing:
        """The real HfApi for reads; a commit is written into olah's git repo."""

        def __init__(self) -> None:
            self.real, self.commits = HfApi(endpoint=hub.endpoint), []

        def __getattr__(self, name: str):  # noqa: ANN204
            return getattr(self.real, name)

        def create_commit(self, repo_id, operations, *, commit_message, parent_commit=None, **kw):  # noqa: ANN001, ANN003, ANN201
            self.commits.append((parent_commit, sorted(op.path_in_repo for op in operations)))
            sha = hub.commit(repo_id, {op.path_in_repo: op.path_or_fileobj for op in operations}, commit_message)
            return CommitInfo(commit_url=f"https://huggingface.co/datasets/{repo_id}/commit/{sha}",
                              commit_message=commit_message, commit_description="", oid=sha)

    suite = load_suite(hub_project.suite)
    api = Publishing()
    store = open_store(suite, api=api)
    assert store.file("_metrics/lpips/alex.json") is None  # nothing pinned yet
    revision = pin(store, weights_dir / "seeded-alex.pth", "alex", unreleased=True)
    assert api.commits == [(hub_project.first, ["_metrics/lpips/alex.json", "_metrics/lpips/alex.safetensors"])]
    assert read_lock(hub_project.lock).revision == revision != hub_project.first
    assert store.last_publish is not None and revision in store.last_publish.url
    fresh = open_store(load_suite(hub_project.suite))  # another machine: the Hub's files at the new pin
    found = L.resolve_weights("alex", suite_path=suite.path, store=fresh, environ={})
    assert isinstance(found, L.LpipsWeights), found
    assert found.source == "golden store" and found.check == "pinned sha256 of unreleased weights"
    with pytest.raises(RegressError, match="not a path this store can pin"):
        fresh.publish_files({"cases/x/cpu-avx2/meta.json": b"{}"})


def test_cuda_and_the_current_cuda_device_share_one_model(monkeypatch: pytest.MonkeyPatch) -> None:
    """The host path asks for the run's device ("cuda"), the device-resident path for a
    tensor's ("cuda:0"): both must find the same cached model, not load a second copy."""
    import torch

    monkeypatch.setattr(torch.cuda, "current_device", lambda: 1)
    assert L.device_key("cuda") == L.device_key("cuda:1") == "cuda:1"
    assert L.device_key("cuda:0") == "cuda:0"
    assert L.device_key("cpu") == L.device_key(torch.device("cpu")) == "cpu"
