"""`regress calibrate`: noise floors in the goldens' meta, thresholds derived by the stated rule,
and the acceptance story: with calibrated thresholds, unchanged runs pass and the bf16 -> fp32
VAE switch on qwen-image fails on metrics alone."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from suite_edit import edit_suite, merge

from regress.bounds import derive_thresholds, worst_values
from regress.cli import main
from regress.session import GoldenSession, Options
from regress.suite import load_suite, tomllib

# Loose suite defaults: the VAE switch passes these, so only calibration can catch it.
LOOSE = """
[defaults]
ssim = 0.99
psnr = 30.0
max_abs = 32
mean_abs = 4.0
"""


def _loosen(project: Path) -> Path:
    """The test project's suite with loose defaults, the fingerprint check lowered to a
    warning and the memory gate off, so that a precision switch can only fail on its metrics."""
    suite = project / "goldens" / "suite.toml"
    def loosen(d: dict) -> None:
        d["defaults"] = tomllib.loads(LOOSE)["defaults"]
        # metrics alone: no fingerprint failure, no peak-memory gate (an fp32 VAE needs more memory)
        d["suite"].update(fingerprint="warn", memory_tolerance=False)

    return edit_suite(suite, loosen)


def _meta(project: Path, case: str) -> dict:
    metas = list((project / "goldens" / "store" / "cases" / case).glob("*/meta.json"))
    assert len(metas) == 1
    return json.loads(metas[0].read_text())


def test_rule_exact_runs_sit_just_past_exact_noisy_runs_get_a_margin() -> None:
    quantum = {"ssim": 1 - 1e-7, "psnr": 80.0, "max_abs": 1.0, "mean_abs": 1e-4}
    exact = derive_thresholds({"ssim": 1.0, "psnr": math.inf, "max_abs": 0.0, "mean_abs": 0.0}, quantum)
    assert exact == pytest.approx({"ssim": 1 - 1e-7, "psnr": 80.0, "max_abs": 1.0, "mean_abs": 1e-4})
    noisy = derive_thresholds({"ssim": 0.999, "psnr": 50.0, "max_abs": 3.0, "mean_abs": 0.2}, quantum)
    assert noisy["ssim"] == pytest.approx(0.998)  # 1 - 2 x 0.001
    assert noisy["psnr"] == pytest.approx(50.0 - 10 * math.log10(2))  # twice the MSE
    assert noisy["max_abs"] == 6.0 and noisy["mean_abs"] == pytest.approx(0.4)
    assert derive_thresholds({"ssim": -0.5}, {"ssim": 0.9})["ssim"] == -1.0  # clamped to the range
    runs = [{"values": {"ssim": 0.99, "max_abs": 2.0}}, {"values": {"ssim": 0.98, "max_abs": 1.0}}]
    assert worst_values(runs) == {"ssim": 0.98, "max_abs": 2.0}


def test_calibrate_writes_noise_floors_and_the_vae_switch_then_fails_on_metrics(project: Path,
                                                                                capsys: pytest.CaptureFixture) -> None:
    suite_path = _loosen(project)
    lock_before = (project / "goldens" / "goldens.lock").read_text()
    # Before calibration the loose defaults let the bf16 -> fp32 VAE switch through.
    switched = GoldenSession(load_suite(suite_path), Options(device="cpu", precision={"vae": "fp32"}))
    before = switched.check(switched.suite.case("qwen")).verdict
    assert before.status == "passed", before.message()

    assert main(["calibrate", "--suite", str(suite_path), "-k", "qwen", "--runs", "2", "--write"]) == 0
    printed = capsys.readouterr().out
    assert "rule: threshold distance = max(2 x worst observed distance" in printed
    assert "qwen [" in printed and "bit-identical" in printed
    assert (project / "goldens" / "goldens.lock").read_text() != lock_before  # published: the pin moved
    nf = _meta(project, "qwen")["noise_floor"]
    assert [r["label"] for r in nf["runs"]][:2] == ["run 1 (fresh build)", "run 2"]
    assert any(r["label"].startswith("cpu threads=") for r in nf["runs"])
    assert nf["floor"]["max_abs"] == 0.0 and nf["bit_identical"] is True
    assert nf["thresholds"] == nf["suggested"] and nf["thresholds"]["max_abs"] == 1.0
    assert "wan" not in printed and _meta(project, "wan")["noise_floor"] is None  # -k selected qwen only

    suite = load_suite(suite_path)
    session = GoldenSession(suite, Options(device="cpu"))
    for _ in range(5):  # unchanged runs all pass, judged by the calibrated thresholds
        v = session.check(suite.case("qwen")).verdict
        assert v.status == "passed", v.message()
        assert v.metrics["mean_abs"].source == "calibrated" and v.metrics["ssim"].source == "calibrated"

    v = switched.check(switched.suite.case("qwen")).verdict  # same pipeline, judged by the new meta
    assert v.status == "failed"
    assert any("calibrated" in r and "mean_abs" in r for r in v.reasons), v.reasons
    assert not any("precision changed" in r for r in v.reasons)  # fingerprint only warns here
    assert any("precision changed: vae bf16 -> fp32" in w for w in v.warnings)


def test_rule_for_audio_metrics() -> None:
    quantum = {"audio_snr": 95.0, "audio_mel": 0.002, "audio_max_abs": 1 / 32768}
    exact = derive_thresholds({"audio_snr": math.inf, "audio_mel": 0.0, "audio_max_abs": 0.0}, quantum)
    assert exact == pytest.approx(quantum)  # bit-identical runs: just past exact
    noisy = derive_thresholds({"audio_snr": 60.0, "audio_mel": 0.05, "audio_max_abs": 0.001}, quantum)
    assert noisy["audio_snr"] == pytest.approx(60.0 - 10 * math.log10(2))  # twice the noise energy
    assert noisy["audio_mel"] == pytest.approx(0.1) and noisy["audio_max_abs"] == pytest.approx(0.002)


AUDIO_CASE = """
[[case]]
id = "audio"
pipeline = "stable-audio"
prompt = "a hammer hitting a wooden surface"
negative_prompt = "noise"
steps = 2
guidance = 6.0
"""


def test_calibrate_derives_audio_thresholds_and_the_audio_vae_switch_then_fails(project: Path, write_golden) -> None:
    """Audio gets calibrated thresholds too: loose audio defaults let an fp32 -> bf16 audio VAE
    through; after calibration unchanged runs pass and the switch fails on an audio metric."""
    suite_path = _loosen(project)
    def audio(d: dict) -> None:
        d["defaults"].update(audio_snr=10.0, audio_mel=2.0, audio_max_abs=0.9)
        merge(d, AUDIO_CASE)

    edit_suite(suite_path, audio)
    write_golden(suite_path, "audio")
    switched = GoldenSession(load_suite(suite_path), Options(device="cpu", precision={"vae": "bf16"}))
    before = switched.check(switched.suite.case("audio")).verdict
    assert before.status == "passed", before.message()

    assert main(["calibrate", "--suite", str(suite_path), "-k", "audio", "--runs", "2", "--write"]) == 0
    nf = _meta(project, "audio")["noise_floor"]
    # the audio track's metrics, and the stage checkpoints' (calibrated like any metric)
    assert set(nf["thresholds"]) == {"audio_snr", "audio_mel", "audio_max_abs", "stage_cos", "stage_rel_l2"}
    assert nf["quantum"]["audio_max_abs"] == pytest.approx(1 / 32768, rel=1e-3)
    assert nf["bit_identical"] is (nf["floor"]["audio_max_abs"] == 0.0)

    suite = load_suite(suite_path)
    session = GoldenSession(suite, Options(device="cpu"))
    for _ in range(3):
        v = session.check(suite.case("audio")).verdict
        assert v.status == "passed", v.message()
        assert {v.metrics[m].source for m in ("audio_snr", "audio_mel", "audio_max_abs")} == {"calibrated"}
    v = switched.check(switched.suite.case("audio")).verdict
    assert v.status == "failed"
    assert any("calibrated" in r and "audio_" in r for r in v.reasons), v.reasons


def test_calibrate_without_write_records_the_floor_but_keeps_thresholds(project: Path) -> None:
    suite_path = _loosen(project)
    assert main(["calibrate", "--suite", str(suite_path), "-k", "wan", "--runs", "1"]) == 0
    nf = _meta(project, "wan")["noise_floor"]
    assert nf["thresholds"] is None and set(nf["suggested"]) >= {"ssim", "ssim_worst", "psnr_worst", "max_abs"}
    assert nf["floor"]["psnr"] == "inf"  # strict JSON in meta.json
    suite = load_suite(suite_path)
    v = GoldenSession(suite, Options(device="cpu")).check(suite.case("wan")).verdict
    assert v.status == "passed" and v.metrics["ssim"].source == "suite default"


def test_calibrate_refuses_cases_without_a_golden_here(project: Path, capsys: pytest.CaptureFixture) -> None:
    suite_path = _loosen(project)
    lock = (project / "goldens" / "goldens.lock").read_text()
    assert main(["calibrate", "--suite", str(suite_path), "-k", "qwen", "--platform", "cpu-zz9"]) == 2
    err = capsys.readouterr().err
    assert "no golden for platform cpu-zz9" in err and "regress refresh -k qwen" in err and err.count("\n") == 1
    assert main(["calibrate", "--suite", str(suite_path), "-k", "nosuchcase"]) == 2
    assert main(["calibrate", "--suite", str(suite_path), "--runs", "0"]) == 2
    assert (project / "goldens" / "goldens.lock").read_text() == lock
