"""The quality gate before a golden is published: blank, constant, NaN, pure noise, drift cap.
Real images and the tiny pipelines' outputs must pass it; noise and broken outputs must not."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from suite_edit import edit_suite

from regress.cli import main
from regress.gate import drift_problems, is_pure_noise, quality_problems
from regress.outputs import Output
from regress.runners import Perf, RunResult
from regress.stores.file import tree_hash

REPO = Path(__file__).resolve().parent.parent

SKIMAGE = ("astronaut", "brick", "camera", "chelsea", "coffee", "coins", "grass", "gravel", "horse",
           "hubble_deep_field", "immunohistochemistry", "logo", "moon", "page", "rocket", "text")


def rgb(img: np.ndarray) -> np.ndarray:
    img = np.asarray(img)
    if img.dtype == bool:
        img = img.astype(np.uint8) * 255
    if img.ndim == 2:
        img = np.repeat(img[..., None], 3, axis=2)
    return np.ascontiguousarray(img[..., :3])


@pytest.mark.parametrize("name", SKIMAGE)
def test_real_images_are_not_noise_at_any_size(name: str) -> None:
    import skimage.data
    from skimage.transform import resize

    img = rgb(getattr(skimage.data, name)())
    assert quality_problems(Output(image=img)) == []
    for side in (32, 64):  # rendered small (anti-aliased), as a pipeline would
        small = (resize(img, (side, side, 3), anti_aliasing=True) * 255).round().astype(np.uint8)
        assert quality_problems(Output(image=small)) == [], side


def test_the_tiny_pipelines_outputs_are_not_flagged(golden_project: Path) -> None:
    dirs = [d for root in (REPO / "goldens" / "store", golden_project / "goldens" / "store")
            for d in root.glob("cases/*/*") if d.is_dir()]
    assert len(dirs) >= 4 and {d.parent.name for d in dirs} >= {"flux-tiny", "qwen", "wan"}
    for d in dirs:
        assert quality_problems(Output.load(d)) == [], d


@pytest.mark.parametrize("side", [32, 64, 256])
def test_pixel_noise_is_flagged(side: int) -> None:
    rng = np.random.default_rng(side)
    uniform = rng.integers(0, 256, (side, side, 3), dtype=np.uint8)
    gaussian = np.clip(rng.normal(128, 40, (side, side, 3)), 0, 255).astype(np.uint8)
    gray = np.repeat(rng.integers(0, 256, (side, side, 1), dtype=np.uint8), 3, axis=2)
    for img in (uniform, gaussian, gray):
        (problem,) = quality_problems(Output(image=img))
        assert problem.startswith("image is pure noise (spectral flatness 0.5")


def test_noise_in_video_frames() -> None:
    rng = np.random.default_rng(1)
    small = rng.integers(0, 256, (9, 16, 16, 3), dtype=np.uint8)  # too small per frame: judged pooled
    assert quality_problems(Output(video=small, fps=8.0))[0].startswith("video: pure noise over its 9 frames")
    import skimage.data
    from skimage.transform import resize

    real = (resize(rgb(skimage.data.astronaut()), (64, 64, 3), anti_aliasing=True) * 255).astype(np.uint8)
    frames = np.stack([real, rng.integers(0, 256, (64, 64, 3), dtype=np.uint8), real])
    (problem,) = quality_problems(Output(video=frames, fps=8.0))
    assert problem.startswith("video: 1 of 3 frames are pure noise (first: frame 1")
    assert quality_problems(Output(video=np.stack([real, real]), fps=8.0)) == []
    assert is_pure_noise(real[None])[0] is False


def test_drift_cap_reads_each_metric_in_its_direction() -> None:
    cap = {"ssim": 0.5, "max_abs": 64.0}
    assert drift_problems({"ssim": 0.93, "max_abs": 12.0}, cap) == []
    problems = drift_problems({"ssim": -0.4, "max_abs": 255.0, "psnr": 3.0}, cap)
    assert problems == ["it drifts from the golden it replaces beyond the cap: ssim=-0.4 (cap >= 0.5, "
                        "[suite] drift_cap)",
                        "it drifts from the golden it replaces beyond the cap: max_abs=255/255 (cap <= 64, "
                        "[suite] drift_cap)"]


def test_drift_cap_is_validated_like_thresholds(tmp_path: Path) -> None:
    from regress.errors import SuiteError
    from regress.suite import load_suite

    suite = tmp_path / "suite.toml"
    suite.write_text('[suite]\ndrift_cap = { sharpness = 1 }\n[store]\nkind = "file"\npath = "s"\n')
    with pytest.raises(SuiteError, match="field 'suite.drift_cap.sharpness': unknown metric"):
        load_suite(suite)
    suite.write_text('[suite]\ndrift_cap = { ssim = 0.5, max_abs = 64 }\n[store]\nkind = "file"\npath = "s"\n')
    assert dict(load_suite(suite).drift_cap) == {"ssim": 0.5, "max_abs": 64.0}


# --------------------------------------------------------------------------- refresh refuses


class FixedOutput:
    """A 'qwen-image' runner whose output is given: what a broken engine would return."""

    name = "qwen-image"
    output_kind = "image"
    default_precision = {"transformer": "bf16", "vae": "bf16", "text_encoder": "bf16"}

    def __init__(self, image: np.ndarray, nonfinite: int = 0) -> None:
        self.image, self.nonfinite = image, nonfinite

    def build(self, case, precision, device):
        return None

    def run(self, pipe, case, device) -> RunResult:
        return RunResult(Output(image=self.image, nonfinite=self.nonfinite), dict(self.default_precision),
                         Perf(wall_s=0.01))


def use_runner(monkeypatch: pytest.MonkeyPatch, runner: object) -> None:
    import regress.runners

    monkeypatch.setattr(regress.runners, "_registered", {"qwen-image": runner})
    monkeypatch.setattr(regress.runners, "_loaded", {})


def qwen_golden(project: Path) -> np.ndarray:
    (d,) = (project / "goldens" / "store" / "cases" / "qwen").iterdir()
    return Output.load(d).image


@pytest.mark.parametrize("image, nonfinite, says", [
    (np.zeros((32, 32, 3), np.uint8), 0, "qwen: not written as a golden: image is constant (every pixel 0)"),
    (np.full((32, 32, 3), 3, np.uint8) + np.eye(32, dtype=np.uint8)[..., None], 0,
     "qwen: not written as a golden: image is blank (all pixels <= 8/255)"),
    (None, 17, "qwen: not written as a golden: output held 17 NaN/Inf values before quantisation"),
])
def test_refresh_refuses_black_blank_and_nan_outputs(project: Path, monkeypatch, capsys, image, nonfinite,
                                                    says) -> None:
    lock = project / "goldens" / "goldens.lock"
    before, tree = lock.read_bytes(), tree_hash(project / "goldens" / "store")
    use_runner(monkeypatch, FixedOutput(qwen_golden(project) if image is None else image, nonfinite))
    assert main(["refresh", "--suite", str(project / "goldens" / "suite.toml"), "-k", "qwen"]) == 1
    err = capsys.readouterr().err
    assert says in err and "use --force to write it anyway" in err
    assert lock.read_bytes() == before and tree_hash(project / "goldens" / "store") == tree


def test_refresh_refuses_drift_beyond_the_cap_unless_forced(project: Path, monkeypatch, capsys) -> None:
    suite = project / "goldens" / "suite.toml"
    edit_suite(suite, lambda d: d["suite"].update(drift_cap={"ssim": 0.5}))
    lock = project / "goldens" / "goldens.lock"
    before = lock.read_bytes()
    use_runner(monkeypatch, FixedOutput(255 - qwen_golden(project)))  # a photographic negative: a new image
    assert main(["refresh", "--suite", str(suite), "-k", "qwen"]) == 1
    err = capsys.readouterr().err
    assert "qwen: not written as a golden: it drifts from the golden it replaces beyond the cap: ssim=" in err
    assert "(cap >= 0.5, [suite] drift_cap)" in err and lock.read_bytes() == before
    # a small, intended change stays under the cap
    nudged = qwen_golden(project).astype(np.int16)
    nudged[::4, ::4] += 3
    use_runner(monkeypatch, FixedOutput(np.clip(nudged, 0, 255).astype(np.uint8)))
    assert main(["refresh", "--suite", str(suite), "-k", "qwen"]) == 0
    after_nudge = lock.read_bytes()
    assert after_nudge != before
    use_runner(monkeypatch, FixedOutput(255 - qwen_golden(project)))
    assert main(["refresh", "--suite", str(suite), "-k", "qwen", "--force"]) == 0
    assert lock.read_bytes() != after_nudge
    assert np.array_equal(qwen_golden(project), 255 - np.clip(nudged, 0, 255).astype(np.uint8))
