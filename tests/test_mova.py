"""The MOVA-like family (``mova``): a Wan video tower and a Wan-style audio tower, a Wan VAE and
a DAC audio VAE (transformers' ``DacModel``, ``Snake1d`` activations), with the seed's default
precision table (both VAEs bf16).

Why these tests: the seed's MOVA change set ``audio_vae_precision = "bf16"`` (was fp32), and
the fp32 line had broken AMD CI inside ``Snake1d.forward``. So: the table must be the seed's,
the DAC decoder's Snake1d must really run inside the measured call (a family that skipped it
could never reproduce that failure), and flipping the audio VAE back to fp32 must fail the case
naming ``audio_vae``, with the peak-memory line that says what the flip costs. The golden
test runs end to end through ``pytest -m golden`` on a project of its own (goldens made here,
so nothing depends on this machine's ISA)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from regress.suite import Case

torch = pytest.importorskip("torch")
pytest.importorskip("torch._dynamo")  # imported outside pytester's runs: see test_custom_runner
pytest.importorskip("diffusers")

from regress.runners import get_runner  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")
PLUGINS_OFF = ("-p", "no:cacheprovider", "-p", "no:hypothesispytest")

SUITE = """
[store]
kind = "file"
path = "store"

[defaults]
ssim = 0.9999
psnr = 60.0
max_abs = 2
audio_snr = 60.0
audio_mel = 0.05
audio_max_abs = 0.001

[[case]]
id = "mova"
pipeline = "mova"
prompt = "a drummer on a beach at sunset"
negative_prompt = "negative"
height = 16
width = 16
frames = 9
fps = 16
steps = 2
guidance = 6.0
max_sequence_length = 16
"""


def _case(**kw) -> Case:
    fields = {"id": "mova-test", "pipeline": "mova", "prompt": "a drummer on a beach", "steps": 2, **kw}
    return Case(**fields)


@pytest.fixture(scope="module")
def built():
    runner = get_runner("mova")
    return runner, runner.build(_case(), {}, "cpu")


def test_default_precision_is_the_seeds_table() -> None:
    # MOVA's config: vae_precision = "bf16", audio_vae_precision = "bf16"; the towers, bridge
    # and text encoder as the Wan family's (bf16). The Wan family itself keeps its VAE fp32.
    assert dict(get_runner("mova").default_precision) == {
        "transformer": "bf16", "audio_transformer": "bf16", "bridge": "bf16", "vae": "bf16", "audio_vae": "bf16",
        "text_encoder": "bf16"}
    assert get_runner("wan").default_precision["vae"] == "fp32"
    assert get_runner("wan").default_precision["transformer"] == get_runner("mova").default_precision["transformer"]


def test_the_dac_decoders_snake1d_runs_inside_the_measured_audio_decode(built) -> None:
    from transformers.models.dac.modeling_dac import DacModel, Snake1d

    runner, pipe = built
    audio_vae = pipe.pipe.audio_vae
    assert isinstance(audio_vae, DacModel)
    snakes = [m for m in audio_vae.decoder.modules() if isinstance(m, Snake1d)]
    assert snakes
    seen: list[tuple[str | None, torch.dtype]] = []
    hooks = [m.register_forward_hook(lambda _m, args, _out: seen.append(
        (pipe.meter.stage if pipe.meter is not None else None, args[0].dtype))) for m in snakes]
    try:
        result = runner.run(pipe, _case(), "cpu")
    finally:
        for h in hooks:
            h.remove()
    assert len(seen) == len(snakes)  # every Snake1d of the decoder, once
    assert set(seen) == {("audio_decode", torch.bfloat16)}  # inside the meter's audio_decode, in bf16
    out = result.output
    assert out.kind == "video+audio" and out.nonfinite == 0
    assert out.shapes() == {"video": [9, 16, 16, 3], "audio": [1, 4500]}  # 9 frames at 16 fps, 8 kHz mono
    assert result.fingerprint == dict(runner.default_precision)
    assert set(result.perf.stages) == {"text_encode", "denoise", "decode", "audio_decode"}
    audio = out.audio
    assert 0.05 < float(np.sqrt(np.mean(audio.astype(np.float64) ** 2))) and float(np.abs(audio).max()) < 0.99


def test_both_tracks_depend_on_the_seed(built) -> None:
    """The audio noise is drawn from the call's generator: another seed moves both tracks."""
    runner, pipe = built
    base, other = (runner.run(pipe, _case(seed=seed), "cpu").output for seed in (0, 1))
    assert not np.array_equal(other.audio, base.audio)
    assert not np.array_equal(other.video, base.video)


@pytest.fixture(scope="module")
def mova_project(golden_project_factory) -> Path:  # noqa: ANN001
    return golden_project_factory("mova-project", SUITE)


def test_audio_vae_in_fp32_fails_naming_it_with_its_memory_line(pytester, mova_project, tmp_path) -> None:
    project = tmp_path / "project"
    shutil.copytree(mova_project, project)
    suite, report = project / "goldens" / "suite.toml", tmp_path / "report"
    r = pytester.runpytest_inprocess(str(suite), f"--golden-suite={suite}", "-m", "golden", *PLUGINS_OFF,
                                     f"--golden-report={report}", "--golden-precision", "audio_vae=fp32")
    r.assert_outcomes(failed=1)
    text = r.stdout.str()
    assert "precision changed: audio_vae bf16 -> fp32" in text
    assert "Traceback" not in text
    case = json.loads((report / "results.json").read_text())["cases"][0]
    assert case["precision"]["changed"] == [{"component": "audio_vae", "golden": "bf16", "current": "fp32"}]
    # the memory line: the audio decode's peak grew, and the weights say which component moved
    gate = case["perf"]["gates"]["peak_memory.audio_decode"]
    assert gate["change"] > 0
    assert "peak memory audio_decode" in gate["text"] and "weights: audio_vae" in gate["text"]
    assert "peak memory audio_decode" in text
    assert case["metrics"]["audio_snr"]["passed"] is False  # the waveform moved
    assert case["metrics"]["max_abs"]["value"] == 0  # the video did not
