"""Numerics identity, verdict regimes and drift bounds: platform drift is told from a regression.

The pure parts (CPU tiers, identity comparison, drift thresholds, the judging step) are
tested with records as a golden would hold them, so they hold on any machine; the probe is
only asked to be repeatable within one process and settings (never bit equality across
thread counts or ISAs).
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from regress.golden_records import GoldenMeta, PerfRecord
from regress.numerics import DRIFT, EXACT, Identity, compare, describe_ops, probe_matches
from regress.probe import cpu_tier
from regress.suite import load_suite

EPYC = frozenset({"avx2", "avx512f", "avx512_vnni", "avx512_bf16"})
XEON_AMX = frozenset({"avx2", "avx512f", "avx512_vnni", "avx512_bf16", "avx512_fp16", "amx_tile", "amx_bf16"})
SKYLAKE = frozenset({"avx2", "avx512f"})


# --------------------------------------------------------------------------- platform keys

@pytest.mark.parametrize(("flags", "aten", "cap", "tier"), [
    (EPYC, "AVX512", "ALL", "avx512bf16"),
    (XEON_AMX, "AVX512", "ALL", "amx"),
    (XEON_AMX, "AVX512", "AVX512_CORE_FP16", "avx512fp16"),
    (XEON_AMX, "AVX512", "AVX512_CORE_BF16", "avx512bf16"),  # what reproduces the EPYC's goldens
    (XEON_AMX, "AVX512", "AVX512_CORE", "avx512"),
    (XEON_AMX, "AVX2", "AVX2", "avx2"),
    (SKYLAKE, "AVX512", "ALL", "avx512"),
    (frozenset({"asimd"}), "DEFAULT", "ALL", "default"),
])
def test_cpu_tier_separates_what_computes_differently(flags, aten, cap, tier) -> None:
    assert cpu_tier(flags=flags, aten_capability=aten, cap=cap) == tier


def test_a_machine_without_its_own_golden_takes_the_nearest_tier() -> None:
    from regress.platform import nearest

    have = ["cpu-amx", "cpu-avx2", "cpu-avx512bf16", "cuda-sm90"]
    assert nearest("cpu-avx512", have) == "cpu-avx512bf16"  # tie with avx2 goes to the richer tier
    assert nearest("cpu-avx512fp16", have) in ("cpu-amx", "cpu-avx512bf16")
    assert nearest("cpu-avx512", ["cpu-avx2", "cuda-sm90"]) == "cpu-avx2"


# --------------------------------------------------------------------------- identity and regime

def _identity(probe: dict[str, str] | None = None, **installed: str) -> Identity:
    base = {"torch": "2.14.1", "cpu.model": "AMD EPYC", "cpu.onednn_isa": "ALL", "diffusers": "0.42.1"}
    return Identity(installed={**base, **installed},
                    probe=probe or {"fp32.matmul@64x64x64": "a", "bf16.matmul@77x512x96": "b",
                                    "bf16.conv2d@32ch": "c", "fp16.sdpa@24x32": "d"})


def test_equal_probes_are_exact_even_when_versions_differ() -> None:
    golden = _identity().to_json()
    now = _identity(torch="2.15.0", diffusers="0.43.0")
    n = compare(golden, now, same_key=True)
    assert n.regime == EXACT and n.known
    assert "not platform drift" in n.describe() and "torch 2.14.1 -> 2.15.0" in n.describe()


def test_a_differing_probe_is_drift_and_names_ops_and_causes() -> None:
    golden = _identity().to_json()
    probe = {**_identity().probe, "bf16.matmul@77x512x96": "x", "bf16.conv2d@32ch": "y"}
    now = _identity(probe, **{"cpu.model": "Intel Xeon", "cpu.onednn_isa": "ALL"})
    n = compare(golden, now, same_key=False, golden_platform="cpu-avx512bf16")
    assert n.regime == DRIFT
    line = n.describe()
    assert line.startswith("platform drift: bf16 matmul and conv2d differ from the golden's machine")
    assert "cpu.model AMD EPYC -> Intel Xeon" in line


def test_a_golden_without_identity_is_exact_only_under_its_own_key() -> None:
    now = _identity()
    assert compare(None, now, same_key=True).regime == EXACT
    assert compare(None, now, same_key=False).regime == DRIFT
    assert "records no numerics identity" in compare(None, now, same_key=True).describe()
    assert compare({"schema": 99, "probe": {}}, now, same_key=True).known is False  # unreadable: unknown


def test_identity_round_trips_and_probe_matches() -> None:
    i = _identity()
    back = Identity.from_json(i.to_json())
    assert back is not None and back.probe == i.probe and back.digest == i.digest
    assert probe_matches(i.to_json(), i)
    assert not probe_matches(i.to_json(), _identity({**i.probe, "fp16.sdpa@24x32": "z"}))
    assert describe_ops(["fp16.sdpa@24x32", "bf16.matmul@64x64x64", "bf16.matmul@77x512x96"]) == "bf16 matmul; fp16 sdpa"


# --------------------------------------------------------------------------- drift thresholds

SUITE = """
[store]
kind = "file"
path = "store"
[defaults]
ssim = 0.9999
psnr = 60.0
max_abs = 2
[fallback]
ssim = 0.98
max_abs = 64
[[case]]
id = "c"
pipeline = "sd"
"""


@pytest.fixture
def suite(tmp_path: Path):
    (tmp_path / "suite.toml").write_text(SUITE)
    (tmp_path / "store").mkdir()
    return load_suite(tmp_path / "suite.toml")


def test_drift_bounds_loosen_never_tighten(suite) -> None:
    from regress.judge import thresholds_for

    case = suite.cases[0]
    drift = {"thresholds": {"ssim": 0.9995, "psnr": 70.0, "max_abs": 4}, "paths": ["a", "b"], "goldens": ["x"],
             "margin": 2.0}
    th = thresholds_for(suite, case, "cpu-amx", golden_platform="cpu-avx512bf16", golden_meta=GoldenMeta.from_json({"drift": drift}),
                        regime=DRIFT)
    assert th["ssim"].value == 0.9995 and th["ssim"].source.startswith("drift-calibrated")
    assert th["max_abs"].value == 4
    assert th["psnr"].value == 60.0 and th["psnr"].source == "suite default"  # a tighter bound is not taken
    exact = thresholds_for(suite, case, "cpu-amx", golden_platform="cpu-amx", golden_meta=GoldenMeta.from_json({"drift": drift}),
                           regime=EXACT)
    assert exact["ssim"].value == 0.9999 and exact["max_abs"].value == 2  # drift bounds are for drift only


def test_drift_without_a_measurement_says_its_bound_is_a_guess(suite) -> None:
    from regress.judge import thresholds_for

    th = thresholds_for(suite, suite.cases[0], "cpu-amx", golden_platform="cpu-avx2", golden_meta=GoldenMeta.from_json({}), regime=DRIFT)
    assert th["ssim"].value == 0.98 and "no measured drift bound" in th["ssim"].source


# --------------------------------------------------------------------------- the judging step

def _judge(suite, *, regime_probe: dict[str, str] | None, values: dict[str, float], fingerprint: dict[str, str],
           golden_platform: str = "cpu-amx", peak: int = 100):
    from regress.judge import Evidence, Subject, judge, thresholds_for
    from regress.metrics.compare import Comparison
    from regress.outputs import Output
    from regress.stores.base import Golden

    golden_identity = _identity()
    now = _identity(regime_probe) if regime_probe else _identity()
    meta = {"identity": golden_identity.to_json(), "precision": {"vae": "bf16"},
            "perf": {"wall_s": 1.0, "peak_memory": {"decode": 100}, "memory_source": "profiler"},
            "drift": {"thresholds": {"ssim": 0.999, "max_abs": 4, "psnr": 50.0}, "paths": ["a"], "margin": 2.0}}
    case = suite.cases[0]
    numerics = compare(meta["identity"], now, same_key=golden_platform == "cpu-amx", golden_platform=golden_platform)
    th = thresholds_for(suite, case, "cpu-amx", golden_platform=golden_platform, golden_meta=GoldenMeta.from_json(meta),
                        regime=numerics.regime)
    subject = Subject(id=case.id, output=Output(image=np.zeros((4, 4, 3), np.uint8)), fingerprint=fingerprint,
                      perf=PerfRecord.from_json({"wall_s": 1.0, "peak_memory": {"decode": peak},
                                                 "memory_source": "profiler"}),
                      spec_hash=case.spec_hash())
    golden = Golden(case.id, golden_platform, Path("golden"), meta)
    ev = Evidence(golden=golden, match="exact" if golden_platform == "cpu-amx" else "nearest", numerics=numerics,
                  comparison=Comparison(values=values, mismatch=[]))
    return judge(subject, ev, th, platform="cpu-amx", suite=suite, strict=False)


DRIFTED = {**_identity().probe, "bf16.conv2d@32ch": "other"}


def test_drift_within_bounds_passes_and_says_so(suite) -> None:
    v = _judge(suite, regime_probe=DRIFTED, values={"ssim": 0.9995, "psnr": 55.0, "max_abs": 3.0},
               fingerprint={"vae": "bf16"}, golden_platform="cpu-avx512bf16", peak=150)
    assert v.status == "passed", v.message()
    assert v.numerics["regime"] == DRIFT and "judged with drift bounds (thresholds from drift-calibrated" in v.numerics["line"]
    assert "platform drift: bf16 conv2d" in v.message()
    assert any(w.startswith("not gated (platform drift") and "peak memory" in w for w in v.warnings)


def test_a_dtype_change_fails_in_the_drift_regime_too(suite) -> None:
    v = _judge(suite, regime_probe=DRIFTED, values={"ssim": 1.0, "psnr": math.inf, "max_abs": 0.0},
               fingerprint={"vae": "fp32"}, golden_platform="cpu-avx512bf16")
    assert v.status == "failed" and "precision changed: vae bf16 -> fp32" in v.message()


def test_an_exact_failure_says_it_is_not_platform_drift(suite) -> None:
    v = _judge(suite, regime_probe=None, values={"ssim": 0.9995, "psnr": 55.0, "max_abs": 3.0},
               fingerprint={"vae": "bf16"}, peak=150)
    assert v.status == "failed"
    msg = v.message()
    assert "not platform drift" in msg and "max_abs=3/255 (needs <= 2, suite default)" in msg
    assert "peak memory decode" in msg  # gated: same key, exact numerics


def test_nan_never_passes_in_the_drift_regime(suite) -> None:
    v = _judge(suite, regime_probe=DRIFTED, values={"ssim": math.nan, "psnr": 55.0, "max_abs": 3.0},
               fingerprint={"vae": "bf16"}, golden_platform="cpu-avx512bf16")
    assert v.status == "failed"


# --------------------------------------------------------------------------- the probe and variants

def test_probe_is_repeatable_and_covers_every_dtype() -> None:
    pytest.importorskip("torch")
    from regress.probe import DTYPES, run_probe

    a, _ = run_probe("cpu")
    b, _ = run_probe("cpu")
    assert a == b  # same process, same settings
    for dtype in DTYPES:
        assert {k.split(".", 1)[1].split("@")[0] for k in a if k.startswith(dtype + ".")} >= {
            "matmul", "linear", "conv2d", "conv3d", "sdpa", "group_norm", "layer_norm", "silu", "gelu", "interpolate"}


def test_drift_variants_follow_the_cpu() -> None:
    from regress.drift import variants

    labels = [v.label for v in variants("cpu", flags=XEON_AMX, threads=2)]
    assert labels[:2] == ["default", "threads 1"]
    assert {"oneDNN AVX512_CORE_BF16", "oneDNN AVX512_CORE", "ATen+oneDNN AVX2"} <= set(labels)
    epyc = [v.label for v in variants("cpu", flags=EPYC, threads=2)]
    assert "oneDNN AVX512_CORE_BF16" not in epyc and "oneDNN AVX512_CORE" in epyc
    # ATen's scalar path: every CPU can take it, and it stands in for CPUs unlike any other path
    for flags in (XEON_AMX, EPYC, SKYLAKE, frozenset({"avx2"})):
        assert variants("cpu", flags=flags, threads=2)[-1].env == {"ATEN_CPU_CAPABILITY": "default",
                                                                   "ONEDNN_MAX_CPU_ISA": "AVX2"}
    assert variants("cpu", flags=frozenset({"asimd"}), threads=2)[-1].env == {"ATEN_CPU_CAPABILITY": "default"}
    gpu = [v.env.get("REGRESS_KERNELS") for v in variants("cuda")]
    assert "sdpa=math" in gpu and "tf32=on" in gpu


def test_kernel_settings_are_validated() -> None:
    from regress import kernels
    from regress.errors import RegressError

    assert kernels.parse("sdpa=math, tf32=on") == {"sdpa": "math", "tf32": "on"}
    for bad in ("sdpa=fast", "tf32=yes", "threads=0", "speed=max", "sdpa"):
        with pytest.raises(RegressError, match="REGRESS_KERNELS"):
            kernels.parse(bad)


def test_lookup_prefers_a_stand_in_that_computes_the_same(tmp_path: Path) -> None:
    from regress.stores.base import Golden, lookup

    same = _identity()
    other = _identity({**same.probe, "bf16.conv2d@32ch": "zz"})

    class Store:
        def platforms(self, case_id: str) -> list[str]:
            return ["cpu-avx2", "cpu-avx512bf16"]

        def get(self, case_id: str, platform: str) -> Golden:
            ident = same if platform == "cpu-avx2" else other
            return Golden(case_id, platform, tmp_path, {"identity": ident.to_json()})

    g, match = lookup(Store(), "c", "cpu-avx512", identity=same)
    assert match == "nearest" and g.platform == "cpu-avx2"  # the probe matched: judged exactly
    g, _ = lookup(Store(), "c", "cpu-avx512", identity=_identity({**same.probe, "fp32.matmul@64x64x64": "q"}))
    assert g.platform == "cpu-avx512bf16"  # nothing matches: the nearest key



def test_github_output_says_which_regime_judged_a_case() -> None:
    from regress.report.github import annotations, job_summary

    drift_line = "platform drift: bf16 conv2d differs from the golden's machine; judged with drift bounds"
    doc = {"cases": [
        {"id": "a", "platform": "cpu-amx", "status": "failed", "reasons": ["precision changed: vae bf16 -> fp32"],
         "numerics": {"regime": "drift", "line": drift_line}},
        {"id": "b", "platform": "cpu-amx", "status": "passed", "reasons": [],
         "numerics": {"regime": "drift", "line": drift_line}},
        {"id": "c", "platform": "cpu-amx", "status": "passed", "reasons": [], "numerics": {"regime": "exact"}}]}
    (ann,) = annotations(doc)
    assert "precision changed: vae bf16 -> fp32; platform drift: bf16 conv2d" in ann
    md = job_summary(doc)
    assert "### judged in the drift regime (passed)" in md and "**b**" in md and "**c**" not in md
