"""`regress sweep`: the precision grid, quality vs the all-fp32 run, memory and time."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from regress.cli import main
from regress.errors import RegressError
from regress.sweep import assignments

DEFAULT = {"transformer": "bf16", "vae": "bf16", "text_encoder": "bf16"}


def test_assignments_order_and_dedup() -> None:
    plan = assignments(DEFAULT, ["vae"], ["fp32", "bf16"])
    assert [label for label, _ in plan] == ["all fp32", "default", "vae=fp32"]  # vae=bf16 == default
    grid = assignments(DEFAULT, ["vae", "transformer"], ["fp32", "bf16"], grid=True)
    assert len(grid) == 5  # all fp32, default, then the 2 grid points that differ from both
    with pytest.raises(RegressError, match="unknown component"):
        assignments(DEFAULT, ["unet"], ["fp32"])
    with pytest.raises(RegressError, match="unknown dtype"):
        assignments(DEFAULT, ["vae"], ["fp7"])


def test_sweep_on_tiny_qwen(project: Path, capsys: pytest.CaptureFixture[str],
                            monkeypatch: pytest.MonkeyPatch) -> None:
    import regress.sweep

    suite = project / "goldens" / "suite.toml"
    measured = []
    real_sweep = regress.sweep.sweep

    def recording(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        measured.append(real_sweep(*args, **kwargs))
        return measured[-1]

    monkeypatch.setattr(regress.sweep, "sweep", recording)
    assert main(["sweep", "qwen", "--suite", str(suite), "--components", "vae", "--repeats", "1", "--json",
                 "--device", "cpu"]) == 0
    assert len(measured) == 1
    doc = json.loads(capsys.readouterr().out)
    rows = {r["label"]: r for r in doc["rows"]}
    assert list(rows) == ["all fp32", "default", "vae=fp32"]
    assert rows["all fp32"]["metrics"]["ssim"] == 1.0 and rows["all fp32"]["metrics"]["psnr"] == "inf"
    assert rows["all fp32"]["fingerprint"]["vae"] == "fp32" and rows["default"]["fingerprint"]["vae"] == "bf16"
    assert rows["default"]["metrics"]["ssim"] < 1.0
    assert rows["vae=fp32"]["fingerprint"] == {**rows["default"]["fingerprint"], "vae": "fp32"}
    assert rows["default"]["memory_change"] == 0.0
    assert rows["vae=fp32"]["memory_change"] > 0.5  # fp32 VAE weights and activations, measured
    assert rows["vae=fp32"]["memory_source"] == "profiler"
    # The same rows as Markdown: the CLI's --markdown path over the rows measured above (a second
    # sweep would only rerun the three assignments, about half of this test's time).
    monkeypatch.setattr(regress.sweep, "sweep", lambda *args, **kwargs: measured[0])
    assert main(["sweep", "qwen", "--suite", str(suite), "--components", "vae", "--repeats", "1", "--markdown",
                 "--device", "cpu"]) == 0
    md = capsys.readouterr().out
    assert "| assignment | fingerprint | SSIM |" in md and "| vae=fp32 |" in md
