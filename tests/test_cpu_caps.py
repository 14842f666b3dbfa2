"""An emulated CPU kernel path is made whole: ATen capped below AVX-512 gets oneDNN capped beside
it (regress.kernels.cap_onednn_beside_aten), as calibrate --drift's paths do. On an AMX Xeon,
ATen's cap alone made torch's CPU attention raise (pack_vnni2) in 6 of the 10 tiny cases."""

from __future__ import annotations

import subprocess
import sys

import pytest

from regress.kernels import ONEDNN_BESIDE_CAPPED_ATEN, cap_onednn_beside_aten


@pytest.mark.parametrize(("environ", "cap"), [
    ({"ATEN_CPU_CAPABILITY": "default"}, "AVX2"),
    ({"ATEN_CPU_CAPABILITY": " AVX2 "}, "AVX2"),
    ({"ATEN_CPU_CAPABILITY": "avx512"}, None),                                   # not below AVX-512
    ({}, None),                                                                   # nothing emulated
    ({"ATEN_CPU_CAPABILITY": "default", "ONEDNN_MAX_CPU_ISA": "SSE41"}, None),   # the user's cap is kept
    ({"ATEN_CPU_CAPABILITY": "default", "DNNL_MAX_CPU_ISA": "AVX"}, None),       # its old name too
])
def test_onednn_is_capped_beside_a_capped_aten_unless_the_user_capped_it(environ: dict[str, str],
                                                                           cap: str | None) -> None:
    before = dict(environ)
    assert cap_onednn_beside_aten(environ) == cap
    assert environ == ({**before, "ONEDNN_MAX_CPU_ISA": cap} if cap else before)


def test_the_drift_paths_and_the_run_use_one_cap() -> None:
    from regress.drift_paths import variants

    paths = {v.label: v.env for v in variants("cpu", flags=frozenset({"avx2", "avx512f"}))}
    assert paths["ATen default"]["ONEDNN_MAX_CPU_ISA"] == ONEDNN_BESIDE_CAPPED_ATEN
    assert paths["ATen+oneDNN AVX2"]["ONEDNN_MAX_CPU_ISA"] == ONEDNN_BESIDE_CAPPED_ATEN


def test_the_plugin_caps_onednn_before_torch_runs_an_op(tmp_path) -> None:  # noqa: ANN001
    """The cap must be in the environment before oneDNN reads it: set at pytest_configure, read
    back by a test in the same process."""
    (tmp_path / "test_env.py").write_text(
        "import os\n"
        "def test_env():\n"
        "    assert os.environ.get('ONEDNN_MAX_CPU_ISA') == 'AVX2'\n")
    env = {k: v for k, v in __import__("os").environ.items() if k not in ("ONEDNN_MAX_CPU_ISA", "DNNL_MAX_CPU_ISA")}
    env.update(ATEN_CPU_CAPABILITY="default", PYTEST_DISABLE_PLUGIN_AUTOLOAD="1")
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "regress.plugin",
                           str(tmp_path / "test_env.py")], cwd=tmp_path, env=env, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
