"""Thresholds and their sources; metric judgement; precision and perf diffs."""

from __future__ import annotations

import math
import textwrap
from pathlib import Path

from regress.golden_records import PerfRecord
from regress.suite import load_suite
from regress.thresholds import resolve_thresholds
from regress.perf_diff import perf_diff
from regress.verdict import Verdict, describe_precision_change, judge_metrics, precision_diff

SUITE = """
[store]
kind = "file"
path = "store"
[defaults]
ssim = 0.999
psnr = 60
max_abs = 2
[fallback]
ssim = 0.98
max_abs = 64
psnr = 80
[platforms."rocm-*"]
max_abs = 4
[[case]]
id = "a"
pipeline = "flux"
thresholds = { psnr = 50 }
"""


def suite(tmp_path: Path):
    p = tmp_path / "suite.toml"
    p.write_text(textwrap.dedent(SUITE))
    return load_suite(p)


def test_threshold_layers_and_sources(tmp_path: Path) -> None:
    s = suite(tmp_path)
    th = resolve_thresholds(s, s.cases[0], "rocm-gfx942")
    assert th["ssim"].value == 0.999 and th["ssim"].source == "suite default"
    assert th["max_abs"].value == 4 and th["max_abs"].source == "platform overlay 'rocm-*'"
    assert th["psnr"].value == 50 and th["psnr"].source == "case"
    assert th["ssim_worst"].value == 0.999 and "as ssim" in th["ssim_worst"].source
    cal = resolve_thresholds(s, s.cases[0], "cpu-avx2", calibrated={"ssim": 0.9995})
    assert cal["ssim"].source == "calibrated"


def test_fallback_only_loosens(tmp_path: Path) -> None:
    s = suite(tmp_path)
    th = resolve_thresholds(s, s.cases[0], "rocm-gfx942", nearest_from="rocm-gfx90a")
    assert th["ssim"].value == 0.98 and "golden from rocm-gfx90a" in th["ssim"].source
    assert th["max_abs"].value == 64
    assert th["psnr"].value == 50 and th["psnr"].source == "case"  # fallback 80 would be tighter


def test_nan_never_passes(tmp_path: Path) -> None:
    s = suite(tmp_path)
    th = resolve_thresholds(s, s.cases[0], "cpu-avx2")
    res = judge_metrics({"ssim": math.nan, "max_abs": 0.0, "cosine": math.nan}, th)
    assert res["ssim"].passed is False and res["max_abs"].passed is True
    assert res["cosine"].passed is False  # ungated, still NaN
    assert "needs >= 0.999, suite default" in res["ssim"].line()


def test_precision_and_perf_diffs() -> None:
    d = precision_diff({"vae": "bf16", "transformer": "bf16"}, {"vae": "fp32", "transformer": "bf16"})
    assert d["changed"] == [{"component": "vae", "golden": "bf16", "current": "fp32"}]
    assert describe_precision_change(d["changed"]) == "precision changed: vae bf16 -> fp32"
    p = perf_diff(PerfRecord.from_json({"wall_s": 2.0, "peak_memory": {"total": 100}}),
                  PerfRecord.from_json({"wall_s": 1.0, "peak_memory": {"total": 150}}))
    assert p.ratio == {"wall_s": 0.5, "peak_memory.total": 1.5}


def test_verdict_json_is_strict() -> None:
    import json

    v = Verdict(id="a", platform="cpu-avx2", status="failed",
                metrics=judge_metrics({"psnr": math.inf, "ssim": math.nan}, {}))
    doc = v.to_json()
    json.dumps(doc, allow_nan=False)
    assert doc["metrics"]["psnr"]["value"] == "inf" and doc["metrics"]["ssim"]["value"] == "nan"
