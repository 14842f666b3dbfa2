"""Drift regime end to end: a golden from a machine that computes differently passes within
drift bounds and says so, a dtype change still fails, and ``regress calibrate --drift``
measures and records the bounds (one published change, the lock moves)."""

from __future__ import annotations

import contextlib
import io
import json
import shutil
from pathlib import Path
from types import SimpleNamespace

import pytest

pytest.importorskip("torch")

from regress.cli import main  # noqa: E402
from regress.session import GoldenSession, Options  # noqa: E402
from regress.stores.base import StagedGolden  # noqa: E402
from regress.suite import load_suite  # noqa: E402


def _as_other_machine(project: Path, case_id: str, platform: str | None = None) -> None:
    """Republish the case's golden (its only one, or ``platform``'s) as if another machine had
    made it: one probe op differs."""
    suite = load_suite(project / "goldens" / "suite.toml")
    store = GoldenSession(suite, Options(device="cpu")).store
    if platform is None:
        (platform,) = store.platforms(case_id)
    g = store.get(case_id, platform)
    meta = {k: v for k, v in g.meta.items() if k != "files"}
    ident = dict(meta["identity"])
    ident["probe"] = {**ident["probe"], "bf16.conv2d@32ch": "0" * 16}
    ident["installed"] = {**ident["installed"], "cpu.model": "Another CPU"}
    meta["identity"] = ident
    store.publish([StagedGolden(case_id, platform, g.output(), meta)], message="other machine")


def _check(project: Path, case_id: str, **options):  # noqa: ANN202
    suite = load_suite(project / "goldens" / "suite.toml")
    session = GoldenSession(suite, Options(device="cpu", **options))
    try:
        return session.check(suite.case(case_id)).verdict
    finally:
        session.close()


def test_goldens_record_the_identity_they_were_made_under(project: Path) -> None:
    metas = list((project / "goldens" / "store" / "cases" / "qwen").glob("*/meta.json"))
    meta = json.loads(metas[0].read_text())
    ident = meta["identity"]
    assert ident["schema"] == 1 and ident["device"] == "cpu" and len(ident["probe"]) >= 30
    assert {"torch", "cpu.model", "cpu.isa", "cpu.onednn_isa", "onednn"} <= set(ident["installed"])
    v = _check(project, "qwen")
    assert v.status == "passed" and v.numerics["regime"] == "exact"


def test_another_machines_golden_is_judged_in_the_drift_regime_and_says_so(project: Path) -> None:
    _as_other_machine(project, "qwen")
    v = _check(project, "qwen")
    assert v.status == "passed", v.message()
    assert v.numerics["regime"] == "drift"
    assert "platform drift: bf16 conv2d differs from the golden's machine" in v.message()
    assert "cpu.model" in v.message() and "judged with drift bounds" in v.message()
    # no measured bound yet: the source says the bound is a guess
    assert any("no measured drift bound" in (m.source or "") for m in v.metrics.values())


def test_a_dtype_change_still_fails_in_the_drift_regime(project: Path) -> None:
    _as_other_machine(project, "qwen")
    v = _check(project, "qwen", precision={"vae": "fp32"})
    assert v.status == "failed" and "precision changed: vae bf16 -> fp32" in v.message()
    assert v.numerics["regime"] == "drift"


@pytest.fixture(scope="module")
def drift_calibrated(golden_project: Path, tmp_path_factory: pytest.TempPathFactory) -> SimpleNamespace:
    """One ``regress calibrate --drift`` of qwen over two kernel paths (each path a fresh worker
    process: the costliest step of this module), read by the two tests below; neither changes it.
    Beside this machine's golden the project holds one made with another dtype table (vae fp32)
    under another platform key: a golden that is not a legal path of the case."""
    from regress.stores import open_store

    root = tmp_path_factory.mktemp("drift-calibrated")
    shutil.copytree(golden_project, root, dirs_exist_ok=True)
    suite_path = root / "goldens" / "suite.toml"
    store = open_store(load_suite(suite_path))
    (key,) = store.platforms("qwen")
    g = store.get("qwen", key)
    other = "cpu-avx2" if key != "cpu-avx2" else "cpu-amx"
    meta = {k: v for k, v in g.meta.items() if k != "files"}
    store.publish([StagedGolden("qwen", other, g.output(), {**meta, "precision": {**meta["precision"], "vae": "fp32"}})])
    lock_before = (root / "goldens" / "goldens.lock").read_text()
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        rc = main(["calibrate", "--drift", "--suite", str(suite_path), "-k", "qwen",
                   "--variant", "default", "--variant", "threads 1"])
    return SimpleNamespace(root=root, key=key, other=other, rc=rc, out=out.getvalue(), lock_before=lock_before)


def test_calibrate_drift_measures_and_records_bounds(drift_calibrated: SimpleNamespace, tmp_path: Path) -> None:
    cal = drift_calibrated
    assert cal.rc == 0, cal.out
    assert "qwen: 2 kernel paths" in cal.out and "drift bound" in cal.out
    assert (cal.root / "goldens" / "goldens.lock").read_text() != cal.lock_before
    meta = json.loads((cal.root / "goldens" / "store" / "cases" / "qwen" / cal.key / "meta.json").read_text())
    drift = meta["drift"]
    assert [p["label"] for p in drift["paths"]] == ["default", "threads 1"]
    assert drift["goldens"] and set(drift["thresholds"]) >= {"ssim", "psnr", "max_abs"}
    assert drift["margin"] == 2.0 and drift["bimodal"] == []
    # The bound is at least one code; the drift regime takes it only where it is looser than
    # the exact regime's threshold (the suite default, 2), never tighter. (The paths' spread
    # depends on this machine: the golden was made under this process's kernel path, the
    # 'default' variant runs the machine's unconstrained one.)
    bound = drift["thresholds"]["max_abs"]
    assert bound >= 1 and bound >= 2 * drift["spread"]["max_abs"]
    project = tmp_path / "project"  # a private copy: the shared one stays as calibrated
    shutil.copytree(cal.root, project)
    _as_other_machine(project, "qwen", cal.key)
    v = _check(project, "qwen")
    assert v.status == "passed" and v.metrics["max_abs"].threshold == max(2, bound)
    expected = "suite default" if bound <= 2 else "drift-calibrated"
    assert v.metrics["max_abs"].source.startswith(expected)


def test_drift_bounds_leave_out_goldens_of_another_precision_or_spec(drift_calibrated: SimpleNamespace) -> None:
    """A golden of the same backend made with another dtype table (or other inputs) is not a legal
    path of this case: measured against it, the bounds would admit a real change."""
    cal = drift_calibrated
    assert cal.rc == 0, cal.out
    cases = cal.root / "goldens" / "store" / "cases" / "qwen"
    drift = json.loads((cases / cal.key / "meta.json").read_text())["drift"]
    assert drift["goldens"] == [cal.key]
    assert f"golden {cal.other}: made with another precision fingerprint" in drift["skipped"]
    assert "drift" not in json.loads((cases / cal.other / "meta.json").read_text())


def test_calibrate_drift_refuses_a_single_repeat(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rc = main(["calibrate", "--drift", "--suite", str(project / "goldens" / "suite.toml"), "-k", "qwen",
               "--repeats", "1"])
    assert rc == 2 and "--repeats must be at least 2" in capsys.readouterr().err


def test_env_prints_the_identity(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["env", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["key"].startswith("cpu-") and doc["identity"]["digest"] and doc["identity"]["probe"]
    assert main(["env"]) == 0
    out = capsys.readouterr().out
    assert "kernel probe (decides the regime)" in out and "installed (explains a difference)" in out


def test_exact_on_request_judges_another_machines_golden_exactly(project: Path) -> None:
    """bisect --exact: what moved the output at all, inside platform drift too."""
    _as_other_machine(project, "qwen")
    v = _check(project, "qwen", exact=True)
    assert v.numerics["regime"] == "exact"
    assert "judged exactly on request: the kernel probe differs" in v.numerics["line"]
    assert "bf16 conv2d" in v.numerics["line"]
