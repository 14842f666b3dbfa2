"""Judging against a reference made on the same numerics: A/B of two revisions on one machine
(--golden-record / --golden-baseline, ``regress ab``) and references adopted per numerics
identity (``regress adopt``, --golden-adopt).

Every run here makes its references on the machine it runs on, so the exact regime asserted
is this machine's own; the drift regime is made by recording a kernel probe that differs.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from shell import sh

from regress.suite import load_suite

pytest.importorskip("torch")

GIT = "git -c user.email=t@example.com -c user.name=t"


def _session(suite_path: Path, **options):  # noqa: ANN003, ANN202
    from regress.session import GoldenSession, Options

    return GoldenSession(load_suite(suite_path), Options(device="cpu", **options))


def _check(suite_path: Path, case_id: str = "qwen", **options):  # noqa: ANN003, ANN202
    s = _session(suite_path, **options)
    v = s.check(s.suite.case(case_id)).verdict
    return s, v


def _git_project(project: Path) -> None:
    sh(f"git init -q && {GIT} add -A && {GIT} commit -qm project", project).check_returncode()


# --------------------------------------------------------------------------- A/B

def test_a_recorded_run_judges_another_exactly_and_the_impact_table_names_the_change(project: Path,
                                                                                  tmp_path: Path) -> None:
    from regress.report.impact import markdown

    suite_path = project / "goldens" / "suite.toml"
    base = tmp_path / "base"
    _check(suite_path, record_dir=base)
    assert (base / "cases" / "qwen").is_dir()
    _, same = _check(suite_path, baseline_dir=base)
    assert same.status == "passed" and same.ab["moved"] is False and same.ab["status"] == "passed"
    assert same.ab["numerics"]["regime"] == "exact"
    s, flipped = _check(suite_path, baseline_dir=base, precision={"vae": "fp32"})
    assert flipped.status == "failed" and flipped.ab["status"] == "failed" and flipped.ab["moved"] is True
    assert any(r.startswith("against the run recorded in") for r in flipped.reasons), flipped.reasons
    table = markdown({"cases": [flipped.to_json(), same.to_json()], "platform": flipped.platform})
    row = next(line for line in table.splitlines() if line.startswith("| qwen"))
    assert "vae bf16 → fp32" in row and "MiB (+" in row  # the fp32 VAE's memory, before and after
    assert "1 case(s) did not move" in table
    from regress.report.html import render_html

    page = render_html({"cases": [flipped.to_json(), same.to_json()], "platform": flipped.platform})
    assert "<section id='impact'>" in page and "vae bf16 → fp32" in page  # the HTML report's section
    assert "no output moved" in markdown({"cases": [same.to_json()], "platform": same.platform})


def test_a_baseline_recorded_on_another_platform_compares_nothing_so_it_is_an_error(project: Path,
                                                                                  tmp_path: Path) -> None:
    suite_path = project / "goldens" / "suite.toml"
    _check(suite_path, record_dir=tmp_path / "base", platform="cuda-sm90")  # another runner's recording
    _, v = _check(suite_path, baseline_dir=tmp_path / "base")
    assert v.status == "error" and "ran this case on cuda-sm90" in v.message(), v.message()


def test_a_baseline_that_is_not_a_recording_is_a_usage_error(project: Path, tmp_path: Path) -> None:
    r = sh(f"pytest -m golden -p no:cacheprovider --golden-baseline={tmp_path / 'nothing'}", project)
    assert r.returncode == 4 and "--golden-baseline" in (r.stdout + r.stderr) and "Traceback" not in r.stderr


def test_regress_ab_catches_a_committed_change_and_passes_an_unchanged_tree(project: Path) -> None:
    """In a git checkout of a project: ``regress ab HEAD`` moves nothing (exit 0); after a commit
    that runs the VAE in fp32, ``regress ab HEAD~1`` exits 1 with the impact table."""
    _git_project(project)
    same = sh("regress ab HEAD -k qwen --report ab1", project)
    assert same.returncode == 0, same.stdout + same.stderr
    assert "no output moved" in same.stdout
    suite = project / "goldens" / "suite.toml"
    suite.write_text(suite.read_text().replace('id = "qwen"\n', 'id = "qwen"\nprecision = { vae = "fp32" }\n'))
    sh(f"{GIT} commit -qam 'qwen: VAE in fp32'", project).check_returncode()
    moved = sh("regress ab HEAD~1 -k qwen --report ab2", project)
    assert moved.returncode == 1, moved.stdout + moved.stderr
    assert "vae bf16 → fp32" in moved.stdout and " MiB (+" in moved.stdout
    assert (project / "ab2" / "impact.md").read_text() == moved.stdout
    again = sh("regress ab HEAD~1 -k qwen --report ab3", project)
    assert again.returncode == 1 and "was cached" in again.stderr  # BASE's run is not repeated


# --------------------------------------------------------------------------- adopted references

def _drift_golden(suite_path: Path, case_id: str = "qwen", *, shift: bool = False) -> None:
    """Make the reviewed golden look like another machine's (one probe op differs) with measured
    drift bounds loose enough for a 3-code change, so that only a reference can catch one."""
    from regress.outputs import Output
    from regress.stores import open_store
    from regress.stores.base import StagedGolden

    store = open_store(load_suite(suite_path))
    (platform,) = store.platforms(case_id)
    g = store.get(case_id, platform)
    meta = {k: v for k, v in g.meta.items() if k != "files"}
    probe = meta["identity"]["probe"]
    probe[sorted(probe)[0]] = "0" * 16
    meta["drift"] = {"schema": 1, "thresholds": {"ssim": 0.99, "psnr": 35.0, "max_abs": 16, "mean_abs": 4.0},
                     "paths": [{"label": "default"}], "machine": "another CPU", "margin": 2.0}
    out = g.output()
    if shift:
        img = out.image.astype(np.int16)
        img[:, : img.shape[1] // 2] += 3
        out = Output(image=np.clip(img, 0, 255).astype(np.uint8), stages=out.stages)
    store.publish([StagedGolden(case_id, platform, out, meta)])


def _shift_runs(monkeypatch: pytest.MonkeyPatch) -> None:
    """The code under test moves half of every image by 3 codes (a small real change)."""
    from regress.runners import diffusers_family as df

    real = df.DiffusersFamily.to_output

    def shifted(self, result, case, pipe):  # noqa: ANN001, ANN202
        out = real(self, result, case, pipe)
        img = out.image.astype(np.int16)
        img[:, : img.shape[1] // 2] += 3
        out.image = np.clip(img, 0, 255).astype(np.uint8)
        return out

    monkeypatch.setattr(df.DiffusersFamily, "to_output", shifted)


def test_adopted_reference_judges_exactly_and_catches_what_drift_bounds_pass(project: Path,
                                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    suite_path = project / "goldens" / "suite.toml"
    _drift_golden(suite_path)
    _git_project(project)
    r = sh("regress adopt -k qwen", project)
    assert r.returncode == 0 and "adopted 1 reference(s)" in r.stdout, r.stdout + r.stderr
    assert list((project / "goldens" / "store" / "refs" / "qwen").glob("*/*/meta.json"))
    _, v = _check(suite_path, strict=True)
    assert v.status == "passed" and v.reference["numerics"]["regime"] == "exact", v.message()
    assert v.numerics["line"].startswith("numerics: exact against this machine's reference")
    assert "against the reviewed golden" in v.numerics["line"] and "platform drift" in v.numerics["line"]
    _shift_runs(monkeypatch)
    _, moved = _check(suite_path, strict=True)
    assert moved.status == "failed", moved.message()
    assert moved.reasons[0].startswith("against this machine's reference") and "max_abs=3/255" in moved.reasons[0]
    assert moved.metrics["max_abs"].passed  # the drift bounds alone would have passed it


def test_refreshing_the_reviewed_golden_retires_its_references(project: Path) -> None:
    suite_path = project / "goldens" / "suite.toml"
    _drift_golden(suite_path)
    s, _ = _check(suite_path, adopt=True)
    from regress.references import publish

    ids, revision = publish(s)
    assert ids == ["qwen"] and revision
    _drift_golden(suite_path, shift=True)  # the reviewed golden changes (a refresh)
    _, v = _check(suite_path)
    assert not v.reference and any("reference was retired" in w for w in v.warnings), v.message()


def test_adopting_refuses_a_working_tree_with_local_changes(project: Path) -> None:
    _git_project(project)
    suite = project / "goldens" / "suite.toml"
    suite.write_text(suite.read_text() + "\n")
    lock = (project / "goldens" / "goldens.lock").read_text()
    r = sh("regress adopt -k qwen", project)
    assert r.returncode == 2 and "local changes (goldens/suite.toml)" in r.stderr and "Traceback" not in r.stderr
    p = sh("pytest -m golden -p no:cacheprovider --golden-adopt -k qwen", project)
    assert p.returncode == 4 and "--golden-adopt" in p.stdout + p.stderr
    assert (project / "goldens" / "goldens.lock").read_text() == lock
    assert not (project / "goldens" / "store" / "refs").exists()
