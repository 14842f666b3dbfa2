"""Hostile input to a session's life: whatever raises while a case is judged, the case keeps
exactly one record; each step at the end of a run is guarded on its own; a publish carries
every selected case or nothing; runners that cannot load, and Ctrl-C, say the truth in one line.

Custom runners made of numpy only (no pipeline runs); each test failed on the code before its fix.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from regress.cli import main
from regress.errors import RegressError

# pytester's in-process runs drop the modules a run imported; torch registers native ops on
# import, so a lazily imported torch submodule imported again in the next run fails.
pytest.importorskip("torch._dynamo")

SUITE = """
[store]
kind = "file"
path = "store"

[defaults]
ssim = 0.99
max_abs = 2
"""

RUNNERS = '''
import os
import numpy as np
import regress
from regress.outputs import Output
from regress.runners import Perf, RunResult


def smooth(shift=0):
    """A gradient that passes the quality gate; ``shift`` moves every code value."""
    ramp = np.linspace(0, 200, 32, dtype=np.float32)
    img = np.stack([np.add.outer(ramp, ramp) / 2, np.tile(ramp, (32, 1)), np.tile(ramp[:, None], (1, 32))], -1)
    return np.clip(img + shift, 0, 255).astype(np.uint8)


class Engine:
    """``mode``: ok | raise-run | raise-build | metric-boom (an output the patched metrics choke on) |
    shift-then-raise (its first run is 20 codes off, every rerun raises)."""

    output_kind = "image"
    default_precision = {"model": "fp32"}

    def __init__(self, name, mode):
        self.name, self.mode, self.runs = name, mode, 0

    def build(self, case, precision, device):
        if self.mode == "raise-build":
            raise MemoryError("cannot allocate 80 GiB")
        return None

    def run(self, pipe, case, device):
        self.runs += 1
        if self.mode == "interrupt":
            raise KeyboardInterrupt
        if self.mode == "raise-run" or (self.mode == "shift-then-raise" and self.runs > 1):
            raise RuntimeError("CUDA out of memory. Tried to allocate 2 GiB\\nsecond line")
        image = smooth(20 if self.mode == "shift-then-raise" and os.environ.get("SHIFT") else 0)
        if self.mode == "metric-boom":
            image[0, 0] = (7, 7, 7)  # the mark the patched compare_outputs raises on
        return RunResult(Output(image=image), {"model": "fp32"}, Perf(wall_s=0.0))


for _name, _mode in (("ok-engine", "ok"), ("run-raises", "raise-run"), ("build-raises", "raise-build"),
                     ("metric-boom", "metric-boom"), ("rerun-raises", "shift-then-raise"), ("interrupt", "interrupt")):
    regress.register_runner(_name, Engine(_name, _mode))


def patch_metrics():
    """SSIM/LPIPS running out of memory, for outputs carrying the mark."""
    import regress.metrics.compare as compare

    real = compare.compare_outputs

    def boom(golden, output, **kw):
        if output.image is not None and tuple(output.image[0, 0]) == (7, 7, 7):
            raise RuntimeError("CUDA out of memory in ssim")
        return real(golden, output, **kw)

    compare.compare_outputs = boom
'''


def _cases(*pairs: tuple[str, str]) -> str:
    return "".join(f'\n[[case]]\nid = "{cid}"\npipeline = "{pipe}"\n' for cid, pipe in pairs)


def _project(root: Path, *pairs: tuple[str, str], conftest: str = "") -> Path:
    """A project whose conftest registers the engines above; returns the suite path."""
    (root / "goldens").mkdir(parents=True, exist_ok=True)
    (root / "engines.py").write_text(RUNNERS)
    (root / "conftest.py").write_text("import sys, os\nsys.path.insert(0, os.path.dirname(__file__))\n"
                                      "sys.modules.pop('engines', None)\nimport engines\n" + conftest)
    suite = root / "goldens" / "suite.toml"
    suite.write_text(SUITE + _cases(*pairs))
    return suite


@pytest.fixture(autouse=True)
def _isolated_registry(monkeypatch: pytest.MonkeyPatch) -> None:
    """Runners and conftests registered by a test are forgotten after it."""
    import regress.project as project
    import regress.runners as registry

    monkeypatch.setattr(registry, "_registered", {})
    monkeypatch.setattr(registry, "_loaded", {})
    monkeypatch.setattr(project, "_loaded", set())


@pytest.fixture
def engines(tmp_path: Path):  # noqa: ANN201
    """The engines registered in this process."""
    import importlib.util

    (tmp_path / "engines_mod.py").write_text(RUNNERS)
    spec = importlib.util.spec_from_file_location("engines_mod", tmp_path / "engines_mod.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _session(suite: Path, **opts):  # noqa: ANN202
    from regress.session import GoldenSession, Options
    from regress.suite import load_suite

    return GoldenSession(load_suite(suite), Options(device="cpu", platform="cpu-avx2", **opts))


def _make_goldens(suite: Path, *ids: str) -> None:
    s = _session(suite, update="missing")
    try:
        for cid in ids:
            assert s.check(s.suite.case(cid)).verdict.status == "written"
        s.publish()
    finally:
        s.close()


# --------------------------------------------------------------------------- 1. one record per case


def test_whatever_raises_while_a_case_is_judged_leaves_one_error_record(tmp_path: Path, engines,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """A runner's build or run, SSIM running out of memory, the golden's read on the prefetch
    thread: each is the case's one `error` record naming what raised, never a missing record."""
    suite = tmp_path / "suite.toml"
    suite.write_text(SUITE + _cases(("run", "run-raises"), ("build", "build-raises"), ("metric", "metric-boom"),
                                    ("read", "ok-engine"), ("ok", "ok-engine")))
    _make_goldens(suite, "metric", "read", "ok")  # a missing golden is not compared: no metric ran yet
    import regress.metrics.compare as compare
    import regress.session as session_mod

    monkeypatch.setattr(compare, "compare_outputs", compare.compare_outputs)  # put back after the test
    engines.patch_metrics()

    real_load = session_mod.load_golden

    def unreadable(store, case_id, platform):  # noqa: ANN001, ANN202
        if case_id == "read":
            raise PermissionError(13, "Permission denied", "store/cases/read/cpu-avx2/output.png")
        return real_load(store, case_id, platform)

    monkeypatch.setattr(session_mod, "load_golden", unreadable)
    s = _session(suite)
    try:
        for cid in ("run", "build", "metric", "read", "ok"):
            s.check(s.suite.case(cid))
        doc = s.results_doc()
    finally:
        s.close()
    by_id = {c["id"]: c for c in doc["cases"]}
    assert sorted(by_id) == ["build", "metric", "ok", "read", "run"] and len(doc["cases"]) == 5
    assert by_id["ok"]["status"] == "passed"
    assert by_id["run"]["reasons"] == ["the runner raised RuntimeError: CUDA out of memory. Tried to allocate 2 GiB"]
    assert by_id["build"]["reasons"] == ["the runner's build raised MemoryError: cannot allocate 80 GiB"]
    assert by_id["metric"]["reasons"] == ["computing the metrics raised RuntimeError: CUDA out of memory in ssim"]
    assert by_id["read"]["reasons"][0].startswith("reading the golden raised PermissionError")
    assert all(by_id[c]["status"] == "error" for c in ("run", "build", "metric", "read"))


def test_a_case_that_raises_after_staging_leaves_nothing_staged(tmp_path: Path, engines,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    suite = tmp_path / "suite.toml"
    suite.write_text(SUITE + _cases(("ok", "ok-engine")))
    s = _session(suite, update="missing")

    def broken_add(run):  # noqa: ANN001, ANN202
        raise OSError("media queue gone")

    monkeypatch.setattr(s.media, "add", broken_add)  # (after the verdict was appended: it is dropped)
    try:
        v = s.check(s.suite.case("ok")).verdict
    finally:
        s.close()
    assert v.status == "error" and "recording the verdict raised OSError" in v.reasons[0]
    assert [x.id for x in s.verdicts] == ["ok"] and s.staged == []


def test_keyboard_interrupt_and_system_exit_still_stop_the_run(tmp_path: Path, engines) -> None:
    import regress.runners as registry

    suite = tmp_path / "suite.toml"
    suite.write_text(SUITE + _cases(("ok", "ok-engine")))
    for stop in (KeyboardInterrupt, SystemExit):
        def run(pipe, case, device, stop=stop):  # noqa: ANN001, ANN202
            raise stop()

        registry.get_runner("ok-engine").run = run
        s = _session(suite)
        try:
            with pytest.raises(stop):
                s.check(s.suite.case("ok"))
        finally:
            s.close()


# --------------------------------------------------------------------------- 3. bisect


def test_a_bisect_rerun_that_raises_is_a_row_and_the_bisection_goes_on(tmp_path: Path, engines,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    from regress.bisect import bisect_failures

    suite = tmp_path / "suite.toml"
    suite.write_text(SUITE + _cases(("r", "rerun-raises"), ("ok", "ok-engine")))
    _make_goldens(suite, "r", "ok")
    import regress.runners as registry

    registry.get_runner("rerun-raises").runs = 0
    monkeypatch.setenv("SHIFT", "1")
    s = _session(suite)
    try:
        for cid in ("r", "ok"):
            s.check(s.suite.case(cid))
        bisect_failures(s)
    finally:
        s.close()
    v = s.verdicts[0]
    assert v.status == "failed" and v.bisect is not None
    assert v.bisect["baseline"]["status"] == "error"
    assert v.bisect["baseline"]["line"].startswith("the rerun raised RuntimeError: CUDA out of memory")


def test_regress_bisect_of_a_raising_runner_is_one_line(tmp_path: Path, capsys) -> None:
    suite = _project(tmp_path, ("r", "run-raises"))
    text = suite.read_text()
    suite.write_text(text.replace("run-raises", "ok-engine"))
    assert main(["refresh", "--suite", str(suite), "--platform", "cpu-avx2", "--device", "cpu"]) == 0
    suite.write_text(text)
    capsys.readouterr()
    rc = main(["bisect", "r", "--suite", str(suite), "--platform", "cpu-avx2", "--device", "cpu"])
    err = capsys.readouterr().err
    assert rc == 1 and err.count("\n") == 1 and "Traceback" not in err
    assert "the rerun raised RuntimeError: CUDA out of memory" in err


def test_regress_bisect_refusals_are_one_line(tmp_path: Path, capsys) -> None:
    suite = _project(tmp_path, ("c", "ok-engine"))
    assert main(["bisect", "c", "--suite", str(suite), "--platform", "cpu-avx2", "--device", "cpu"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "no golden for c" in err


@pytest.mark.parametrize("threads", ["²", "1000000000000000000000000000000", "0", "٣"])
@pytest.mark.parametrize("command", [["env", "--device", "cpu"], ["bisect", "c", "--device", "cpu"]])
def test_a_thread_count_torch_cannot_take_is_one_line(tmp_path: Path, threads, command, monkeypatch,
                                                      capsys) -> None:
    from regress import kernels

    suite = _project(tmp_path, ("c", "ok-engine"))
    monkeypatch.setenv("REGRESS_KERNELS", f"threads={threads}")
    assert main([*command, "--suite", str(suite)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "threads must be a whole number" in err
    with pytest.raises(RegressError):
        kernels.parse(f"threads={threads}")
    assert kernels.parse("threads=8") == {"threads": "8"}


# --------------------------------------------------------------------------- 7. runner loading


@pytest.mark.parametrize(("source", "says"), [
    ("raise RuntimeError('no GPU driver\\nmore')", "RuntimeError: no GPU driver"),
    ("def broken(:\n", "SyntaxError"),
    ("import sys\nsys.exit(0)\n", "sys.exit(0)"),
])
@pytest.mark.parametrize("where", ["--runner", "conftest"])
def test_a_runner_module_that_cannot_load_is_one_line_exit_2(tmp_path: Path, source, says, where,
                                                             monkeypatch, capsys) -> None:
    (tmp_path / "goldens").mkdir()
    (tmp_path / "pytest.ini").write_text("[pytest]\n")
    suite = tmp_path / "goldens" / "suite.toml"
    suite.write_text(SUITE + _cases(("c", "ok-engine")))
    monkeypatch.chdir(tmp_path)
    if where == "--runner":
        names = "bad_" + tmp_path.name  # a module name of its own: no cached import
        (tmp_path / f"{names}.py").write_text(source)
        argv = ["check", "--suite", str(suite), "--runner", f"{names}:Runner"]
    else:
        (tmp_path / "goldens" / "conftest.py").write_text(source)
        argv = ["check", "--suite", str(suite)]
        names = "conftest.py"
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and says in err and names in err and "Traceback" not in err


def test_an_entry_point_or_class_that_raises_is_a_runner_error(monkeypatch: pytest.MonkeyPatch) -> None:
    import regress.runners as registry
    from regress.errors import RunnerError

    class Exploding:
        def __init__(self) -> None:
            raise ValueError("needs a license key")

    monkeypatch.setattr(registry, "_registered", {"x": Exploding})
    monkeypatch.setattr(registry, "_loaded", {})
    with pytest.raises(RunnerError, match=r"runner 'x' .*Exploding\(\): ValueError: needs a license key"):
        registry.get_runner("x")


# --------------------------------------------------------------------------- 6, 8. the CLI tells the truth


def test_ctrl_c_after_a_publish_says_what_was_published(tmp_path: Path, monkeypatch, capsys) -> None:
    import regress.commands.refresh as refresh_cmd

    suite = _project(tmp_path, ("c", "ok-engine"))
    real = refresh_cmd.run

    def publish_then_interrupt(args):  # noqa: ANN001, ANN202
        real(args)
        raise KeyboardInterrupt

    monkeypatch.setattr(refresh_cmd, "run", publish_then_interrupt)
    assert main(["refresh", "--suite", str(suite), "--platform", "cpu-avx2", "--device", "cpu"]) == 130
    err = capsys.readouterr().err
    assert "nothing was published" not in err and "goldens were published before the interrupt" in err
    monkeypatch.setattr(refresh_cmd, "run", lambda args: (_ for _ in ()).throw(KeyboardInterrupt()))
    assert main(["refresh", "--suite", str(suite)]) == 130
    assert "nothing was published" in capsys.readouterr().err


def test_refresh_exit_codes_agree_with_the_docs(tmp_path: Path, capsys) -> None:
    """docs/reference.md: 1 a regression (a failing case), 2 bad input."""
    suite = _project(tmp_path, ("c", "ok-engine"), ("d", "ok-engine"))
    base = ["--suite", str(suite), "--platform", "cpu-avx2", "--device", "cpu"]
    (tmp_path / "empty").mkdir()
    assert main(["refresh", *base[:2], "--staged", str(tmp_path / "empty")]) == 2  # bad input, like a tampered one
    assert main(["refresh", *base, "-k", "c"]) == 0
    suite.write_text(suite.read_text().replace('id = "c"\npipeline = "ok-engine"', 'id = "c"\npipeline = "rerun-raises"'))
    import os

    os.environ["SHIFT"] = "1"
    try:
        capsys.readouterr()
        # c fails against its golden and is not regenerated by --only missing; d's golden is written
        assert main(["refresh", *base, "--only", "missing"]) == 1
    finally:
        del os.environ["SHIFT"]
    err = capsys.readouterr().err
    assert "fail and were not regenerated" in err and "every selected case has an up-to-date golden" not in err


# --------------------------------------------------------------------------- 4, 5, 9. pytest -m golden

PLUGINS_OFF = ("-p", "no:cacheprovider", "-p", "no:hypothesispytest")


def _lock_and_store(root: Path) -> tuple[str, list[str]]:
    lock = root / "goldens" / "goldens.lock"
    return (lock.read_text() if lock.exists() else ""), sorted(str(p) for p in (root / "goldens").rglob("*"))


def test_golden_update_publishes_all_selected_cases_or_nothing(pytester: pytest.Pytester) -> None:
    _project(pytester.path, ("good", "ok-engine"), ("bad", "run-raises"))
    before = _lock_and_store(pytester.path)
    r = pytester.runpytest_inprocess("-m", "golden", *PLUGINS_OFF, "--golden-update=missing",
                                     "--golden-platform=cpu-avx2", "--golden-device=cpu")
    r.assert_outcomes(failed=1, passed=1)
    out = r.stdout.str()
    assert "1 staged golden(s) not written: 1 case(s) did not run, nothing published" in out
    assert _lock_and_store(pytester.path) == before
    # Ctrl-C in the second case: the first one's golden is not published alone either
    (pytester.path / "goldens" / "suite.toml").write_text(SUITE + _cases(("good", "ok-engine"),
                                                                          ("stop", "interrupt"), ("c3", "ok-engine")))
    r = pytester.runpytest_inprocess("-m", "golden", *PLUGINS_OFF, "--golden-update=missing",
                                     "--golden-platform=cpu-avx2", "--golden-device=cpu", no_reraise_ctrlc=True)
    assert "2 selected case(s) did not run (stop, c3)" in r.stdout.str()
    assert _lock_and_store(pytester.path) == before


FIXTURE_TEST = '''
import numpy as np
from engines import smooth

def test_two(golden):
    golden.check(smooth())
    golden.check(smooth()[::-1].copy())

def test_same_name(golden):
    golden.check(smooth(), name="one")
    golden.check(smooth(), name="one")

def test_fails(golden):
    golden.check(smooth(40))
'''


def test_the_golden_fixture_files_each_call_under_its_own_golden(pytester: pytest.Pytester) -> None:
    _project(pytester.path)
    pytester.makepyfile(test_hand=FIXTURE_TEST)
    args = (*PLUGINS_OFF, "--golden-platform=cpu-avx2", "--golden-device=cpu", "-k", "test_two or test_fails")
    pytester.runpytest_inprocess(*args, "--golden-update=missing").assert_outcomes(passed=2)
    cases = pytester.path / "goldens" / "store" / "cases"
    assert {p.name for p in cases.iterdir()} == {"test_hand.test_two", "test_hand.test_two.2", "test_hand.test_fails"}
    pytester.runpytest_inprocess(*args[:-2], "-k", "test_two").assert_outcomes(passed=1)
    r = pytester.runpytest_inprocess(*PLUGINS_OFF, "--golden-platform=cpu-avx2", "-k", "test_same_name",
                                     "--golden-update=missing")
    r.assert_outcomes(failed=1)
    assert "checks two outputs under the golden 'one'" in r.stdout.str()
    # a failing check: its message once, no exception chained to it
    (pytester.path / "test_hand.py").write_text(FIXTURE_TEST.replace("smooth(40)", "smooth(60)"))
    r = pytester.runpytest_inprocess(*args[:-2], "-k", "test_fails")
    r.assert_outcomes(failed=1)
    out = r.stdout.str()
    assert "During handling of the above exception" not in out
    body = [ln for ln in r.stdout.lines if not ln.startswith("FAILED ")]
    assert sum("test_hand.test_fails [cpu-avx2] failed" in ln for ln in body) == 1, out


E2E_CONFTEST = "engines.patch_metrics()\n"


def test_raising_runner_raising_metrics_and_bisect_still_give_every_record_report_and_summary(
        pytester: pytest.Pytester, tmp_path: Path, engines) -> None:
    """The issue's "Done when": one case whose runner raises in run, one whose metrics raise, one
    that fails and whose bisect reruns raise, under --golden-bisect: one record per case in
    results.json, the report and the GitHub summary written, exit code 1."""
    import os
    import subprocess
    import sys

    _project(pytester.path, ("ok", "ok-engine"), ("metric", "metric-boom"), ("shifted", "rerun-raises"),
             conftest=E2E_CONFTEST)
    (pytester.path / "pytest.ini").write_text("[pytest]\n")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(Path(__file__).resolve().parents[1]),
                                                         os.environ.get("PYTHONPATH", "")])}
    base = [sys.executable, "-m", "pytest", "-m", "golden", *PLUGINS_OFF, "--golden-platform=cpu-avx2",
            "--golden-device=cpu", "-q"]
    _make_goldens(pytester.path / "goldens" / "suite.toml", "ok", "metric", "shifted")  # in-process: faster
    suite = pytester.path / "goldens" / "suite.toml"
    suite.write_text(suite.read_text() + _cases(("run", "run-raises")))
    summary, report = tmp_path / "summary.md", tmp_path / "report"
    env.update(GITHUB_ACTIONS="true", GITHUB_STEP_SUMMARY=str(summary), GITHUB_WORKSPACE=str(pytester.path),
               SHIFT="1")
    r = subprocess.run([*base, "--golden-bisect", f"--golden-report={report}"], cwd=pytester.path, env=env,
                       capture_output=True, text=True, timeout=120)
    out = r.stdout + r.stderr
    assert r.returncode == 1, out
    assert "Traceback" not in out and "INTERNALERROR" not in out
    cases = json.loads((report / "results.json").read_text())["cases"]
    assert sorted(c["id"] for c in cases) == ["metric", "ok", "run", "shifted"]
    by_id = {c["id"]: c for c in cases}
    assert by_id["run"]["status"] == "error" and by_id["metric"]["status"] == "error"
    assert "computing the metrics raised RuntimeError" in by_id["metric"]["reasons"][0]
    assert by_id["shifted"]["status"] == "failed" and by_id["shifted"]["bisect"]["baseline"]["status"] == "error"
    assert (report / "index.html").is_file()
    text = summary.read_text()
    assert all(cid in text for cid in ("run", "metric", "shifted"))
