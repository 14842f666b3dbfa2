"""`pytest -m golden` end to end on real tiny pipelines (in-process pytester runs)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from suite_edit import case_table, edit_suite

from regress.outputs import Output
from regress.stores import open_store
from regress.stores.base import StagedGolden
from regress.suite import load_suite

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


def run(pytester: pytest.Pytester, project: Path, *args: str) -> pytest.RunResult:
    suite = project / "goldens" / "suite.toml"
    return pytester.runpytest_inprocess(str(suite), f"--golden-suite={suite}", "-m", "golden",
                                        "-p", "no:cacheprovider", *args)


def results(report: Path) -> dict:
    return json.loads((report / "results.json").read_text())


def test_suite_passes_and_writes_report(pytester: pytest.Pytester, project: Path, tmp_path: Path) -> None:
    report = tmp_path / "report"
    r = run(pytester, project, f"--golden-report={report}")
    r.assert_outcomes(passed=2)
    doc = results(report)
    assert doc["schema"] == 1 and doc["summary"] == {"passed": 2}
    qwen = next(c for c in doc["cases"] if c["id"] == "qwen")
    assert qwen["golden"]["match"] == "exact"
    assert qwen["metrics"]["ssim"]["value"] == 1.0 and qwen["metrics"]["ssim"]["source"] == "suite default"
    assert qwen["metrics"]["max_abs"]["value"] == 0
    assert qwen["precision"]["changed"] == [] and qwen["precision"]["current"]["vae"] == "bf16"
    assert qwen["perf"]["current"]["peak_memory"]["total"] > 0
    html = (report / "index.html").read_text()
    assert "qwen" in html and "golden.png" in html and "identical to the golden" in html
    assert qwen["media"]["image"]["identical"] is True  # bit-identical: golden.png only, no actual or diff
    assert [p.name for p in (report / "cases" / "qwen" / doc["platform"]).iterdir()] == ["golden.png"]


def test_vae_fp32_override_fails_naming_component_and_metrics(pytester: pytest.Pytester, project: Path,
                                                              tmp_path: Path) -> None:
    report = tmp_path / "report"
    r = run(pytester, project, "-k", "qwen", "--golden-precision", "vae=fp32", f"--golden-report={report}")
    r.assert_outcomes(failed=1)
    out = r.stdout.str()
    assert "precision changed: vae bf16 -> fp32" in out
    assert "Traceback" not in out
    case = results(report)["cases"][0]
    assert case["status"] == "failed"
    assert case["precision"]["changed"] == [{"component": "vae", "golden": "bf16", "current": "fp32"}]
    assert isinstance(case["metrics"]["psnr"]["value"], (int, float, str))
    assert set(case["metrics"]) >= {"ssim", "psnr", "max_abs", "mean_abs"}


def test_one_pixel_moved_by_3_fails(pytester: pytest.Pytester, project: Path) -> None:
    suite = load_suite(project / "goldens" / "suite.toml")
    store = open_store(suite)
    (platform,) = store.platforms("qwen")
    g = store.get("qwen", platform)
    img = g.output().image.copy()
    img[5, 7, 1] = img[5, 7, 1] + 3 if img[5, 7, 1] < 250 else img[5, 7, 1] - 3
    store.publish([StagedGolden("qwen", platform, Output(image=img), {k: v for k, v in g.meta.items()
                                                                       if k != "files"})])
    r = run(pytester, project, "-k", "qwen")
    r.assert_outcomes(failed=1)
    assert "max_abs=3/255 (needs <= 2, suite default)" in r.stdout.str()


def test_video_case_reports_worst_frame(pytester: pytest.Pytester, project: Path, tmp_path: Path) -> None:
    suite = load_suite(project / "goldens" / "suite.toml")
    store = open_store(suite)
    (platform,) = store.platforms("wan")
    g = store.get("wan", platform)
    out = g.output()
    frames = out.video.copy()
    frames[4] = 255 - frames[4]
    store.publish([StagedGolden("wan", platform, Output(video=frames, fps=out.fps),
                                {k: v for k, v in g.meta.items() if k != "files"})])
    report = tmp_path / "report"
    r = run(pytester, project, "-k", "wan", f"--golden-report={report}")
    r.assert_outcomes(failed=1)
    case = results(report)["cases"][0]
    assert case["worst_frame"] == 4  # an index
    assert case["metrics"]["ssim_worst"]["passed"] is False
    assert "worst frame 5" in r.stdout.str() and "at frame 5" in r.stdout.str()  # messages count from 1


def test_missing_golden_skips_or_fails_under_strict(pytester: pytest.Pytester, project: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CI", raising=False)
    r = run(pytester, project, "-k", "qwen", "--golden-platform=rocm-gfx942")
    r.assert_outcomes(skipped=1)
    r = run(pytester, project, "-k", "qwen", "--golden-platform=rocm-gfx942", "--golden-strict")
    r.assert_outcomes(failed=1)
    assert "no golden for platform rocm-gfx942" in r.stdout.str()
    monkeypatch.setenv("CI", "true")
    r = run(pytester, project, "-k", "qwen", "--golden-platform=rocm-gfx942")
    r.assert_outcomes(failed=1)


def test_nearest_golden_is_used_and_named(pytester: pytest.Pytester, project: Path, tmp_path: Path) -> None:
    report = tmp_path / "report"
    from regress.stores import open_store
    from regress.suite import load_suite

    own = open_store(load_suite(project / "goldens" / "suite.toml")).platforms("qwen")
    other = next(k for k in ("cpu-default", "cpu-avx2", "cpu-avx512") if k not in own)
    r = run(pytester, project, "-k", "qwen", f"--golden-platform={other}", f"--golden-report={report}")
    r.assert_outcomes(passed=1)
    case = results(report)["cases"][0]
    assert case["golden"]["match"] == "nearest" and case["golden"]["platform"].startswith("cpu-")
    # The stand-in was made on this machine (the fixture made it here): its kernel probe matches,
    # so it is judged exactly, with the suite's own thresholds and not the [fallback] guesses.
    assert case["numerics"]["regime"] == "exact" and case["metrics"]["ssim"]["source"] == "suite default"


def test_nan_output_fails(pytester: pytest.Pytester, project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import regress.runners

    monkeypatch.setattr(regress.runners, "_registered", {})
    monkeypatch.setattr(regress.runners, "_loaded", {})
    (project / "goldens" / "conftest.py").write_text(
        "import regress\n"
        "from regress.runners import get_runner\n"
        "base = get_runner('qwen-image')\n"
        "class Poisoned:\n"
        "    name = 'qwen-image'\n"
        "    output_kind = base.output_kind\n"
        "    default_precision = base.default_precision\n"
        "    def build(self, case, precision, device):\n"
        "        import torch\n"
        "        pipe = base.build(case, precision, device)\n"
        "        with torch.no_grad():\n"
        "            next(pipe.pipe.transformer.parameters()).fill_(float('nan'))\n"
        "        return pipe\n"
        "    def run(self, pipe, case, device):\n"
        "        return base.run(pipe, case, device)\n"
        "regress.register_runner('qwen-image', Poisoned())\n")
    r = run(pytester, project, "-k", "qwen")
    r.assert_outcomes(failed=1)
    assert "NaN/Inf" in r.stdout.str()


def test_platform_xfail_and_skip_rules(pytester: pytest.Pytester, project: Path) -> None:
    suite = project / "goldens" / "suite.toml"
    def rules(d: dict) -> None:
        case_table(d, "qwen")["xfail"] = [{"platform": "cpu-*", "reason": "known drift"}]
        case_table(d, "wan")["skip"] = [{"platform": "cpu-*", "reason": "too slow"}]

    edit_suite(suite, rules)
    report = project / "report"
    r = run(pytester, project, "--golden-precision", "vae=fp32", "-rsx", f"--golden-report={report}")
    r.assert_outcomes(xfailed=1, skipped=1)
    assert "known drift" in r.stdout.str() and "too slow" in r.stdout.str()
    # results.json agrees with pytest: xfailed, not failed; merge and GitHub do not count it
    doc = results(report)
    assert doc["summary"] == {"skipped": 1, "xfailed": 1}
    qwen = next(c for c in doc["cases"] if c["id"] == "qwen")
    assert qwen["status"] == "xfailed" and qwen["reasons"]  # why it failed is kept
    assert any("expected to fail" in w and "known drift" in w for w in qwen["warnings"])
    from regress.report.github import annotations, job_summary
    from regress.report.merge import merge_reports

    merged = merge_reports([report], project / "merged")
    assert merged["summary"] == {"skipped": 1, "xfailed": 1}
    assert annotations(merged) == [] and "### failures" not in job_summary(merged)


def test_bad_suite_is_one_line_collection_error(pytester: pytest.Pytester, project: Path) -> None:
    suite = project / "goldens" / "suite.toml"
    edit_suite(suite, lambda d: case_table(d, "qwen").update(steps="two"))
    r = run(pytester, project)
    assert r.ret != 0
    out = r.stdout.str()
    assert "case 'qwen': field 'steps': must be an integer" in out
    assert "Traceback" not in out and "suite.py" not in out


def test_tampered_store_is_a_collection_error(pytester: pytest.Pytester, project: Path) -> None:
    png = next((project / "goldens" / "store").rglob("output.png"))
    png.write_bytes(png.read_bytes()[:-4])
    r = run(pytester, project)
    assert r.ret != 0 and "does not match the pin" in r.stdout.str()


def test_update_missing_writes_goldens_and_moves_the_lock(pytester: pytest.Pytester, project: Path) -> None:
    lock = project / "goldens" / "goldens.lock"
    before = lock.read_text()
    r = run(pytester, project, "-k", "qwen", "--golden-platform=cpu-sve", "--golden-update=missing")
    r.assert_outcomes(passed=1)
    assert lock.read_text() != before
    assert (project / "goldens" / "store" / "cases" / "qwen" / "cpu-sve" / "meta.json").is_file()
    r = run(pytester, project, "-k", "qwen", "--golden-platform=cpu-sve", "--golden-strict")
    r.assert_outcomes(passed=1)


def test_pipeline_built_once_per_configuration(project: Path) -> None:
    from regress.runners import get_runner
    from regress.session import GoldenSession, Options

    suite = load_suite(project / "goldens" / "suite.toml")
    session = GoldenSession(suite, Options(device="cpu"))
    runner = get_runner("qwen-image")
    calls = []
    orig = runner.build
    try:
        runner.build = lambda *a, **k: calls.append(1) or orig(*a, **k)  # type: ignore[method-assign]
        case = suite.case("qwen")
        first = session.run(case).output.image
        second = session.run(case).output.image
    finally:
        del runner.build
    assert len(calls) == 1 and np.array_equal(first, second)


def test_a_report_that_cannot_be_written_is_one_line_and_fails_the_run(pytester: pytest.Pytester, project: Path,
                                                                       tmp_path: Path,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """Media are written on the I/O thread: a disk error there surfaces once, at the end, as one
    line that fails the run, not as a traceback or a silently missing report."""
    def full(*_: object) -> None:
        raise OSError(28, "No space left on device")

    import importlib

    # The module object the run will import (sys.modules'), not an attribute of the package: that
    # can be a stale copy when an earlier in-process pytester run imported the module.
    monkeypatch.setattr(importlib.import_module("regress.report.assets"), "write_case_assets", full)
    r = run(pytester, project, f"--golden-report={tmp_path / 'report'}")
    out = r.stdout.str()
    assert r.ret != 0
    assert "regress: the report's media were not written: writing the report's media failed: the media writer " \
           "raised OSError: [Errno 28] No space left" in out
    # the records still go out (one failing step never loses the others), without media
    assert "Traceback" not in out and (tmp_path / "report" / "results.json").exists()


def test_heap_is_frozen_for_golden_runs_only(pytester: pytest.Pytester, project: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """The plugin freezes the heap after collecting golden cases and the session after its first
    build (full GC passes then skip torch/diffusers); a library caller's session never does."""
    import regress.pipelines
    import regress.session as session_mod

    calls: list[str] = []
    monkeypatch.setattr(regress.pipelines, "freeze_heap", lambda: calls.append("freeze"))
    run(pytester, project, "-k", "qwen").assert_outcomes(passed=1)
    assert calls == ["freeze", "freeze"]  # after collection, after the first build
    calls.clear()
    pytester.makepyfile(test_plain="def test_nothing():\n    pass\n")
    pytester.runpytest_inprocess("test_plain.py", "-p", "no:cacheprovider").assert_outcomes(passed=1)
    assert calls == []
    suite = load_suite(project / "goldens" / "suite.toml")
    session_mod.GoldenSession(suite, session_mod.Options(device="cpu")).check(suite.case("qwen"))
    assert calls == []
