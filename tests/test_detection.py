"""Never miss a real change: the probe measures the machine and not the code under test, the
engine's precision settings are part of the fingerprint, and a drift-regime verdict never
leans on a guess without saying so (and failing under --golden-strict).

Every regime asserted here is against goldens the test made on the machine it runs on (the
session's golden project), or from records a golden would hold: nothing assumes that another
CPU computes the same bits.
"""

from __future__ import annotations

import functools
import math
from pathlib import Path

import numpy as np
import pytest
from suite_edit import edit_suite

from regress.golden_records import GoldenMeta
from regress.suite import load_suite

torch = pytest.importorskip("torch")


def _half_shifted(out):  # noqa: ANN001, ANN202
    """The output with the left half of the image moved by 3 codes (a small real change)."""
    from regress.outputs import Output

    img = out.image.astype(np.int16)
    img[:, : img.shape[1] // 2] += 3
    return Output(image=np.clip(img, 0, 255).astype(np.uint8))


def _republish(suite_path: Path, case_id: str, *, output=None, meta_change=None) -> None:  # noqa: ANN001
    from regress.stores import open_store
    from regress.stores.base import StagedGolden

    suite = load_suite(suite_path)
    store = open_store(suite)
    (platform,) = store.platforms(case_id)
    g = store.get(case_id, platform)
    meta = {k: v for k, v in g.meta.items() if k != "files"}
    if meta_change:
        meta_change(meta)
    store.publish([StagedGolden(case_id, platform, output(g.output()) if output else g.output(), meta)])


def _check(suite_path: Path, case_id: str = "qwen", **options):  # noqa: ANN003, ANN202
    from regress.session import GoldenSession, Options

    session = GoldenSession(load_suite(suite_path), Options(device="cpu", **options))
    return session.check(session.suite.case(case_id)).verdict


@pytest.fixture
def sdpa_flags():  # noqa: ANN201
    """SDPA's backend switches as they were, put back after the test (REGRESS_KERNELS sets them)."""
    b = torch.backends.cuda
    names = ("flash", "mem_efficient", "cudnn", "math")
    was = {n: getattr(b, f"{n}_sdp_enabled")() for n in names}
    yield
    for n, on in was.items():
        getattr(b, f"enable_{n}_sdp")(on)


@pytest.fixture
def sdpa_scaled(monkeypatch: pytest.MonkeyPatch):  # noqa: ANN201
    """The code under test wraps scaled_dot_product_attention with its scale off by 0.2%."""
    import torch.nn.functional as F

    original = F.scaled_dot_product_attention

    @functools.wraps(original)
    def scaled(*args, scale=None, **kwargs):  # noqa: ANN002, ANN003, ANN202
        q = args[0] if args else kwargs["query"]
        scale = (1.0 / math.sqrt(q.shape[-1]) if scale is None else scale) * 1.002
        return original(*args, scale=scale, **kwargs)

    monkeypatch.setattr(F, "scaled_dot_product_attention", scaled)
    return scaled


# --------------------------------------------------------------------------- the probe

def test_the_probe_does_not_see_what_the_code_under_test_changes(sdpa_scaled, sdpa_flags,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """A wrapped SDPA and REGRESS_KERNELS in this process: the clean process's probe is the
    machine's, and it is what this process computed before the code changed anything."""
    from regress import kernels, probe, probing

    monkeypatch.setattr(torch.nn.functional, "scaled_dot_product_attention", sdpa_scaled.__wrapped__)
    unpatched, _ = probe.run_probe("cpu")
    monkeypatch.setattr(torch.nn.functional, "scaled_dot_product_attention", sdpa_scaled)
    patched, _ = probe.run_probe("cpu")
    assert patched != unpatched  # the in-process probe would have called this platform drift
    monkeypatch.setenv("REGRESS_KERNELS", "sdpa=math")
    kernels.apply_env()
    clean = probing.measure_clean("cpu")
    assert clean.probe == unpatched


def test_the_probe_is_cached_per_machine_and_kernel_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from regress import probing as probe

    monkeypatch.setenv("REGRESS_CACHE_DIR", str(tmp_path))
    key = probe.cache_key("cpu")
    monkeypatch.setenv("REGRESS_KERNELS", "sdpa=math")  # the run's setting, not the machine's
    assert probe.cache_key("cpu") == key
    # what libraries set while they import or compile (inductor, the first build on the H100)
    # chooses no kernel: the warm-up's key and the judgement's must stay one
    monkeypatch.setenv("KMP_DUPLICATE_LIB_OK", "True")
    monkeypatch.setenv("KMP_INIT_AT_FORK", "FALSE")
    assert probe.cache_key("cpu") == key
    import os

    was = os.environ.get("ONEDNN_MAX_CPU_ISA")
    monkeypatch.setenv("ONEDNN_MAX_CPU_ISA", "AVX512_CORE" if was == "AVX2" else "AVX2")  # another kernel path
    assert probe.cache_key("cpu") != key
    if was is None:
        monkeypatch.delenv("ONEDNN_MAX_CPU_ISA")
    else:
        monkeypatch.setenv("ONEDNN_MAX_CPU_ISA", was)
    monkeypatch.setattr(probe, "_CACHE", {})
    first = probe.identity("cpu")
    assert list((tmp_path / "probe").glob("*.json")) == [tmp_path / "probe" / f"{key}.json"]
    monkeypatch.setattr(probe, "_CACHE", {})
    monkeypatch.setattr(probe, "measure_clean", lambda device: pytest.fail("measured again"))
    assert probe.identity("cpu").probe == first.probe  # from disk
    (tmp_path / "probe" / f"{key}.json").write_text("{not json")
    monkeypatch.setattr(probe, "_CACHE", {})
    monkeypatch.setattr(probe, "measure_clean", lambda device: first)
    assert probe.identity("cpu") is first  # a broken cache entry is measured again, not trusted


# --------------------------------------------------------------------------- real changes fail

def test_a_wrapped_attention_fails_exactly_and_names_the_function(project: Path, sdpa_scaled) -> None:
    suite_path = project / "goldens" / "suite.toml"
    v = _check(suite_path)
    assert v.status == "failed" and v.numerics["regime"] == "exact", v.message()
    assert "precision settings changed: functions.replaced none -> F.scaled_dot_product_attention" in v.message()
    assert any(not m["passed"] for m in v.to_json()["metrics"].values() if m["passed"] is not None)


def test_a_precision_setting_set_by_the_code_under_test_fails(project: Path) -> None:
    """``set_float32_matmul_precision("medium")`` (on an AMX CPU: fp32 matmuls in bf16)."""
    suite_path = project / "goldens" / "suite.toml"
    prev = torch.get_float32_matmul_precision()
    torch.set_float32_matmul_precision("medium")
    try:
        v = _check(suite_path)
    finally:
        torch.set_float32_matmul_precision(prev)
    assert v.status == "failed" and v.numerics["regime"] == "exact", v.message()
    assert "float32_matmul_precision highest -> medium" in v.reasons[0]


@pytest.mark.parametrize("how", ["REGRESS_KERNELS", "newer probe"])
def test_a_three_code_change_of_half_an_image_fails(project: Path, monkeypatch: pytest.MonkeyPatch, how: str) -> None:
    """What used to land in the drift regime and pass on the [fallback] guesses (ssim 0.98,
    max_abs 64): a run under REGRESS_KERNELS, and a golden whose probe has one op more (as a
    newer regress records)."""
    suite_path = project / "goldens" / "suite.toml"

    def newer_probe(meta: dict) -> None:
        meta["identity"]["probe"]["fp32.new_op@8"] = "0123456789abcdef"
        meta["identity"]["installed"]["probe_version"] = "2"

    _republish(suite_path, "qwen", output=_half_shifted, meta_change=newer_probe if how == "newer probe" else None)
    if how == "REGRESS_KERNELS":  # a CUDA-only setting: nothing a CPU computes moves
        monkeypatch.setenv("REGRESS_KERNELS", "cudnn_benchmark=on")
        monkeypatch.setattr(torch.backends.cudnn, "benchmark", torch.backends.cudnn.benchmark)  # restored after
    v = _check(suite_path)
    assert v.status == "failed" and v.numerics["regime"] == "exact", v.message()
    assert v.metrics["max_abs"].value == 3 and v.metrics["max_abs"].passed is False
    if how == "newer probe":
        assert "compared on the" in v.numerics["line"] and "1 only in the golden's" in v.numerics["line"]


def test_regress_kernels_that_move_the_output_fail_and_are_named(project: Path, sdpa_flags,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    suite_path = project / "goldens" / "suite.toml"
    monkeypatch.setenv("REGRESS_KERNELS", "sdpa=math")
    v = _check(suite_path)
    assert v.status == "failed" and v.numerics["regime"] == "exact", v.message()
    assert v.reasons[0].startswith("precision settings changed: sdpa.backends ") and " -> math " in v.reasons[0]


# --------------------------------------------------------------------------- no silent guesses

def _drift_verdict(suite, *, strict: bool, drift: dict | None):  # noqa: ANN001, ANN202
    from regress.judge import Evidence, Subject, judge, thresholds_for
    from regress.metrics.compare import Comparison
    from regress.numerics import Identity, compare
    from regress.outputs import Output
    from regress.stores.base import Golden

    probe = {"fp32.matmul@64x64x64": "a", "bf16.conv2d@32ch": "b"}
    golden_id = Identity(installed={"cpu.model": "AMD EPYC"}, probe=probe)
    now = Identity(installed={"cpu.model": "Intel Xeon"}, probe={**probe, "bf16.conv2d@32ch": "c"})
    meta = {"identity": golden_id.to_json(), "precision": {"vae": "bf16"}, "drift": drift}
    case = suite.cases[0]
    numerics = compare(meta["identity"], now, same_key=False, golden_platform="cpu-avx512bf16")
    th = thresholds_for(suite, case, "cpu-amx", golden_platform="cpu-avx512bf16", golden_meta=GoldenMeta.from_json(meta),
                        regime=numerics.regime)
    subject = Subject(id=case.id, output=Output(image=np.zeros((4, 4, 3), np.uint8)), fingerprint={"vae": "bf16"})
    ev = Evidence(golden=Golden(case.id, "cpu-avx512bf16", Path("g"), meta), match="nearest", numerics=numerics,
                  comparison=Comparison(values={"ssim": 0.9995, "psnr": 55.0, "max_abs": 3.0}, mismatch=[]))
    return judge(subject, ev, th, platform="cpu-amx", suite=suite, strict=strict)


def test_drift_without_measured_bounds_is_said_and_fails_under_strict(project: Path) -> None:
    suite_path = project / "goldens" / "suite.toml"
    suite = load_suite(suite_path)
    loose = _drift_verdict(suite, strict=False, drift=None)
    assert loose.status == "passed" and "UNMEASURED drift bounds for" in loose.numerics["line"]
    assert loose.numerics["unmeasured"] and any(w.startswith("UNMEASURED") for w in loose.warnings)
    strict = _drift_verdict(suite, strict=True, drift=None)
    assert strict.status == "failed" and any(r.startswith("UNMEASURED drift bounds") for r in strict.reasons)
    measured = _drift_verdict(suite, strict=True, drift={"thresholds": {"ssim": 0.999, "psnr": 50.0, "max_abs": 4,
                                                                        "mean_abs": 1.0},
                                                         "paths": [{"label": "default"}], "machine": "AMD EPYC",
                                                         "margin": 2.0})
    assert measured.status == "passed" and "unmeasured" not in measured.numerics, measured.message()
    assert "drift-calibrated on AMD EPYC" in measured.numerics["line"]  # where the bounds came from
    edit_suite(suite_path, lambda d: d["suite"].update(unmeasured_drift="fallback"))
    opted_in = _drift_verdict(load_suite(suite_path), strict=True, drift=None)
    assert opted_in.status == "passed" and any(w.startswith("UNMEASURED") for w in opted_in.warnings)


def test_the_suite_refuses_a_bad_unmeasured_drift_or_allowed_settings(project: Path) -> None:
    from regress.errors import SuiteError

    suite_path = project / "goldens" / "suite.toml"
    edit_suite(suite_path, lambda d: d["suite"].update(unmeasured_drift="maybe"))
    with pytest.raises(SuiteError, match="suite.unmeasured_drift"):
        load_suite(suite_path)
    edit_suite(suite_path, lambda d: d["suite"].update(unmeasured_drift="fail", allowed_settings=[3]))
    with pytest.raises(SuiteError, match="suite.allowed_settings"):
        load_suite(suite_path)


def test_a_stage_checkpoint_that_cannot_be_compared_is_a_change(project: Path) -> None:
    """A golden whose checkpoints the run no longer makes (or makes in another shape) fails in
    the exact regime, even where every compared tensor and the pixels match."""
    import numpy as np

    suite_path = project / "goldens" / "suite.toml"

    from regress.stores import open_store
    from regress.stores.base import StagedGolden

    store = open_store(load_suite(suite_path))
    (platform,) = store.platforms("qwen")
    g = store.get("qwen", platform)
    out = g.output()
    assert out.stages, "the tiny runner records stage checkpoints"
    key = sorted(out.stages)[0]
    out.stages = {**out.stages, "denoise/step999": np.zeros(3, np.float32),
                  key: np.zeros((*out.stages[key].shape, 2), out.stages[key].dtype)}
    store.publish([StagedGolden("qwen", platform, out, {k: v for k, v in g.meta.items() if k != "files"})])
    v = _check(suite_path)
    assert v.status == "failed", v.message()
    reason = next(r for r in v.reasons if r.startswith("stage checkpoints that cannot be compared"))
    assert "denoise/step999: missing in this run" in reason and f"{key}: shape" in reason
