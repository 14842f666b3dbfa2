"""The `regress` command: exit codes 0 / 1 / 2, one-line errors, refresh all-or-nothing."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from suite_edit import case_table, edit_suite

from regress.cli import main
from regress.outputs import Output
from regress.stores.file import tree_hash

REPO = Path(__file__).resolve().parent.parent


def png(path: Path, img: np.ndarray) -> Path:
    path.write_bytes(Output(image=img).encode()["output.png"])
    return path


@pytest.fixture
def images(tmp_path: Path) -> tuple[Path, Path, Path]:
    rng = np.random.default_rng(0)
    a = rng.integers(0, 256, (48, 48, 3), dtype=np.uint8)
    b = a.copy()
    b[:24] = 255 - b[:24]
    return png(tmp_path / "a.png", a), png(tmp_path / "a2.png", a.copy()), png(tmp_path / "b.png", b)


def test_compare_identical_is_0(images, capsys, tmp_path: Path) -> None:
    a, a2, _ = images
    assert main(["compare", str(a), str(a2), "--json", "--suite", str(tmp_path / "none.toml")]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["passed"] is True and doc["metrics"]["ssim"] == 1.0 and doc["metrics"]["psnr"] == "inf"


def test_compare_regression_is_1(images, capsys) -> None:
    a, _, b = images
    assert main(["compare", str(a), str(b), "--suite", str(REPO / "goldens" / "suite.toml")]) == 1
    out = capsys.readouterr().out
    assert "FAIL ssim=" in out and "suite default" in out and out.strip().endswith("regression")


def test_compare_uses_the_same_thresholds_in_and_out_of_a_repository(images, capsys, tmp_path: Path) -> None:
    """Outside a repository `regress compare` judges with the starter thresholds (what `regress
    init` writes and a project without a suite file gets), which the tiny suite also uses: the
    same values in both places for what an image is judged on, each printed with its source."""
    from regress.suite import STARTER_DEFAULTS, load_suite

    repo_defaults = load_suite(REPO / "goldens" / "suite.toml").defaults
    assert {k: repo_defaults[k] for k in STARTER_DEFAULTS} == dict(STARTER_DEFAULTS)
    a, _, b = images
    docs = []
    for suite in (REPO / "goldens" / "suite.toml", tmp_path / "none.toml"):
        assert main(["compare", str(a), str(b), "--json", "--suite", str(suite)]) == 1
        docs.append(json.loads(capsys.readouterr().out)["thresholds"])
    inside, outside = docs
    image = ("ssim", "ssim_worst", "psnr", "psnr_worst", "max_abs", "mean_abs")
    assert {k: inside[k]["value"] for k in image} == {k: outside[k]["value"] for k in image}
    assert inside["ssim"]["source"] == f"suite default ({REPO / 'goldens' / 'suite.toml'})"
    assert outside["ssim"]["source"] == f"suite default (regress defaults: no suite at {tmp_path / 'none.toml'})"
    assert main(["compare", str(a), str(b), "--suite", str(tmp_path / "none.toml")]) == 1
    out = capsys.readouterr().out
    assert "FAIL ssim=" in out and "[suite default (regress defaults: no suite at" in out


def test_compare_unreadable_or_mismatched_is_2(images, capsys, tmp_path: Path) -> None:
    a, _, _ = images
    junk = tmp_path / "junk.png"
    junk.write_bytes(b"not a png")
    assert main(["compare", str(a), str(junk)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "junk.png" in err and "not a readable PNG" in err
    small = png(tmp_path / "small.png", np.zeros((8, 8, 3), np.uint8))
    assert main(["compare", str(a), str(small)]) == 2
    assert "shape" in capsys.readouterr().err
    assert main(["compare", str(a), str(tmp_path / "missing.png")]) == 2
    assert "no such file" in capsys.readouterr().err


def test_bad_suite_exits_2_with_one_line(tmp_path: Path, capsys) -> None:
    bad = tmp_path / "suite.toml"
    bad.write_text('[store]\nkind = "file"\npath = "s"\n[[case]]\nid = "x"\npipeline = "flux"\nsteps = 0\n')
    assert main(["check", "--suite", str(bad)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "case 'x'" in err and "field 'steps'" in err


def test_usage_error_exits_2(capsys) -> None:
    with pytest.raises(SystemExit) as ei:
        main(["frobnicate"])
    assert ei.value.code == 2


def test_check_validates_components(project: Path, capsys) -> None:
    suite = project / "goldens" / "suite.toml"
    assert main(["check", "--suite", str(suite)]) == 0
    assert "2 cases" in capsys.readouterr().out
    edit_suite(suite, lambda d: case_table(d, "qwen").update(precision={"vea": "fp32"}))
    assert main(["check", "--suite", str(suite)]) == 2
    err = capsys.readouterr().err
    assert "case 'qwen'" in err and "precision.vea" in err and "unknown component 'vea'" in err


def test_refresh_rewrites_selected_goldens_and_lock(project: Path, capsys) -> None:
    suite = project / "goldens" / "suite.toml"
    lock = project / "goldens" / "goldens.lock"
    assert main(["refresh", "--suite", str(suite), "-k", "qwen", "--precision", "vae=fp32"]) == 0
    after = lock.read_text()
    assert tree_hash(project / "goldens" / "store") in after
    meta = json.loads(next((project / "goldens/store/cases/qwen").rglob("meta.json")).read_text())
    assert meta["precision"]["vae"] == "fp32"
    # the wan golden was not selected and did not move; qwen now fails (bf16 against its fp32
    # golden) and --only missing leaves it as it was: a regression, exit 1 (docs/reference.md)
    assert main(["refresh", "--suite", str(suite), "-k", "qwen", "--only", "missing"]) == 1
    assert lock.read_text() == after


def test_failed_refresh_leaves_lock_and_store(project: Path, monkeypatch, capsys) -> None:
    suite = project / "goldens" / "suite.toml"
    lock = project / "goldens" / "goldens.lock"
    before, tree = lock.read_bytes(), tree_hash(project / "goldens" / "store")
    monkeypatch.setenv("REGRESS_FAIL_AT", "before-lock")
    assert main(["refresh", "--suite", str(suite), "--precision", "vae=fp32"]) == 1
    assert "store and lock unchanged" in capsys.readouterr().err
    assert lock.read_bytes() == before and tree_hash(project / "goldens" / "store") == tree
    monkeypatch.delenv("REGRESS_FAIL_AT")
    # a case that cannot run stops the whole refresh before anything is written
    edit_suite(suite, lambda d: case_table(d, "wan").update(pipeline="nope"))
    assert main(["refresh", "--suite", str(suite), "--precision", "vae=fp32"]) == 1
    assert lock.read_bytes() == before and tree_hash(project / "goldens" / "store") == tree
    assert "unknown pipeline 'nope'" in capsys.readouterr().err


def test_env_json(capsys) -> None:
    assert main(["env", "--json", "--device", "cpu"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["key"].startswith("cpu-") and "torch" in doc["versions"]


def test_import_regress_stays_light() -> None:
    code = ("import sys, regress, regress.plugin, regress.cli, regress.suite, regress.verdict;"
            "print(','.join(m for m in ('torch','diffusers','lpips','transformers','skimage') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == ""


def test_the_plugin_import_leaves_the_suite_module_for_collection() -> None:
    """Every pytest run of the environment imports the plugin; the suite module (TOML parser,
    dataclasses) loads only when a suite is collected or regress.Case & co. are used."""
    code = ("import sys, regress.plugin; before = 'regress.suite' in sys.modules; import regress; "
            "regress.Case; print(before, 'regress.suite' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "True"]


def test_console_script_exit_code(tmp_path: Path) -> None:
    r = subprocess.run([sys.executable, "-m", "regress.cli", "compare", str(tmp_path / "x.png"),
                        str(tmp_path / "y.png")], capture_output=True, text=True)
    assert r.returncode == 2 and "Traceback" not in r.stderr and r.stderr.count("\n") == 1
