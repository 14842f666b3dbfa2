"""The families added for issue 3 (z-image, ltx, ltx2, sd, stable-audio) on CPU: they build
offline, run deterministically, depend on the prompt and the seed in every track, record
every component's dtype, and time the audio decode as its own stage.

Each pipeline is built once per module; tests that change a pipeline restore it.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from regress.errors import RunnerError
from regress.suite import Case

torch = pytest.importorskip("torch")
pytest.importorskip("diffusers")

from regress.runners import get_runner

FAMILIES = ("z-image", "ltx", "ltx2", "sd", "stable-audio")
PROMPT = "a squirrel in a tree"
TRACKS = ("image", "video", "audio")


def _case(family: str, **kw) -> Case:
    return Case(id=f"{family}-test", pipeline=family, prompt=PROMPT, **kw)


def _tracks(output) -> dict[str, np.ndarray]:
    return {t: getattr(output, t) for t in TRACKS if getattr(output, t) is not None}


@pytest.fixture(scope="module")
def built() -> dict:
    out = {}
    for family in FAMILIES:
        runner = get_runner(family)
        out[family] = (runner, runner.build(_case(family), {}, "cpu"))
    return out


@pytest.fixture(scope="module")
def first_runs(built) -> dict:
    return {f: runner.run(pipe, _case(f), "cpu") for f, (runner, pipe) in built.items()}


@pytest.mark.parametrize("family,kind,shapes,rate", [
    ("z-image", "image", {"image": [32, 32, 3]}, None),
    ("ltx", "video", {"video": [9, 32, 32, 3]}, None),
    ("ltx2", "video+audio", {"video": [5, 32, 32, 3], "audio": [2, 1360]}, 8000),
    ("sd", "image", {"image": [32, 32, 3]}, None),
    ("stable-audio", "audio", {"audio": [2, 2048]}, 16000),
])
def test_tiny_family_makes_its_kind_of_output(first_runs, family, kind, shapes, rate):
    out = first_runs[family].output
    assert get_runner(family).output_kind == kind == out.kind
    assert out.shapes() == shapes and out.nonfinite == 0
    assert out.sample_rate == rate
    for name, track in _tracks(out).items():
        assert track.std() > 0, name  # not blank, not silent
    if out.audio is not None:
        assert out.audio.dtype == np.float32 and np.abs(out.audio).max() < 1.0  # not clipped


def test_ltx_frame_rate_is_the_case_fps(built):
    runner, pipe = built["ltx"]
    assert runner.call_kwargs(_case("ltx", fps=30.0))["frame_rate"] == 30.0
    assert runner.run(pipe, _case("ltx", fps=30.0, steps=1), "cpu").output.fps == 30.0
    assert runner.call_kwargs(_case("ltx"))["frame_rate"] == runner.default_fps == 25.0


def test_audio_duration_of_ltx2_follows_the_video(first_runs):
    out = first_runs["ltx2"].output
    video_s = out.video.shape[0] / out.fps
    audio_s = out.audio.shape[1] / out.sample_rate
    assert 0.6 * video_s < audio_s <= video_s  # the causal audio VAE trims its first latent


@pytest.mark.parametrize("family", FAMILIES)
def test_same_seed_is_bit_identical(built, first_runs, family):
    runner, pipe = built[family]
    assert runner.run(pipe, _case(family), "cpu").output.encode() == first_runs[family].output.encode()


@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize("change", [{"seed": 1}, {"prompt": "a red bicycle"}])
def test_seed_and_prompt_change_every_track(built, first_runs, family, change):
    # the qwen-image lesson: a template or truncation that hides the prompt makes every golden
    # of a family the same output; for ltx2 both tracks must carry it
    runner, pipe = built[family]
    other = runner.run(pipe, replace(_case(family), **change), "cpu").output
    for name, track in _tracks(first_runs[family].output).items():
        assert not np.array_equal(track, getattr(other, name)), name


# --------------------------------------------------------------------------- precision

@pytest.mark.parametrize("family", FAMILIES)
def test_fingerprint_is_the_default_table_and_covers_every_module(built, first_runs, family):
    runner, pipe = built[family]
    modules = {n for n, c in pipe.pipe.components.items() if isinstance(c, torch.nn.Module)}
    assert first_runs[family].fingerprint == dict(runner.default_precision)
    assert set(first_runs[family].fingerprint) == modules


def test_default_tables():
    bf16 = "bf16"
    assert dict(get_runner("z-image").default_precision) == {"transformer": bf16, "vae": bf16, "text_encoder": bf16}
    assert dict(get_runner("ltx2").default_precision) == dict.fromkeys(
        ("transformer", "vae", "audio_vae", "vocoder", "connectors", "text_encoder"), bf16)
    assert dict(get_runner("ltx").default_precision) == {"transformer": bf16, "vae": bf16, "text_encoder": bf16}
    assert dict(get_runner("sd").default_precision) == {"unet": "fp16", "vae": "fp32", "text_encoder": "fp16"}
    assert dict(get_runner("stable-audio").default_precision) == {
        "transformer": bf16, "text_encoder": bf16, "projection_model": bf16, "vae": "fp32"}


@pytest.mark.parametrize("component", ["audio_vae", "vocoder"])
def test_ltx2_audio_component_in_fp32_runs_and_moves_only_the_audio(first_runs, component):
    # LTX2 hands the audio VAE's mel to the vocoder in the audio VAE's dtype: the decode
    # wrapper's cast is what lets a mixed table run at all
    runner = get_runner("ltx2")
    result = runner.run(runner.build(_case("ltx2"), {component: "fp32"}, "cpu"), _case("ltx2"), "cpu")
    assert result.fingerprint[component] == "fp32" and result.fingerprint["transformer"] == "bf16"
    base = first_runs["ltx2"].output
    assert np.array_equal(result.output.video, base.video)
    assert not np.array_equal(result.output.audio, base.audio)


def test_a_dtype_error_inside_a_pipeline_is_a_one_line_precision_error(built):
    """Boundary casts let every single-component flip run (tests/test_boundary_casts.py); a dtype
    error that still escapes a pipeline says which precision it ran with, in one line."""
    runner = get_runner("sd")
    pipe = runner.build(_case("sd"), {"text_encoder": "fp32"}, "cpu")

    def broken(*args, **kwargs):
        raise RuntimeError("mat1 and mat2 must have the same dtype, but got Float and Half\n(traceback)")

    pipe.pipe.__class__ = type("BrokenPipeline", (type(pipe.pipe),), {"__call__": broken})  # this pipe only
    with pytest.raises(RunnerError, match=r"field 'precision'.*cannot run with precision") as err:
        runner.run(pipe, _case("sd"), "cpu")
    assert "\n" not in str(err.value) and "'text_encoder': 'fp32 (cast at its boundaries)'" not in str(err.value)
    assert "text_encoder" in str(err.value)


def test_z_image_pad_tokens_are_filled(built):
    transformer = built["z-image"][1].pipe.transformer
    for token in (transformer.x_pad_token, transformer.cap_pad_token):
        assert torch.isfinite(token).all() and (token == 1).all()


# --------------------------------------------------------------------------- perf

@pytest.mark.parametrize("family,stages", [
    ("ltx2", {"text_encode", "denoise", "decode", "audio_decode"}),
    ("stable-audio", {"text_encode", "denoise", "audio_decode"}),
    ("ltx", {"text_encode", "denoise", "decode"}),
])
def test_perf_stages_include_audio_decode_where_it_applies(first_runs, family, stages):
    perf = first_runs[family].perf
    assert set(perf.stages) == stages
    assert all(v > 0 for v in perf.stages.values()) and sum(perf.stages.values()) <= perf.wall_s * 1.001
    assert perf.memory_source == "profiler"
    assert stages - {"text_encode"} <= set(perf.peak_memory)
    assert perf.peak_memory["total"] == max(perf.peak_memory.values())


# --------------------------------------------------------------------------- case -> kwargs

def test_audio_family_refuses_image_and_video_fields():
    runner = get_runner("stable-audio")
    for field in ({"height": 32}, {"frames": 9}, {"max_sequence_length": 16}):
        with pytest.raises(RunnerError, match=f"field '{next(iter(field))}'.*makes audio"):
            runner.call_kwargs(_case("stable-audio", **field))
    kw = runner.call_kwargs(_case("stable-audio", guidance=4.0, args={"audio_end_in_s": 0.1}))
    assert kw["guidance_scale"] == 4.0 and kw["audio_end_in_s"] == 0.1 and "height" not in kw


def test_stable_audio_length_comes_from_args(built):
    runner, pipe = built["stable-audio"]
    out = runner.run(pipe, _case("stable-audio", steps=1, args={"audio_end_in_s": 0.064}), "cpu").output
    assert out.audio.shape == (2, 1024) and out.sample_rate == 16000


def test_nan_in_the_audio_path_is_counted(built):
    runner, pipe = built["stable-audio"]
    weight = next(p for p in pipe.pipe.vae.decoder.parameters() if p.is_floating_point())
    saved = weight.detach().clone()
    try:
        with torch.no_grad():
            weight.fill_(float("nan"))
        out = runner.run(pipe, _case("stable-audio", steps=1), "cpu").output
    finally:
        with torch.no_grad():
            weight.copy_(saved)
    assert out.nonfinite > 0 and np.isnan(out.audio).any()  # stored as is: lossless



def test_sweep_keeps_going_past_an_assignment_the_pipeline_cannot_run(tmp_path, monkeypatch):
    # ltx2's transformer cannot run in fp32 beside bf16 connectors; a sweep row says so and the
    # sweep goes on. A stand-in audio runner keeps this test free of pipeline builds.
    import regress.runners as registry
    from regress.outputs import Output
    from regress.runners import Perf, RunResult
    from regress.session import GoldenSession, Options
    from regress.suite import load_suite
    from regress.sweep import render_markdown, sweep

    class FakeAudio:
        name, output_kind = "fake-audio", "audio"
        default_precision = {"dit": "bf16", "vae": "bf16"}

        def build(self, case, precision, device):
            return dict(precision)

        def run(self, table, case, device):
            if table["dit"] == "fp32" and table["vae"] == "bf16":
                raise RunnerError(f"cannot run with precision {table}", case=case.id, field="precision")
            tone = np.sin(np.linspace(0, 200, 4000))[None].astype(np.float32)
            if table["vae"] == "bf16":
                tone = tone + np.float32(1e-3) * np.cos(np.linspace(0, 900, 4000, dtype=np.float32))
            return RunResult(Output(audio=tone, sample_rate=8000), dict(table), Perf(wall_s=0.01))

    monkeypatch.setattr(registry, "_registered", {"fake-audio": FakeAudio()})
    monkeypatch.setattr(registry, "_loaded", {})
    suite_file = tmp_path / "suite.toml"
    suite_file.write_text('[store]\nkind = "file"\npath = "store"\n\n[[case]]\nid = "a"\npipeline = "fake-audio"\n')
    suite = load_suite(suite_file)
    rows = {r.label: r for r in sweep(GoldenSession(suite, Options(device="cpu")), suite.cases[0],
                                      dtypes=["fp32"], repeats=1)}
    assert list(rows) == ["all fp32", "default", "dit=fp32", "vae=fp32"]
    assert "cannot run with precision" in rows["dit=fp32"].error
    assert rows["default"].metrics["audio_snr"] == pytest.approx(60.0, abs=0.5)
    md = render_markdown(suite.cases[0], "cpu-test", list(rows.values()))
    assert "| dit=fp32 | cannot run:" in md and "| audio SNR dB |" in md
