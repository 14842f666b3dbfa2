"""The CLI's manners: exit codes, progress, tables in logs, n/a with its reason, run counts,
shards, merge targets, annotation lines and native noise. On a project `regress init` made
(a numpy engine, so nothing here builds a pipeline), the CLI called in-process."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from regress.cli import main
from regress.commands.init import scaffold

REPO = Path(__file__).resolve().parent.parent

SECOND_CASE = """
[[case]]
id = "my-engine-boat"
pipeline = "my-engine"
prompt = "a paper boat"
seed = 1
height = 32
width = 32
"""


@pytest.fixture
def toy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A scaffolded project with two cases and their goldens, as the working directory."""
    for path, text in scaffold(tmp_path).items():
        path.parent.mkdir(parents=True, exist_ok=True)
        if path.name == "suite.toml":
            text += SECOND_CASE
        path.write_text(text)
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("CI", raising=False)
    monkeypatch.delenv("GITHUB_ACTIONS", raising=False)
    assert main(["refresh"]) == 0
    return tmp_path


@pytest.mark.parametrize("argv", [["refresh", "-k", "none"], ["calibrate", "-k", "none"],
                                  ["calibrate", "--drift", "-k", "none"], ["shard", "1", "-k", "none"],
                                  ["sweep", "none"], ["bisect", "none"], ["check", "--suite", "nope.toml"]])
def test_nothing_selected_is_a_usage_error_in_every_command(toy: Path, argv: list[str], capsys) -> None:
    """The README's contract: 2 for bad input or usage (nothing selected included), one line."""
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("regress: ") and "Traceback" not in err


def test_calibrate_prints_the_run_count_asked_for(toy: Path, capsys) -> None:
    assert main(["calibrate", "--runs", "2", "-k", "squirrel"]) == 0
    out = capsys.readouterr().out
    assert "my-engine-squirrel [" in out and "]: 2 run(s) + " in out


def test_shard_prints_no_empty_shard(toy: Path, capsys) -> None:
    assert main(["shard", "20"]) == 2
    assert "at most one shard per case" in capsys.readouterr().err
    assert main(["shard", "2"]) == 0
    out = capsys.readouterr().out
    assert out.count("1 case(s)") == 2 and "0 case(s)" not in out


def test_report_merge_into_one_of_its_inputs_is_refused(tmp_path: Path, capsys) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir()
    b.mkdir()
    (a / "results.json").write_text("{}")
    assert main(["report", "merge", str(a), str(b), "-o", str(a / ".")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "is one of the input directories" in err
    assert (a / "results.json").read_text() == "{}"


def test_sweep_in_a_log_is_markdown_with_progress_and_says_why_lpips_is_na(toy: Path, capsys,
                                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("REGRESS_LPIPS_WEIGHTS", raising=False)
    monkeypatch.setenv("TORCH_HOME", str(toy / "no-torch-home"))
    assert main(["sweep", "my-engine-squirrel", "--repeats", "1"]) == 0
    captured = capsys.readouterr()
    lines = captured.out.splitlines()
    assert lines[2].startswith("| assignment | fingerprint | SSIM |") and lines[3].startswith("|---|")
    assert "| n/a |" in captured.out
    assert "n/a: LPIPS unavailable: no AlexNet backbone weights; set REGRESS_LPIPS_WEIGHTS=" in captured.out
    assert "sweep my-engine-squirrel [1/2] all fp32" in captured.err  # one line per step in a log
    assert "sweep my-engine-squirrel [2/2] model=bf16" in captured.err


def test_annotations_start_their_own_line_under_q(toy: Path, pytester: pytest.Pytester,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    runner = toy / "my_engine_runner.py"
    runner.write_text(runner.read_text().replace("np.sin(6 * x + phase)", "np.sin(7 * x + phase)"))
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    monkeypatch.delenv("GITHUB_STEP_SUMMARY", raising=False)
    result = pytester.runpytest_subprocess("-q", "-m", "golden", "-p", "no:cacheprovider", "--rootdir", str(toy),
                                           str(toy))
    text = result.stdout.str()
    assert result.ret == 1
    assert text.count("::error ") == 2, text  # the two cases (the fixture test has no golden: skipped)
    for line in text.splitlines():
        assert "::error" not in line or line.startswith("::error "), line


def test_native_noise_is_filtered_and_the_rest_passes(capfd) -> None:
    from regress.quiet import native_stderr_filtered

    with native_stderr_filtered():
        os.write(2, b"USDT:2026-11-26 14:48:33 3636:3636 SyncActivityProfilerHandler.cpp:39] profiler_start\n"
                    b"ERROR:2026-11-26 14:48:33 3636:3636 DeviceProperties.cpp:56] gpuGetDeviceCount failed with "
                    b"code 35\nsomething real\n")
    assert capfd.readouterr().err == "something real\n"


def test_profiler_noise_never_reaches_the_terminal() -> None:
    """A tiny case run with output capture off (-s): Kineto's lines from the memory profiler's
    start and stop (regress/quiet.py) are not on the terminal."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    r = subprocess.run([sys.executable, "-m", "pytest", "goldens/suite.toml", "-k", "sd-tiny", "-s", "-q",
                        "-p", "no:cacheprovider", "--golden-device=cpu"], cwd=REPO, env=env,
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    both = r.stdout + r.stderr
    assert "1 passed" in both
    assert "USDT" not in both and "gpuGetDeviceCount" not in both and "profiler_start" not in both


def test_refresh_of_a_fixture_golden_names_the_command_that_makes_it(toy: Path, capsys) -> None:
    """`-k` naming a test that uses the `golden` fixture: the CLI knows it (it collects the
    project as pytest does) and says the pytest command that refreshes it."""
    assert main(["refresh", "-k", "test_my_engine_output"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "`pytest tests/test_my_engine_golden.py::test_my_engine_output --golden-update=all`" in err


def test_check_unused_knows_fixture_goldens_and_still_flags_orphans(toy: Path, pytester: pytest.Pytester,
                                                                     capsys) -> None:
    """A golden of a test that uses the `golden` fixture is used while the test exists."""
    os.chdir(toy)  # pytester's own set-up moved the working directory
    r = pytester.runpytest_subprocess("-m", "golden", "--golden-update=missing", "-p", "no:cacheprovider",
                                      "--rootdir", str(toy), str(toy))
    r.assert_outcomes(passed=3)
    capsys.readouterr()
    assert main(["check", "--unused"]) == 0
    assert "no unused goldens" in capsys.readouterr().out
    (toy / "tests" / "test_my_engine_golden.py").rename(toy / "tests" / "old_test.py.txt")
    assert main(["check", "--unused"]) == 1
    assert "test_my_engine_golden.test_my_engine_output" in capsys.readouterr().out


def test_a_runner_option_that_is_not_module_object_is_one_line(toy: Path, capsys) -> None:
    assert main(["refresh", "--runner", "my_engine_runner"]) == 2
    assert capsys.readouterr().err == ("regress: --runner 'my_engine_runner': expected module:object, "
                                       "e.g. my_runner:MyRunner\n")


def test_check_unused_refuses_to_guess_when_the_tests_do_not_collect(toy: Path, capsys) -> None:
    (toy / "tests" / "test_broken.py").write_text("import no_such_module_anywhere\n")
    assert main(["check", "--unused"]) == 2
    assert "collecting the project's tests failed" in capsys.readouterr().err
