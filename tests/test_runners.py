"""The built-in diffusers runners on CPU: tiny pipelines build offline, run deterministically,
report what precision actually ran, and measure time and memory per stage.

Each family's pipeline is built once per module (building and importing diffusers dominate
the cost); tests that perturb a pipeline restore it before returning.
"""

from __future__ import annotations

import subprocess
import sys
from dataclasses import replace

import numpy as np
import pytest

from regress.errors import RunnerError
from regress.suite import Case

torch = pytest.importorskip("torch")
pytest.importorskip("diffusers")

from regress.runners import get_runner

FAMILIES = ("flux", "qwen-image", "wan")
PROMPT = "a squirrel in a tree"


def _case(family: str, **kw) -> Case:
    return Case(id=f"{family}-test", pipeline=family, prompt=PROMPT, **kw)


@pytest.fixture(scope="module")
def built() -> dict:
    """family -> (runner, pipeline at the family's default precision)."""
    out = {}
    for family in FAMILIES:
        runner = get_runner(family)
        out[family] = (runner, runner.build(_case(family), {}, "cpu"))
    return out


@pytest.fixture(scope="module")
def first_runs(built) -> dict:
    """family -> RunResult of the seed-0 case (shared by the read-only assertions)."""
    return {f: runner.run(pipe, _case(f, seed=0), "cpu") for f, (runner, pipe) in built.items()}


# --------------------------------------------------------------------------- build and run

@pytest.mark.parametrize("family,kind,shape", [
    ("flux", "image", (32, 32, 3)),
    ("qwen-image", "image", (32, 32, 3)),
    ("wan", "video", (9, 16, 16, 3)),
])
def test_tiny_family_builds_and_runs_on_cpu_with_its_output_shape(first_runs, family, kind, shape):
    result = first_runs[family]
    assert get_runner(family).output_kind == kind
    assert result.output.kind == kind
    pixels = getattr(result.output, kind)
    assert pixels.shape == shape and pixels.dtype == np.uint8
    assert result.output.nonfinite == 0
    assert pixels.std() > 0  # not a blank frame
    if kind == "video":
        assert result.output.fps == 16.0


def test_video_fps_comes_from_the_case(built):
    runner, pipe = built["wan"]
    assert runner.run(pipe, _case("wan", fps=24.0), "cpu").output.fps == 24.0


@pytest.mark.parametrize("family", FAMILIES)
def test_same_seed_gives_bit_identical_output(built, first_runs, family):
    runner, pipe = built[family]
    again = runner.run(pipe, _case(family, seed=0), "cpu").output
    first = first_runs[family].output
    assert first.encode() == again.encode()


@pytest.mark.parametrize("family", FAMILIES)
def test_different_seed_gives_different_output(built, first_runs, family):
    runner, pipe = built[family]
    other = runner.run(pipe, _case(family, seed=1), "cpu").output
    kind = first_runs[family].output.kind
    assert not np.array_equal(getattr(first_runs[family].output, kind), getattr(other, kind))


@pytest.mark.parametrize("family", FAMILIES)
def test_prompt_changes_the_output(built, first_runs, family):
    # guards the tiny text path: a template or truncation that hides the prompt makes every
    # golden of the family the same picture
    runner, pipe = built[family]
    other = runner.run(pipe, replace(_case(family), prompt="a red bicycle"), "cpu").output
    kind = first_runs[family].output.kind
    assert not np.array_equal(getattr(first_runs[family].output, kind), getattr(other, kind))


def test_nan_in_transformer_weights_is_counted_not_hidden(built):
    for family, (runner, pipe) in built.items():
        weight = next(p for p in pipe.pipe.transformer.parameters() if p.is_floating_point())
        saved = weight.detach().clone()
        try:
            with torch.no_grad():
                weight.fill_(float("nan"))
            output = runner.run(pipe, _case(family), "cpu").output
        finally:
            with torch.no_grad():
                weight.copy_(saved)
        assert output.nonfinite > 0, family


# --------------------------------------------------------------------------- precision

@pytest.mark.parametrize("family", FAMILIES)
def test_fingerprint_matches_default_table(first_runs, family):
    assert first_runs[family].fingerprint == dict(get_runner(family).default_precision)


def test_default_tables_mirror_the_reference_engine():
    assert get_runner("qwen-image").default_precision["vae"] == "bf16"
    assert get_runner("flux").default_precision["text_encoder_2"] == "bf16"
    assert get_runner("wan").default_precision["vae"] == "fp32"


@pytest.mark.parametrize("family", ["qwen-image", "flux"])
def test_fingerprint_follows_a_precision_override(family):
    # flux also pins the decode cast: its pipeline hands bf16 latents to an fp32 VAE.
    runner = get_runner(family)
    pipe = runner.build(_case(family), {"vae": "fp32"}, "cpu")
    result = runner.run(pipe, _case(family), "cpu")
    assert result.fingerprint["vae"] == "fp32"
    assert result.fingerprint["transformer"] == "bf16"
    assert result.output.nonfinite == 0


def test_cached_tensor_walk_sees_casts_and_replaced_components():
    """A built pipeline keeps each component's tensor list: a cast of the same parameters and a
    component replaced as a whole must both show in the next fingerprint and resident bytes."""
    runner = get_runner("flux")
    built = runner.build(_case("flux"), {}, "cpu")
    pipe = built.pipe
    def vae_bytes() -> int:
        return sum(t.numel() * t.element_size() for t in (*pipe.vae.parameters(), *pipe.vae.buffers()))

    fp, resident = built.observe()
    before = vae_bytes()
    assert fp["vae"] == "bf16"
    pipe.vae.to(torch.float32)  # what a pipeline upcasting its VAE inside the call does
    fp2, resident2 = built.observe()
    assert fp2["vae"] == "fp32" and resident2 == resident - before + vae_bytes() > resident
    from regress.runners.observation import _module_tensors

    for component in (pipe.transformer, pipe.vae, pipe.text_encoder):  # the sets torch's walks give
        params, buffers = _module_tensors(component)
        assert {id(t) for t in params} == {id(t) for t in component.parameters()}
        assert {id(t) for t in buffers} == {id(t) for t in component.buffers()}
    # the corners a real pipeline may have: a tied weight, a shared child, empty slots
    shared = torch.nn.Linear(4, 4, bias=False)
    tree = torch.nn.Sequential(shared, torch.nn.Sequential(shared), torch.nn.BatchNorm1d(4))
    tree.tied = torch.nn.Linear(4, 4)
    tree.tied.weight = shared.weight
    tree.register_module("absent", None)
    tree[2].register_buffer("unset", None)
    params, buffers = _module_tensors(tree)
    assert [id(t) for t in params] and len(params) == len({id(t) for t in params})
    assert {id(t) for t in params} == {id(t) for t in tree.parameters()}
    assert {id(t) for t in buffers} == {id(t) for t in tree.buffers()} and None not in buffers
    other = runner.build(_case("flux"), {"vae": "fp16"}, "cpu")
    pipe.register_modules(vae=other.pipe.vae)  # a replaced component is walked afresh
    assert built.observe()[0]["vae"] == "fp16" and built.resident_bytes() == built.observe()[1]


def test_fingerprint_covers_every_module_component(first_runs):
    assert set(first_runs["flux"].fingerprint) == {"transformer", "vae", "text_encoder", "text_encoder_2"}


def test_unknown_component_in_precision_is_refused_by_name():
    with pytest.raises(RunnerError, match=r"'unet'.*known: transformer, vae, text_encoder"):
        get_runner("qwen-image").build(_case("qwen-image"), {"unet": "bf16"}, "cpu")


def test_checkpoint_missing_from_the_offline_cache_is_a_one_line_error(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path))
    case = _case("flux", model="black-forest-labs/FLUX.1-dev", model_revision="0" * 40)
    with pytest.raises(RunnerError, match="not in .* and HF_HUB_OFFLINE is set") as err:
        get_runner("flux").build(case, {}, "cpu")
    assert "\n" not in str(err.value) and "field 'model'" in str(err.value)


# --------------------------------------------------------------------------- perf and provenance

@pytest.mark.parametrize("family", FAMILIES)
def test_perf_has_stages_and_profiler_peak_memory(first_runs, family):
    perf = first_runs[family].perf
    assert perf.wall_s > 0
    assert {"text_encode", "denoise", "decode"} <= set(perf.stages)
    assert all(v > 0 for v in perf.stages.values())
    assert sum(perf.stages.values()) <= perf.wall_s * 1.001
    assert perf.memory_source == "profiler"
    assert perf.peak_memory["total"] > 0
    assert perf.peak_memory["total"] == max(perf.peak_memory.values())
    assert {"denoise", "decode"} <= set(perf.peak_memory)


def test_peak_memory_sees_a_larger_vae(built, first_runs):
    # the point of recording memory: an fp32 VAE must show up as more bytes than a bf16 one
    runner = get_runner("qwen-image")
    pipe = runner.build(_case("qwen-image"), {"vae": "fp32"}, "cpu")
    fp32 = runner.run(pipe, _case("qwen-image"), "cpu").perf.peak_memory
    assert fp32["decode"] > first_runs["qwen-image"].perf.peak_memory["decode"]


def test_versions_name_the_libraries_and_device(first_runs):
    versions = first_runs["flux"].versions
    assert versions["torch"] == torch.__version__
    assert {"diffusers", "transformers", "device"} <= set(versions)


# --------------------------------------------------------------------------- case -> kwargs

def test_case_fields_map_to_pipeline_kwargs_with_family_defaults():
    kw = get_runner("flux").call_kwargs(_case("flux", steps=3, guidance=2.5, args={"width": 48}))
    assert kw["num_inference_steps"] == 3 and kw["guidance_scale"] == 2.5
    assert kw["height"] == 32 and kw["width"] == 48  # default; args win
    assert kw["max_sequence_length"] == 48
    wan = get_runner("wan").call_kwargs(_case("wan", frames=5))
    assert wan["num_frames"] == 5 and wan["height"] == 16
    qwen = get_runner("qwen-image").call_kwargs(_case("qwen-image", guidance=4.0, negative_prompt="blurry"))
    assert qwen["true_cfg_scale"] == 4.0 and "guidance_scale" not in qwen


def test_image_family_refuses_frames():
    with pytest.raises(RunnerError, match="frames"):
        get_runner("flux").call_kwargs(_case("flux", frames=9))


def test_misspelt_arg_is_refused_by_name(built):
    runner, pipe = built["flux"]
    with pytest.raises(RunnerError, match="num_inference_stepz"):
        runner.run(pipe, _case("flux", args={"num_inference_stepz": 3}), "cpu")


def test_qwen_guidance_with_negative_prompt_runs_true_cfg(built, first_runs):
    runner, pipe = built["qwen-image"]
    guided = runner.run(pipe, _case("qwen-image", guidance=4.0, negative_prompt="blurry"), "cpu")
    assert not np.array_equal(guided.output.image, first_runs["qwen-image"].output.image)


# --------------------------------------------------------------------------- tokenizer and imports

def test_byte_tokenizer_is_offline_and_fixed():
    from regress.runners.tokenizer import VOCAB_SIZE, make_tokenizer

    tok = make_tokenizer(16)
    assert len(tok) == VOCAB_SIZE == 263
    ids = tok("hi").input_ids
    assert ids[-1] == tok.eos_token_id and len(ids) == 3
    assert make_tokenizer(16, add_eos=False)("hi").input_ids == ids[:-1]
    assert "<|im_start|>user" in tok.apply_chat_template([{"role": "user", "content": "x"}], tokenize=False)


def test_registry_import_stays_free_of_torch():
    code = ("import sys, regress, regress.runners; regress.runners.known_runners(); "
            "bad = [m for m in ('torch', 'diffusers', 'transformers') if m in sys.modules]; "
            "assert not bad, bad")
    subprocess.run([sys.executable, "-c", code], check=True, cwd=_repo_root())


def _repo_root() -> str:
    from pathlib import Path

    return str(Path(__file__).resolve().parents[1])


def test_case_replace_keeps_runs_independent(built):
    # the same pipeline object serves many cases: a case's args must not leak into the next
    runner, pipe = built["flux"]
    base = _case("flux")
    wide = runner.run(pipe, replace(base, args={"width": 48}), "cpu").output.image
    assert wide.shape == (32, 48, 3)
    assert runner.run(pipe, base, "cpu").output.image.shape == (32, 32, 3)


def test_seeding_the_run_matches_torch_manual_seed_on_cpu():
    from regress.runners.environment import seed_defaults

    torch.manual_seed(123)
    want = torch.randn(8)
    torch.manual_seed(7)
    seed_defaults(123, "cpu")
    assert torch.equal(torch.randn(8), want)


def test_observing_a_pipeline_raises_no_deprecation_warning():
    """diffusers warns when plain config keys are read as pipeline attributes; pytest would
    collect such a warning on every golden case."""
    import warnings

    from regress.runners.observation import nn_components, observe

    pipe = get_runner("sd").build(_case("sd"), {}, "cpu").pipe
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        observe(pipe)
        assert set(nn_components(pipe)) == {n for n, c in pipe.components.items() if isinstance(c, torch.nn.Module)}


def test_precision_settings_see_what_the_code_under_test_changes():
    """The settings fingerprint sees a process-wide precision setting and a wrapped attention
    function (functools.wraps keeps the name, not the code), and forgets both once restored."""
    import functools

    import torch.nn.functional as F

    from regress.runners.observation import precision_settings

    before = precision_settings("cpu")
    assert before["functions.replaced"] == "none" and before["float32_matmul_precision"] == "highest"
    original = F.scaled_dot_product_attention

    @functools.wraps(original)
    def scaled(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        return original(*args, **kwargs)

    F.scaled_dot_product_attention = scaled
    torch.set_float32_matmul_precision("medium")
    try:
        during = precision_settings("cpu")
    finally:
        F.scaled_dot_product_attention = original
        torch.set_float32_matmul_precision("highest")
    assert during["functions.replaced"] == "F.scaled_dot_product_attention"
    assert during["float32_matmul_precision"] == "medium"
    assert precision_settings("cpu") == before


def test_regress_keeps_no_state_on_the_diffusers_pipeline(built, first_runs):
    """What regress knows about a pipeline lives on the BuiltPipeline the session caches."""
    for runner, built_pipe in built.values():
        assert not [k for k in vars(built_pipe.pipe) if k.startswith("_regress")]
        assert built_pipe.meter is None and built_pipe.recorder is None  # only set during a call
