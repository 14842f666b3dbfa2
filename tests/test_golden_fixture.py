"""The `golden` fixture: a hand-written test checks its own output like a suite case."""

from __future__ import annotations

from pathlib import Path

import pytest

TEST = '''
import numpy as np

def test_gradient(golden):
    img = np.zeros((32, 32, 3), np.uint8)
    img[..., 0] = np.arange(32, dtype=np.uint8)[None, :] * 8
    img[..., 1] = {green}
    golden.check(img)
'''


def run(pytester: pytest.Pytester, project: Path, green: int, *args: str) -> pytest.RunResult:
    pytester.makepyfile(test_hand=TEST.format(green=green))
    suite = project / "goldens" / "suite.toml"
    return pytester.runpytest_inprocess(f"--golden-suite={suite}", "-p", "no:cacheprovider",
                                        "--golden-platform=cpu-avx2", *args)


def test_golden_fixture_round_trip(pytester: pytest.Pytester, project: Path, monkeypatch) -> None:
    monkeypatch.delenv("CI", raising=False)
    run(pytester, project, 100).assert_outcomes(skipped=1)  # no golden yet, not strict
    run(pytester, project, 100, "--golden-strict").assert_outcomes(failed=1)
    run(pytester, project, 100, "--golden-update=missing").assert_outcomes(passed=1)
    assert (project / "goldens/store/cases/test_hand.test_gradient/cpu-avx2/output.png").is_file()
    run(pytester, project, 100).assert_outcomes(passed=1)
    r = run(pytester, project, 103)
    r.assert_outcomes(failed=1)
    assert "max_abs=3/255 (needs <= 2, suite default)" in r.stdout.str()
