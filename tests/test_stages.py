"""Stage checkpoints: a golden carries the tensors between its pipeline's stages (safetensors),
and a failing verdict names the first stage that diverged: the text encoder's embeddings, the
latents of a denoising step, or only the decoded output."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("diffusers")

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
