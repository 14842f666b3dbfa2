"""Stage checkpoints: a golden carries the tensors between its pipeline's stages (safetensors),
and a failing verdict names the first stage that diverged: the text encoder's embeddings, the
latents of a denoising step, or only the decoded output."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("diffusers")

from regress.golden_records import GoldenMeta
from regress.metrics.stages import compare_stages, worst  # noqa: E402
from regress.outputs import STAGES_FILE, Output  # noqa: E402
from regress.session import GoldenSession, Options  # noqa: E402
from regress.suite import load_suite  # noqa: E402


def test_stage_distances_are_scale_free_and_ordered() -> None:
    a = {"denoise/step001": np.ones((2, 3), np.float32), "text_encode/call1/out0": np.arange(4, dtype=np.float32)}
    b = {"denoise/step001": 2 * np.ones((2, 3), np.float32), "text_encode/call1/out0": np.arange(4, dtype=np.float32)}
    d = compare_stages(a, b)
    assert [x.key for x in d] == ["text_encode/call1/out0", "denoise/step001"]  # stage order, not name order
    assert (d[0].cos, d[0].rel_l2) == (1.0, 0.0)
    assert d[1].cos == pytest.approx(1.0) and d[1].rel_l2 == pytest.approx(1.0)  # same direction, twice the size
    assert worst(d) == {"stage_cos": pytest.approx(1.0), "stage_rel_l2": pytest.approx(1.0)}
    b["denoise/step001"] = np.full((2, 3), np.nan, np.float32)
    assert math.isnan(worst(compare_stages(a, b))["stage_cos"])  # NaN never passes
    assert compare_stages(a, {"text_encode/call1/out0": b["text_encode/call1/out0"]})[1].note == "missing in this run"


def test_a_golden_carries_its_checkpoints_in_safetensors(project: Path) -> None:
    d = next((project / "goldens" / "store" / "cases" / "qwen").iterdir())
    assert (d / STAGES_FILE).is_file() and (d / STAGES_FILE).stat().st_size < 200_000
    stages = Output.load(d).stages
    assert any(k.startswith("text_encode/") for k in stages) and "decode/vae/input" in stages
    assert sorted(k for k in stages if k.startswith("denoise/")) == ["denoise/step001", "denoise/step002"]


@pytest.mark.parametrize(("flip", "stage"), [("text_encoder", "text_encode"), ("transformer", "denoise"),
                                             ("vae", "after the last checkpoint")])
def test_a_flip_names_the_first_stage_that_diverged(project: Path, flip, stage) -> None:
    suite = load_suite(project / "goldens" / "suite.toml")
    session = GoldenSession(suite, Options(device="cpu", precision={flip: "fp32"}))
    try:
        v = session.check(suite.case("qwen")).verdict
    finally:
        session.close()
    assert v.status == "failed"
    first = [r for r in v.reasons + v.warnings if r.startswith("first divergence")]
    assert first and first[0].startswith(f"first divergence: {stage}"), v.message()
    assert v.stages and {"key", "cos", "rel_l2"} <= set(v.stages[0])


# --------------------------------------------------------------------------- bisect

@pytest.mark.parametrize(("flip", "stage"), [("transformer", "denoise"), ("text_encoder", "text_encode"),
                                             ("vae", "after the last checkpoint")])
def test_bisect_names_the_component_and_the_first_diverging_stage(project: Path, flip, stage, capsys) -> None:
    from regress.cli import main

    suite = str(project / "goldens" / "suite.toml")
    assert main(["bisect", "qwen", "--suite", suite, "--precision", f"{flip}=fp32"]) == 0
    out = capsys.readouterr().out
    assert f"| {flip} dtype back to bf16 | passed | ok | - | yes |" in out
    assert f"fails because of the {flip} dtype (fp32 here, bf16 in the golden); first divergence: {stage}" in out
    assert main(["bisect", "qwen", "--suite", suite, "--precision", f"{flip}=fp32", "--json"]) == 0
    doc = __import__("json").loads(capsys.readouterr().out)
    assert doc["cause"] == [f"the {flip} dtype (fp32 here, bf16 in the golden)"] and doc["baseline"]["status"] == "failed"


def test_bisect_of_a_passing_case_says_there_is_nothing_to_bisect(project: Path, capsys) -> None:
    from regress.cli import main

    assert main(["bisect", "qwen", "--suite", str(project / "goldens" / "suite.toml")]) == 0
    assert "passes as it runs here; nothing to bisect" in capsys.readouterr().out


def test_golden_bisect_from_pytest_names_the_cause_in_the_verdict_and_report(pytester: pytest.Pytester,
                                                                            project: Path, tmp_path: Path) -> None:
    import json

    suite = project / "goldens" / "suite.toml"
    report = tmp_path / "report"
    r = pytester.runpytest_inprocess(str(suite), f"--golden-suite={suite}", "-m", "golden", "-p", "no:cacheprovider",
                                     "-k", "qwen", "--golden-precision", "transformer=fp32", "--golden-bisect",
                                     f"--golden-report={report}")
    r.assert_outcomes(failed=1)
    r.stdout.fnmatch_lines(["*1 failing case(s) bisected*",
                            "bisect: qwen fails because of the transformer dtype (fp32 here, bf16 in the golden); "
                            "first divergence: denoise*"])
    (case,) = json.loads((report / "results.json").read_text())["cases"]
    assert case["bisect"]["cause"] == ["the transformer dtype (fp32 here, bf16 in the golden)"]
    assert any(w.startswith("bisect: qwen fails because of the transformer dtype") for w in case["warnings"])
    html = (report / "index.html").read_text()
    assert "fails because of the transformer dtype" in html
    assert "stage checkpoints: distance from the golden" in html and "<code>denoise/step001</code>" in html


def test_bisect_lists_backend_settings_and_what_cannot_be_reverted() -> None:
    from regress.bisect import differences

    golden = {"precision": {"vae": "bf16", "transformer": "bf16 (cast at its boundaries)"},
              "platform": {"versions": {"cudnn.allow_tf32": "True", "cuda.matmul.allow_tf32": "False",
                                        "cudnn.benchmark": "False"}},
              "identity": {"installed": {"attention": "flash,mem_efficient,cudnn,math", "gpu.name": "H100",
                                         "torch": "2.11.0"}}}
    installed = {"cudnn.allow_tf32": "True", "cuda.matmul.allow_tf32": "True", "cudnn.benchmark": "True",
                 "attention": "math", "gpu.name": "H200", "torch": "2.11.0"}
    diffs, fixed = differences(GoldenMeta.from_json(golden), {"vae": "fp32", "transformer": "bf16"}, installed)
    by_name = {d.name: d for d in diffs}
    assert set(by_name) == {"vae dtype", "tf32", "cudnn.benchmark", "attention"}
    assert by_name["vae dtype"].precision == {"vae": "bf16"}
    assert by_name["tf32"].kernels == {"tf32_cudnn": "on", "tf32_matmul": "off"}
    assert by_name["cudnn.benchmark"].kernels == {"cudnn_benchmark": "off"}
    assert by_name["attention"].kernels == {"sdpa": "flash,mem_efficient,cudnn,math"}
    assert fixed == ["gpu.name H100 -> H200"]  # another card: named, not revertible
