"""GitHub Actions output: job summary and ::error annotations, from the plugin and from merge."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from regress.cli import main
from regress.report.github import annotations, job_summary


def gh(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, workspace: Path) -> Path:
    summary = tmp_path / "step_summary.md"
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    monkeypatch.setenv("GITHUB_WORKSPACE", str(workspace))
    return summary


def test_annotations_point_at_the_case_in_the_suite(failing_report: Path, report_project: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GITHUB_WORKSPACE", str(report_project))
    doc = json.loads((failing_report / "results.json").read_text())
    lines = annotations(doc)
    assert len(lines) == 2  # qwen-b and wan fail; qwen passes
    suite_lines = (report_project / "goldens" / "suite.toml").read_text().splitlines()
    for line, cid in zip(lines, ("qwen-b", "wan")):
        head, _, message = line.partition("::")[2].partition("::")
        props = dict(p.split("=", 1) for p in head.removeprefix("error ").split(","))
        assert props["file"] == "goldens/suite.toml"
        assert suite_lines[int(props["line"]) - 1] == f'id = "{cid}"'
        assert props["title"].startswith(f"golden {cid} [") and props["title"].endswith("] failed")
        assert "\n" not in message and ("max_abs" in message or "ssim" in message)


def test_workflow_command_data_is_escaped() -> None:
    doc = {"cases": [{"id": "x", "platform": "cpu-avx2", "status": "failed",
                      "reasons": ["50% off\nsecond line", "a, b: c"]}]}
    (line,) = annotations(doc)
    assert line == "::error title=golden x [cpu-avx2] failed::50%25 off%0Asecond line; a, b: c"


def test_job_summary_lists_failures_first_with_worst_metric(failing_report: Path) -> None:
    md = job_summary(json.loads((failing_report / "results.json").read_text()))
    rows = [r for r in md.splitlines() if r.startswith("| `")]
    assert [r.split("`")[1] for r in rows][-1] == "qwen"
    assert ":x: failed" in rows[0] and "(needs" in rows[0]
    assert "### failures" in md and "**wan**" in md


def test_plugin_writes_summary_and_annotations(pytester: pytest.Pytester, project: Path, tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    summary = gh(monkeypatch, tmp_path, project)
    suite = project / "goldens" / "suite.toml"
    r = pytester.runpytest_inprocess(str(suite), f"--golden-suite={suite}", "-m", "golden", "-p",
                                     "no:cacheprovider", "-k", "qwen", "--golden-precision", "vae=fp32")
    r.assert_outcomes(failed=1)
    out = r.stdout.str()
    assert "::error file=goldens/suite.toml,line=" in out
    assert "title=golden qwen [" in out and "precision changed: vae bf16 -> fp32" in out
    text = summary.read_text()
    assert text.startswith("## regress golden report") and "**1 failed**" in text and "| `qwen` |" in text


def test_merge_writes_summary_with_coverage(merged_reports: dict, tmp_path: Path, report_project: Path,
                                            monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    summary = gh(monkeypatch, tmp_path, report_project)
    a, b = merged_reports["platform_a"], merged_reports["platform_b"]
    code = main(["report", "merge", str(merged_reports["a"]), str(merged_reports["b_qwen"]), "-o",
                 str(tmp_path / "m"), "--expect-platforms", f"{a},{b}", "--title", "golden matrix"])
    assert code == 1
    out = capsys.readouterr().out
    assert f"title=golden wan did not run on {b}" in out
    text = summary.read_text()
    assert "## golden matrix" in text and ":x: **coverage**" in text and f"`wan` on `{b}`" in text
    assert "golden(s) no case used" in text and "`retired`" in text


def test_no_output_outside_github(failing_report: Path, tmp_path: Path, capsys) -> None:
    assert main(["report", "merge", str(failing_report), "-o", str(tmp_path / "m")]) == 0
    assert "::error" not in capsys.readouterr().out
