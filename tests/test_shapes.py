"""Shape-true models: the released architectures, counted on the meta device, built with
seeded random weights (regress.shapes)."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("diffusers")

from regress.errors import RunnerError  # noqa: E402
from regress.runners import get_runner  # noqa: E402
from regress.shapes import Spec, families, specs  # noqa: E402
from regress.shapes.build import check_fits, count, materialize, memory_plan, on_meta  # noqa: E402

# Released checkpoints' parameter totals, as their model cards / safetensors indexes state them.
# These are independent of released.toml: a wrong layer count or width there fails here.
RELEASED = {
    ("qwen-image", "transformer"): 20_430_401_088,
    ("qwen-image", "text_encoder"): 8_292_166_656,   # Qwen2.5-VL-7B-Instruct
    ("flux", "transformer"): 11_901_408_320,
    ("flux", "vae"): 83_819_683,
    ("flux", "text_encoder"): 123_060_480,           # CLIP ViT-L/14 text tower
    ("flux", "text_encoder_2"): 4_762_310_656,       # T5 v1.1 XXL encoder
    ("wan", "transformer"): 14_288_491_584,
    ("z-image", "text_encoder"): 4_022_468_096,      # Qwen3-4B
    ("ltx2", "text_encoder"): 12_187_325_040,        # Gemma 3 12B
    ("sd", "unet"): 859_520_964,
    ("sd", "vae"): 83_653_863,
    ("stable-audio", "text_encoder"): 109_628_544,   # T5-base encoder
}


def _all() -> list[Spec]:
    return [s for f in families() for s in specs(f)]


@pytest.mark.parametrize("spec", _all(), ids=lambda s: f"{s.family}.{s.component}")
def test_meta_build_has_the_released_parameter_count(spec: Spec) -> None:
    model = on_meta(spec)
    assert all(p.device.type == "meta" for p in model.parameters())
    n = count(model)
    assert n == spec.params, f"{spec.family}.{spec.component}: {n:,} parameters, released {spec.params:,}"
    if (spec.family, spec.component) in RELEASED:
        assert n == RELEASED[spec.family, spec.component]
    assert spec.source, "every released config names where it comes from"


def test_every_family_component_has_a_dtype_and_a_shape() -> None:
    for family in families():
        table = dict(get_runner(family).default_precision)
        assert {s.component for s in specs(family)} == set(table), family
        plan = memory_plan(specs(family), table)
        assert all(v > 0 for v in plan.values())


def test_headline_sizes() -> None:
    """What the seed measured against: the transformers' sizes in billions."""
    billions = {f: round(next(s.params for s in specs(f) if s.component in ("transformer", "unet")) / 1e9, 2)
                for f in families()}
    assert billions == {"qwen-image": 20.43, "flux": 11.9, "wan": 14.29, "z-image": 6.15, "ltx2": 18.88,
                        "sd": 0.86, "stable-audio": 1.06, "mova": 14.29}


def test_unknown_family_is_refused() -> None:
    with pytest.raises(RunnerError, match="no released shapes for pipeline 'nope'"):
        specs("nope")


def _small() -> Spec:
    return next(s for s in specs("stable-audio") if s.component == "projection_model")


def test_materialize_is_seeded_typed_and_finite() -> None:
    spec = next(s for s in specs("sd") if s.component == "text_encoder")
    a = materialize(spec, device="cpu", dtype="bf16", seed=3)
    b = materialize(spec, device="cpu", dtype="bf16", seed=3)
    c = materialize(spec, device="cpu", dtype="bf16", seed=4)
    assert count(a) == spec.params
    assert {p.dtype for p in a.parameters()} == {torch.bfloat16}
    assert not any(p.requires_grad for p in a.parameters())
    sa, sb, sc = a.state_dict(), b.state_dict(), c.state_dict()
    assert all(torch.equal(sa[k], sb[k]) for k in sa)
    assert not all(torch.equal(sa[k], sc[k]) for k in sa if sa[k].is_floating_point())
    ids = torch.randint(0, 49408, (1, 77), generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        out = a(ids).last_hidden_state
    assert torch.isfinite(out.float()).all()
    assert 0.05 < out.float().std().item() < 50  # variance-preserving fill: neither vanishing nor exploding


def test_buffers_are_real_and_follow_the_dtype() -> None:
    spec = next(s for s in specs("qwen-image") if s.component == "vae")
    model = materialize(spec, device="cpu", dtype="bf16", seed=0)
    assert not any(t.device.type == "meta" for t in [*model.parameters(), *model.buffers()])
    assert {b.dtype for b in model.buffers() if b.is_floating_point()} <= {torch.bfloat16}


def test_a_case_that_cannot_fit_says_so_before_it_allocates(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.cuda, "mem_get_info", lambda _dev=None: (40 * 2**30, 80 * 2**30))
    monkeypatch.setattr(torch.cuda, "memory_reserved", lambda _dev=None: 0)
    monkeypatch.setattr(torch.cuda, "memory_allocated", lambda _dev=None: 0)
    plan = memory_plan(specs("qwen-image"), dict(get_runner("qwen-image").default_precision))
    with pytest.raises(RunnerError, match=r"needs 53\.7 GiB of weights .* 40\.0 of 80\.0 GiB free: it cannot fit"):
        check_fits(plan, device="cuda:0", family="qwen-image", case="qwen-image-full")
    import regress.shapes.memory as memory  # the host is checked too (tests/test_hardening_inputs.py)

    monkeypatch.setattr(memory, "host_free", lambda: memory.Free(free=64 * 2**30, total=None, source="test"))
    check_fits(plan, device="cpu", family="qwen-image")
    check_fits(plan, device="meta", family="qwen-image")  # a device that cannot say what is free: not refused


# ---------------------------------------------------------------- the shape-true build path

def _small_sd_catalog() -> dict[str, tuple[Spec, ...]]:
    """SD with small stand-ins for the released configs: the same build path at test cost."""
    unet = {"block_out_channels": [8, 16], "layers_per_block": 1, "sample_size": 8, "cross_attention_dim": 32,
            "attention_head_dim": 2, "norm_num_groups": 4,
            "down_block_types": ["CrossAttnDownBlock2D", "DownBlock2D"],
            "up_block_types": ["UpBlock2D", "CrossAttnUpBlock2D"]}
    vae = {"block_out_channels": [8, 16], "down_block_types": ["DownEncoderBlock2D"] * 2,
           "up_block_types": ["UpDecoderBlock2D"] * 2, "latent_channels": 4, "norm_num_groups": 4}
    clip = {"hidden_size": 32, "intermediate_size": 37, "num_hidden_layers": 2, "num_attention_heads": 4,
            "vocab_size": 1000, "max_position_embeddings": 77, "projection_dim": 32}
    raw = [("unet", "diffusers:UNet2DConditionModel", unet, None),
           ("vae", "diffusers:AutoencoderKL", vae, None),
           ("text_encoder", "transformers:CLIPTextModel", clip, "transformers:CLIPTextConfig")]
    specs_ = []
    for name, cls, config, config_class in raw:
        spec = Spec(family="sd", component=name, cls=cls, config=config, config_class=config_class, source="test")
        specs_.append(Spec(family="sd", component=name, cls=cls, config=config, config_class=config_class,
                           source="test", params=count(on_meta(spec))))
    return {"sd": tuple(specs_)}


def test_shape_true_case_replaces_every_network_and_is_deterministic(monkeypatch: pytest.MonkeyPatch) -> None:
    import regress.shapes as shapes
    from regress.suite import Case

    monkeypatch.setattr(shapes, "_catalog", _small_sd_catalog)
    runner = get_runner("sd")
    case = Case(id="sd-shape-true", pipeline="sd", weights="random", height=32, width=32, steps=1, prompt="x")
    assert case.is_shape_true and not case.is_tiny
    outputs = []
    for _ in range(2):
        built = runner.build(case, {}, "cpu")
        pipe = built.pipe
        assert pipe.unet.config.block_out_channels == (8, 16) or list(pipe.unet.config.block_out_channels) == [8, 16]
        assert pipe.vae_scale_factor == 2  # read from the new VAE in __init__, not from the scaffold's
        result = runner.run(built, case, "cpu")
        outputs.append(result.output.image)
        assert result.fingerprint == {"unet": "fp16", "vae": "fp32", "text_encoder": "fp16"}
        expect = {s.component: s.params * (4 if s.component == "vae" else 2) for s in shapes.specs("sd")}
        assert result.perf.weights == pytest.approx(expect, rel=0.02)  # parameters plus a few buffers
        assert result.output.nonfinite == 0
    assert (outputs[0] == outputs[1]).all()


def test_weights_field_is_validated(tmp_path) -> None:
    from regress.errors import SuiteError
    from regress.suite import load_suite

    def suite(body: str):
        path = tmp_path / "suite.toml"
        path.write_text('[store]\nkind = "file"\npath = "s"\n\n[[case]]\nid = "c"\npipeline = "sd"\n' + body)
        return load_suite(path)

    assert suite('weights = "random"\n').cases[0].is_shape_true
    with pytest.raises(SuiteError, match=r"case 'c'.*weights.*\"random\" is the only value"):
        suite('weights = "released"\n')
    with pytest.raises(SuiteError, match=r"model.*leave 'model' out"):
        suite('weights = "random"\nmodel = "org/name"\n')
    # spec hashes of cases without the field are unchanged (existing goldens stay valid)
    assert "weights" not in suite("").cases[0].spec()


def test_memory_verdict_names_the_component_whose_weights_moved() -> None:
    from regress.perf_diff import PerfRecord, gate_lines, perf_diff

    mib = 1 << 20
    golden = {"memory_source": "cuda.max_memory_allocated", "peak_memory": {"decode": 7367 * mib},
              "weights": {"vae": 242 * mib, "transformer": 38967 * mib}}
    current = {"memory_source": "cuda.max_memory_allocated", "peak_memory": {"decode": 14733 * mib},
               "weights": {"vae": 484 * mib, "transformer": 38967 * mib}}
    failures, _ = gate_lines(perf_diff(PerfRecord.from_json(golden), PerfRecord.from_json(current))
                             .check(memory_tolerance=0.05, time_tolerance=None))
    assert failures == ["peak memory decode 7367.00 MiB -> 14733.00 MiB (+100.0%, tolerance 5%, "
                        "cuda.max_memory_allocated); weights: vae 242.00 MiB -> 484.00 MiB"]
    current["weights"]["vae"] = 242 * mib
    failures, _ = gate_lines(perf_diff(PerfRecord.from_json(golden), PerfRecord.from_json(current))
                             .check(memory_tolerance=0.05, time_tolerance=None))
    assert failures[0].endswith("weights unchanged: activations moved")


def test_out_of_memory_is_a_one_line_answer_naming_the_stage(monkeypatch: pytest.MonkeyPatch) -> None:
    import regress.shapes as shapes
    from regress.suite import Case

    monkeypatch.setattr(shapes, "_catalog", _small_sd_catalog)
    runner = get_runner("sd")
    case = Case(id="sd-oom", pipeline="sd", weights="random", height=32, width=32, steps=1)
    built = runner.build(case, {}, "cpu")

    def boom(*_a, **_k):
        raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 294.00 MiB.\nmore")

    monkeypatch.setattr(built.pipe.unet, "forward", boom)
    with pytest.raises(RunnerError, match=r"out of cpu memory in stage 'denoise' with 0\.\d GiB of weights "
                                          r"resident: CUDA out of memory\. Tried to allocate 294\.00 MiB\.$"):
        runner.run(built, case, "cpu")


def test_tensor_quantisation_is_the_numpy_path_bit_for_bit() -> None:
    """Images on a GPU are quantised there; the result must equal regress.outputs.to_uint8's."""
    import numpy as np

    from regress.outputs import to_uint8
    from regress.runners.casting import pixels_to_uint8

    g = torch.Generator().manual_seed(0)
    x = torch.rand(3, 37, 53, generator=g) * 1.2 - 0.1  # out of range both ways
    x[0, 0, :4] = torch.tensor([0.5 / 255, 1.5 / 255, 2.5 / 255, 254.5 / 255])  # round half to even
    x[1, 1, 1], x[2, 2, 2], x[0, 3, 3] = float("nan"), float("inf"), float("-inf")
    for dtype in (torch.float32, torch.bfloat16, torch.float16):
        t = x.to(dtype)
        got, _, bad = pixels_to_uint8(t)
        want, want_bad = to_uint8(t.float().permute(1, 2, 0).numpy())
        assert bad == want_bad == 3
        assert got.dtype == np.uint8 and got.shape == (37, 53, 3)
        assert np.array_equal(got, want), dtype
