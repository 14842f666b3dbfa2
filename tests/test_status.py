"""One rule for "is this a failure" (regress.status), read by every view of an outcome."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from regress.report.github import annotations, job_summary
from regress.report.html import render_html
from regress.status import STATUSES, Status, is_failure, record_is_failure

# pytester's in-process runs drop the modules a run imported; torch submodules imported again
# fail (see test_custom_runner.py): import them here, outside the runs.
pytest.importorskip("torch._dynamo")
# ... and the report's modules, so that a later test patching one patches what its run imports
import regress.report.assets  # noqa: E402,F401

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


def test_failure_rule() -> None:
    assert [s for s in STATUSES if is_failure(s, ["why"])] == ["error", "failed", "missing"]
    assert [s for s in STATUSES if is_failure(s)] == ["error", "failed"]  # missing outside strict: a skip
    assert not is_failure(Status.XFAILED, ["ssim=0.9 (needs >= 0.99)"])
    assert Status.XFAILED == "xfailed" and json.dumps({"s": Status.XFAILED}) == '{"s": "xfailed"}'


def _doc(status: str) -> dict:
    case = {"id": "a", "platform": "cpu-avx2", "status": status, "reasons": ["max_abs=9/255 (needs <= 2)"],
            "metrics": {}}
    return {"schema": 1, "platforms": ["cpu-avx2"], "summary": {status: 1}, "cases": [case], "runs": []}


@pytest.mark.parametrize("status", ["xfailed", "failed"])
def test_views_agree(status: str) -> None:
    doc = _doc(status)
    bad = status == "failed"
    assert record_is_failure(doc["cases"][0]) is bad
    assert bool(annotations(doc)) is bad
    assert ("### failures" in job_summary(doc)) is bad
    assert ("regress: 1 failing of 1" in render_html(doc)) is bad


CONFTEST = """
import numpy as np
import pytest


@pytest.mark.xfail(reason="known", strict=False)
def test_expected(golden):
    golden.check(np.full((8, 8, 3), 200, np.uint8), name="expected")
"""


def test_fixture_xfail_is_recorded_as_xfailed(pytester: pytest.Pytester, tmp_path: Path) -> None:
    """A hand-written test marked xfail whose golden check fails is xfailed in results.json."""
    from regress.outputs import Output
    from regress.stores import open_store
    from regress.stores.base import StagedGolden
    from regress.suite import load_suite

    goldens = pytester.path / "goldens"
    goldens.mkdir()
    (goldens / "suite.toml").write_text('[store]\nkind = "file"\npath = "store"\n[defaults]\nmax_abs = 2\n')
    suite = load_suite(goldens / "suite.toml")
    from regress.platform import detect

    platform = detect().key
    open_store(suite).publish([StagedGolden("expected", platform, Output(image=np.zeros((8, 8, 3), np.uint8)),
                                            {"fingerprint": {}})])
    pytester.makepyfile(test_x=CONFTEST)
    report = tmp_path / "report"
    r = pytester.runpytest_inprocess("-p", "no:cacheprovider", f"--golden-report={report}")
    r.assert_outcomes(xfailed=1)
    doc = json.loads((report / "results.json").read_text())
    assert [c["status"] for c in doc["cases"]] == ["xfailed"] and doc["summary"] == {"xfailed": 1}
    assert any("max_abs=200.00/255" in r for r in doc["cases"][0]["reasons"])
