"""`regress report merge`: one report from runs on two platform keys (one of them in two shards),
coverage across platforms, unused goldens across the matrix, one-line errors for bad input."""

from __future__ import annotations

import json
from pathlib import Path

from regress.cli import main
from regress.report.merge import merge_reports


def results(report: Path) -> dict:
    return json.loads((report / "results.json").read_text())


def test_merge_of_two_platforms_is_one_report_with_both(merged_reports: dict) -> None:
    doc = results(merged_reports["complete"])
    a, b = merged_reports["platform_a"], merged_reports["platform_b"]
    assert doc["platforms"] == sorted([a, b]) and doc["platform"] is None
    assert sorted((c["id"], c["platform"]) for c in doc["cases"]) == sorted(
        (cid, p) for cid in ("qwen", "qwen-b", "wan") for p in (a, b))
    assert len(doc["runs"]) == 3 and {r["platform"] for r in doc["runs"]} == {a, b}
    assert sum(doc["summary"].values()) == 6
    assert doc["coverage"] == {"platforms": sorted([a, b]), "cases": ["qwen", "qwen-b", "wan"], "missing": [],
                               "complete": True, "enforced": True}
    # media came along, under paths the page uses
    for c in doc["cases"]:
        for rel in c["files"].values():
            assert (merged_reports["complete"] / rel).is_file(), rel
    html = (merged_reports["complete"] / "index.html").read_text()
    assert f"<th>{a}</th>" in html and f"<th>{b}</th>" in html


def test_unused_goldens_are_listed_across_the_matrix(merged_reports: dict) -> None:
    doc = results(merged_reports["complete"])
    assert doc["unused_goldens"] == [["retired", merged_reports["platform_a"]]]
    # one shard alone would call the other shard's goldens unused: only the merge can tell
    alone = results(merged_reports["b_wan"])
    used = {tuple(g) for r in alone["runs"] for g in r["goldens_used"]}
    assert ("wan", merged_reports["platform_a"]) in used and ("qwen", merged_reports["platform_a"]) not in used


def test_coverage_fails_when_a_case_is_missing_on_one_platform(merged_reports: dict, tmp_path: Path,
                                                               capsys) -> None:
    a, b = merged_reports["platform_a"], merged_reports["platform_b"]
    out = tmp_path / "merged"
    code = main(["report", "merge", str(merged_reports["a"]), str(merged_reports["b_qwen"]), "-o", str(out),
                 "--expect-platforms", f"{a},{b}"])
    printed = capsys.readouterr().out
    assert code == 1
    assert f"did not run: wan [{b}]" in printed and "coverage: 1 case run(s) missing" in printed
    doc = results(out)
    assert doc["coverage"]["missing"] == [["wan", b]] and doc["coverage"]["complete"] is False
    assert "did not run" in (out / "index.html").read_text()
    # with the second shard of platform b, every case ran on both: exit 0
    code = main(["report", "merge", str(merged_reports["a"]), str(merged_reports["b_qwen"]),
                 str(merged_reports["b_wan"]), "-o", str(tmp_path / "all"), "--expect-platforms", f"{a},{b}"])
    assert code == 0 and "coverage: every case ran on" in capsys.readouterr().out
    # a platform no run covered at all is a gap for every case
    code = main(["report", "merge", str(merged_reports["a"]), "-o", str(tmp_path / "rocm"),
                 "--expect-platforms", f"{a},rocm-gfx942"])
    assert code == 1 and "did not run: qwen [rocm-gfx942]" in capsys.readouterr().out


def test_without_expected_platforms_gaps_are_reported_not_fatal(merged_reports: dict, tmp_path: Path,
                                                                capsys) -> None:
    code = main(["report", "merge", str(merged_reports["a"]), str(merged_reports["b_qwen"]), "-o",
                 str(tmp_path / "m")])
    assert code == 0 and "did not run: wan" in capsys.readouterr().out


def test_merge_of_merges_and_name_clashes(merged_reports: dict, tmp_path: Path) -> None:
    """A merged report merges again; the same case on the same platform twice keeps both records
    (each with its own media) and says so."""
    doc = merge_reports([merged_reports["complete"], merged_reports["a"]], tmp_path / "again")
    a = merged_reports["platform_a"]
    twice = [c for c in doc["cases"] if c["id"] == "wan" and c["platform"] == a]
    assert len(twice) == 2 and len(doc["runs"]) == 4
    assert all(any("ran 2 times" in w for w in c["warnings"]) for c in twice)
    dirs = {c["files"]["golden"].rsplit("/", 2)[0] for c in twice}
    assert len(dirs) == 2
    for c in twice:
        assert (tmp_path / "again" / c["files"]["diff"]).is_file()


def test_bad_input_is_one_line_naming_the_file(tmp_path: Path, capsys) -> None:
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "results.json").write_text("{not json")
    assert main(["report", "merge", str(bad), "-o", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and str(bad / "results.json") in err and "not valid JSON" in err
    (bad / "results.json").write_text(json.dumps({"schema": 1, "cases": [{"id": "x"}]}))
    assert main(["report", "merge", str(bad), "-o", str(tmp_path / "o")]) == 2
    assert "cases[0] needs string fields" in capsys.readouterr().err
    assert main(["report", "merge", str(tmp_path / "nope"), "-o", str(tmp_path / "o")]) == 2
    assert "no such directory" in capsys.readouterr().err
    assert main(["report", "merge", str(bad), "-o", str(tmp_path / "o"), "--expect-platforms", "cuda"]) == 2
    assert "--expect-platforms: invalid platform key" in capsys.readouterr().err
