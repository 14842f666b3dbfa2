"""Engines that are not diffusers: the shipped example (a hand-written Euler loop) runs under
``pytest -m golden``; runners come from conftest.py or the 'regress.runners' entry point; a
runner that returns the wrong thing fails its case in one line naming runner and case."""

from __future__ import annotations

import json
import shutil
import textwrap
from pathlib import Path

import pytest

# pytester's in-process runs drop the modules a run imported; torch registers native ops on
# import, so a lazily imported torch submodule imported again in the next run fails. Import
# it here, outside the runs.
pytest.importorskip("torch._dynamo")

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")
# hypothesis's pytest plugin imports hypothesis (~2 s) in every in-process run that fails
PLUGINS_OFF = ("-p", "no:cacheprovider", "-p", "no:hypothesispytest")

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "custom_runner"


def _golden(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    return pytester.runpytest_inprocess("-m", "golden", *PLUGINS_OFF, *args)


def test_example_custom_runner_passes_and_catches_a_precision_change(pytester: pytest.Pytester,
                                                                      tmp_path: Path) -> None:
    shutil.copytree(EXAMPLE, pytester.path, dirs_exist_ok=True)
    report = tmp_path / "report"
    r = _golden(pytester, f"--golden-report={report}")
    r.assert_outcomes(passed=2)
    cases = json.loads((report / "results.json").read_text())["cases"]
    assert {c["id"] for c in cases} == {"toy-euler-squirrel", "toy-euler-boat"}
    assert all(c["status"] == "passed" for c in cases)
    # Which regime depends on the CPU (a golden of the same key made on another CPU can compute
    # otherwise: an AVX2-only EPYC against the Xeon's avx2 goldens): only where the kernel probe
    # matches the golden's machine is it judged exactly, and then it reproduces it bit for bit.
    exact = [c for c in cases if c["numerics"]["regime"] == "exact"]
    assert all(c["metrics"]["max_abs"]["value"] == 0 for c in exact)
    assert cases[0]["precision"]["current"] == {"denoiser": "fp32"}

    r = _golden(pytester, "-k", "squirrel", "--golden-precision", "denoiser=bf16")
    r.assert_outcomes(failed=1)
    assert "precision changed: denoiser fp32 -> bf16" in r.stdout.str()


BAD_CONFTEST = """
import numpy as np
import regress
from regress.outputs import Output
from regress.runners import Perf, RunResult


class Bad:
    output_kind = "image"
    default_precision = {"model": "fp32"}

    def __init__(self, name, returns):
        self.name, self.returns = name, returns

    def build(self, case, precision, device):
        return None

    def run(self, pipe, case, device):
        if self.returns == "video":
            video = np.zeros((2, 8, 8, 3), np.uint8)
            return RunResult(Output(video=video, fps=8.0), {"model": "fp32"}, Perf(wall_s=0.0))
        return {"image": np.zeros((8, 8, 3), np.uint8)}


regress.register_runner("bad-kind", Bad("bad-kind", "video"))
regress.register_runner("bad-type", Bad("bad-type", "dict"))
"""

BAD_SUITE = """
[store]
kind = "file"
path = "store"

[defaults]
max_abs = 2

[[case]]
id = "c1"
pipeline = "{pipeline}"
"""


@pytest.mark.parametrize("pipeline,message", [
    ("bad-kind", "runner 'bad-kind' declares output_kind 'image' but returned a 'video' output"),
    ("bad-type", "runner 'bad-type' returned dict, not a regress.runners.RunResult"),
])
def test_runner_returning_the_wrong_kind_fails_in_one_line(pytester: pytest.Pytester, pipeline: str,
                                                          message: str) -> None:
    pytester.makeconftest(BAD_CONFTEST)
    (pytester.path / "goldens").mkdir()
    (pytester.path / "goldens" / "suite.toml").write_text(textwrap.dedent(BAD_SUITE.format(pipeline=pipeline)))
    r = _golden(pytester)
    r.assert_outcomes(failed=1)
    lines = [ln for ln in r.stdout.lines if message in ln]
    assert lines, r.stdout.str()
    assert "case 'c1'" in lines[0] and lines[0].startswith("c1 [")
    assert "Traceback" not in r.stdout.str()


def test_entry_point_runner_is_found_without_a_conftest(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # what `pip install` of the example's pyproject.toml leaves on sys.path: a dist-info
    # with the 'regress.runners' entry point, next to the modules
    import regress.runners as registry

    site = tmp_path / "site"
    dist = site / "toy_engine-0.1.0.dist-info"
    dist.mkdir(parents=True)
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: toy-engine\nVersion: 0.1.0\n")
    (dist / "entry_points.txt").write_text("[regress.runners]\ntoy-euler-ep = regress_toy:ToyEulerRunner\n")
    for module in ("toy_engine.py", "regress_toy.py"):
        shutil.copy(EXAMPLE / module, site / module)
    monkeypatch.syspath_prepend(str(site))
    monkeypatch.setattr(registry, "_loaded", {})

    assert "toy-euler-ep" in registry.known_runners()
    runner = registry.get_runner("toy-euler-ep")
    assert type(runner).__name__ == "ToyEulerRunner" and runner.output_kind == "image"

    from regress.suite import Case

    case = Case(id="ep", pipeline="toy-euler-ep", prompt="a squirrel", steps=2, height=16, width=16)
    result = runner.run(runner.build(case, {}, "cpu"), case, "cpu")
    registry.check_result(runner, case, result)
    assert result.output.image.shape == (16, 16, 3) and result.fingerprint == {"denoiser": "fp32"}
