"""ltx2 makes video and audio in one call and both are one golden: perturbing only the
audio, or only the video, fails the case; so does an audio VAE in fp32 instead of bf16,
with the component and both dtypes named. End to end through ``pytest -m golden``."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from regress.outputs import Output
from regress.stores import open_store
from regress.stores.base import StagedGolden
from regress.suite import load_suite

pytest.importorskip("torch._dynamo")  # imported outside pytester's runs: see test_custom_runner
pytest.importorskip("diffusers")

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")
# hypothesis's pytest plugin imports hypothesis (~2 s) in every in-process run that fails
PLUGINS_OFF = ("-p", "no:cacheprovider", "-p", "no:hypothesispytest")

SUITE = """
[store]
kind = "file"
path = "store"

[defaults]
ssim = 0.9999
psnr = 60.0
max_abs = 2
audio_snr = 60.0
audio_mel = 0.05
audio_max_abs = 0.001

[[case]]
id = "ltx2"
pipeline = "ltx2"
prompt = "a robot dancing to drums"
height = 32
width = 32
frames = 5
fps = 24
steps = 2
guidance = 1.0
max_sequence_length = 32
"""


@pytest.fixture(scope="module")
def ltx2_project(golden_project_factory) -> Path:  # noqa: ANN001
    return golden_project_factory("ltx2-project", SUITE)


@pytest.fixture
def project(ltx2_project: Path, tmp_path: Path) -> Path:
    dst = tmp_path / "project"
    shutil.copytree(ltx2_project, dst)
    return dst


def _run(pytester: pytest.Pytester, project: Path, report: Path, *args: str) -> tuple[pytest.RunResult, dict]:
    suite = project / "goldens" / "suite.toml"
    r = pytester.runpytest_inprocess(str(suite), f"--golden-suite={suite}", "-m", "golden", *PLUGINS_OFF,
                                     f"--golden-report={report}", *args)
    return r, json.loads((report / "results.json").read_text())["cases"][0]


def _replace_golden(project: Path, change) -> None:
    """Rewrite the ltx2 golden with ``change(output) -> Output`` applied (meta kept)."""
    store = open_store(load_suite(project / "goldens" / "suite.toml"))
    (platform,) = store.platforms("ltx2")
    golden = store.get("ltx2", platform)
    meta = {k: v for k, v in golden.meta.items() if k != "files"}
    store.publish([StagedGolden("ltx2", platform, change(golden.output()), meta)], message="perturb")


def test_unchanged_ltx2_passes_with_both_tracks_compared(pytester, project, tmp_path) -> None:
    r, case = _run(pytester, project, tmp_path / "report")
    r.assert_outcomes(passed=1)
    assert case["kind"] == "video+audio"
    assert case["metrics"]["audio_snr"]["value"] == "inf" and case["metrics"]["audio_mel"]["value"] == 0
    assert case["metrics"]["max_abs"]["value"] == 0
    assert set(case["perf"]["current"]["stages"]) == {"text_encode", "denoise", "decode", "audio_decode"}


def test_only_the_audio_perturbed_fails(pytester, project, tmp_path) -> None:
    def louder_by_half_a_db(out: Output) -> Output:
        audio = (out.audio.astype(np.float64) * 10 ** (0.5 / 20)).astype(np.float32)
        return Output(video=out.video, fps=out.fps, audio=audio, sample_rate=out.sample_rate)

    _replace_golden(project, louder_by_half_a_db)
    r, case = _run(pytester, project, tmp_path / "report")
    r.assert_outcomes(failed=1)
    m = case["metrics"]
    assert m["audio_snr"]["passed"] is False and m["audio_mel"]["passed"] is False
    assert m["audio_mel"]["value"] == pytest.approx(0.5, abs=0.01)
    assert m["max_abs"]["value"] == 0 and m["ssim"]["passed"] is True  # the video is untouched
    assert "audio_snr=" in r.stdout.str() and "(needs >= 60, suite default)" in r.stdout.str()


def test_only_the_video_perturbed_fails(pytester, project, tmp_path) -> None:
    def one_pixel_moved(out: Output) -> Output:
        frames = out.video.copy()
        v = frames[2, 5, 7, 1]
        frames[2, 5, 7, 1] = v + 3 if v < 250 else v - 3
        return Output(video=frames, fps=out.fps, audio=out.audio, sample_rate=out.sample_rate)

    _replace_golden(project, one_pixel_moved)
    r, case = _run(pytester, project, tmp_path / "report")
    r.assert_outcomes(failed=1)
    m = case["metrics"]
    assert m["max_abs"]["value"] == 3 and m["max_abs"]["passed"] is False
    assert m["audio_snr"]["value"] == "inf" and m["audio_mel"]["passed"] is True  # the audio is untouched
    assert "max_abs=3/255 (needs <= 2, suite default)" in r.stdout.str()


def test_audio_vae_in_fp32_fails_naming_the_component_and_both_dtypes(pytester, project, tmp_path) -> None:
    r, case = _run(pytester, project, tmp_path / "report", "--golden-precision", "audio_vae=fp32")
    r.assert_outcomes(failed=1)
    assert "precision changed: audio_vae bf16 -> fp32" in r.stdout.str()
    assert "Traceback" not in r.stdout.str()
    assert case["precision"]["changed"] == [{"component": "audio_vae", "golden": "bf16", "current": "fp32"}]
    assert case["metrics"]["audio_snr"]["passed"] is False  # and the audio it made moved
    assert case["metrics"]["max_abs"]["value"] == 0  # while the video did not
