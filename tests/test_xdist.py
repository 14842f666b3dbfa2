"""pytest-xdist: one worker per GPU, each pinned by *_VISIBLE_DEVICES, results merged at the
controller, no worker writing another's files; --golden-update refused."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from regress.workers import device_for

RECORD_DEVICES = """
import os, pathlib
def pytest_runtest_setup(item):
    worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
    pathlib.Path(__file__).parent.joinpath(f"devices-{worker}.txt").write_text(
        os.environ.get("CUDA_VISIBLE_DEVICES", "") + "|" + os.environ.get("HIP_VISIBLE_DEVICES", ""))
"""


def test_device_for_worker() -> None:
    assert device_for("gw0", {}) == "0" and device_for("gw3", {}) == "3"
    assert device_for("gw1", {"CUDA_VISIBLE_DEVICES": "4,6"}) == "6"
    assert device_for("gw2", {"CUDA_VISIBLE_DEVICES": "4,6"}) == "4"  # more workers than GPUs: wrap around
    assert device_for("gw1", {"HIP_VISIBLE_DEVICES": "2,3", "CUDA_VISIBLE_DEVICES": "0,1"}) == "3"
    assert device_for("gw0", {"REGRESS_WORKER_DEVICES": "7", "CUDA_VISIBLE_DEVICES": "0"}) == "7"


def test_two_workers_merge_into_one_report(pytester: pytest.Pytester, project: Path, tmp_path: Path,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    (project / "goldens" / "conftest.py").write_text(RECORD_DEVICES)
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "5,7")
    monkeypatch.delenv("HIP_VISIBLE_DEVICES", raising=False)
    report = tmp_path / "report"
    (report / "workers" / "gw9").mkdir(parents=True)  # left over from an earlier run: must not be merged
    (report / "workers" / "gw9" / "results.json").write_text("{}")
    suite = project / "goldens" / "suite.toml"
    r = pytester.runpytest_subprocess(str(suite), f"--golden-suite={suite}", "-m", "golden", "-n", "2",
                                      "-p", "no:cacheprovider", f"--golden-report={report}", "--golden-device=cpu",
                                      timeout=300)
    r.assert_outcomes(passed=2)
    assert "merged 2 worker report(s)" in r.stdout.str()
    doc = json.loads((report / "results.json").read_text())
    assert sorted(c["id"] for c in doc["cases"]) == ["qwen", "wan"]
    assert sorted(r["worker"] for r in doc["runs"]) == ["gw0", "gw1"]
    assert doc["summary"] == {"passed": 2} and doc["coverage"] is None
    assert sorted(p.name for p in (report / "workers").iterdir()) == ["gw0", "gw1"]
    for w in ("gw0", "gw1"):
        part = json.loads((report / "workers" / w / "results.json").read_text())
        assert [r["worker"] for r in part["runs"]] == [w] and len(part["cases"]) == 1
    for c in doc["cases"]:  # media copied out of the workers' folders
        assert all((report / rel).is_file() for rel in c["files"].values())
    assert "qwen" in (report / "index.html").read_text()
    devices = {p.name: p.read_text() for p in (project / "goldens").glob("devices-*.txt")}
    assert devices == {"devices-gw0.txt": "5|5", "devices-gw1.txt": "7|7"}


def test_golden_update_is_refused_under_xdist(pytester: pytest.Pytester, project: Path) -> None:
    suite = project / "goldens" / "suite.toml"
    r = pytester.runpytest_subprocess(str(suite), f"--golden-suite={suite}", "-m", "golden", "-n", "2",
                                      "-p", "no:cacheprovider", "--golden-update=missing", timeout=120)
    assert r.ret == pytest.ExitCode.USAGE_ERROR
    assert "--golden-update cannot run under pytest-xdist" in r.stderr.str()
