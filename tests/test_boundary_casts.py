"""Any precision assignment runs: a component in a dtype its neighbours do not produce or
expect is cast at its boundaries (as an engine with per-component precision does), the
fingerprint says so, and a default assignment runs exactly as before, with no hooks."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("diffusers")

from regress.session import GoldenSession, Options  # noqa: E402
from regress.suite import load_suite  # noqa: E402

SUITE = Path(__file__).resolve().parents[1] / "goldens" / "suite.toml"

# Flips that stopped with "mat1 and mat2 must have the same dtype" before boundary casts.
FLIPS = [("qwen-image-tiny", "transformer", "fp32"), ("flux-tiny", "text_encoder_2", "fp32"),
         ("sd-tiny", "unet", "fp32"), ("ltx2-tiny", "connectors", "fp32"),
         ("stable-audio-tiny", "projection_model", "fp32"), ("ltx-tiny", "text_encoder", "fp16")]


@pytest.fixture(scope="module")
def session():  # noqa: ANN201
    s = GoldenSession(load_suite(SUITE), Options(device="cpu"))
    yield s
    s.close()


@pytest.mark.parametrize(("case_id", "component", "dtype"), FLIPS)
def test_a_flip_diffusers_cannot_run_alone_runs_and_fails_naming_the_component(session, case_id, component,
                                                                               dtype) -> None:
    case = session.suite.case(case_id)
    result = session.run(case, precision={component: dtype})
    assert result.fingerprint[component] == f"{dtype} (cast at its boundaries)"
    v = session.judge(case, result).verdict
    session.pipelines.release()
    assert v.status == "failed"
    assert f"precision changed: {component} " in v.message() and f"-> {dtype} (cast at its boundaries)" in v.message()


def test_a_default_assignment_gets_no_hooks(session) -> None:
    from regress.runners import get_runner
    from regress.runners.observation import nn_components

    case = session.suite.case("flux-tiny")
    runner = get_runner(case.pipeline)
    pipe = runner.build(case, {}, "cpu")
    assert pipe.boundary_casts == ()
    assert all(not m._forward_pre_hooks and not m._forward_hooks for m in nn_components(pipe.pipe).values())
    assert "cast" not in " ".join(runner.run(pipe, case, "cpu").fingerprint.values())
