"""A new user's first hour, run as they would: `regress init`, the commands regress prints,
a custom engine's runner in conftest.py, a test that only uses the `golden` fixture.

The flows run each command in a fresh process, as typed in a shell, with this checkout first
on PYTHONPATH; each next step is the one regress printed, copied as printed. Checks of one
command's answer call it in-process."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from shell import sh

from regress.cli import main


def printed_command(out: str) -> str:
    """The indented command line `regress init` tells the user to run next."""
    lines = [ln.strip() for ln in out.splitlines() if ln.startswith("    ") and ln.strip()]
    assert len(lines) == 1, out
    return lines[0]


def change_one_value(runner: Path) -> None:
    text = runner.read_text()
    assert text.count("np.sin(6 * x + phase)") == 1
    runner.write_text(text.replace("np.sin(6 * x + phase)", "np.sin(7 * x + phase)"))


def test_init_then_the_printed_command_then_green_then_a_change_fails(tmp_path: Path) -> None:
    init = sh("regress init", tmp_path)  # 1
    assert init.returncode == 0, init.stderr
    command = printed_command(init.stdout)
    assert command == "pytest -m golden --golden-update=missing"
    first = sh(command, tmp_path)  # 2
    assert first.returncode == 0, first.stdout + first.stderr
    assert "2 passed" in first.stdout
    green = sh("pytest -m golden", tmp_path)  # 3
    assert green.returncode == 0, green.stdout + green.stderr
    assert "2 passed" in green.stdout  # the suite's case and the fixture test

    change_one_value(tmp_path / "my_engine_runner.py")
    red = sh("pytest -m golden", tmp_path)
    assert red.returncode == 1, red.stdout
    assert "2 failed" in red.stdout
    assert "my-engine-squirrel [" in red.stdout and "ssim=" in red.stdout


def test_init_never_overwrites(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "conftest.py").write_text("# the team's own\n")
    assert main(["init"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "conftest.py" in err and "nothing was written" in err
    assert (tmp_path / "conftest.py").read_text() == "# the team's own\n"
    assert not (tmp_path / "goldens").exists()


def test_init_family_scaffolds_a_valid_suite(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    from regress.suite import load_suite

    monkeypatch.chdir(tmp_path)
    assert main(["init", "--family", "sd"]) == 0
    suite = load_suite(tmp_path / "goldens" / "suite.toml")
    assert [(c.id, c.pipeline, c.model) for c in suite.cases] == [("sd-tiny", "sd", "tiny")]
    assert not (tmp_path / "conftest.py").exists()
    assert main(["check"]) == 0  # the suite, its runner and the empty store's lock are valid
    assert main(["init", "x", "--family", "nosuch"]) == 2
    assert "--family 'nosuch'" in capsys.readouterr().err


def test_every_printed_next_step_works_as_printed(tmp_path: Path) -> None:
    """The skip reasons of a first run name a command per golden; each, copied as printed,
    makes that golden (a runner from conftest.py for the case; pytest for the fixture test)."""
    assert sh("regress init", tmp_path).returncode == 0
    first = sh("pytest -m golden -rs", tmp_path)
    assert first.returncode == 0 and "2 skipped" in first.stdout
    # Why, without -rs too (it is the terminal summary, not the skip list):
    assert "regress: 2 golden(s) missing" in first.stdout
    assert "make them with: pytest -m golden --golden-update=missing" in first.stdout
    commands = re.findall(r"create it with `([^`]+)`", first.stdout)
    assert commands == ["regress refresh -k my-engine-squirrel",
                        "pytest tests/test_my_engine_golden.py::test_my_engine_output --golden-update=missing"]
    for command in commands:
        r = sh(command, tmp_path)
        assert r.returncode == 0, (command, r.stdout, r.stderr)
    green = sh("pytest -m golden", tmp_path)
    assert green.returncode == 0 and "2 passed" in green.stdout, green.stdout
    # The CLI knows the fixture test's golden: not "unused".
    unused = sh("regress check --unused", tmp_path)
    assert unused.returncode == 0, unused.stdout + unused.stderr
    assert "1 golden fixture test(s)" in unused.stdout and "no unused goldens" in unused.stdout


def test_explicit_runner_option(tmp_path: Path) -> None:
    """Without a conftest.py, `--runner module:object` registers the engine for the CLI."""
    assert sh("regress init", tmp_path).returncode == 0
    (tmp_path / "conftest.py").unlink()
    r = sh("regress refresh --runner my_engine_runner:MyEngineRunner", tmp_path)
    assert r.returncode == 0, r.stderr
    assert "wrote 1 golden(s): my-engine-squirrel" in r.stderr


def test_fixture_without_a_suite_file(tmp_path: Path) -> None:
    """A project with only a fixture test: no suite file, no traceback, no CLI flag to pass."""
    (tmp_path / "test_out.py").write_text(
        "import numpy as np\n\n\ndef test_gradient(golden):\n"
        "    y, x = np.mgrid[0:32, 0:32]\n"
        "    golden.check(np.stack([x * 8, y * 8, (x + y) * 4], axis=-1).astype(np.uint8))\n")
    first = sh("pytest --golden-strict", tmp_path)
    assert "Traceback" not in first.stdout and "--suite" not in first.stdout
    assert first.returncode == 1 and "1 failed" in first.stdout  # a missing golden never passes in CI
    assert "make them with: pytest -m golden --golden-update=missing" in first.stdout
    made = sh("pytest -m golden --golden-update=missing", tmp_path)
    assert made.returncode == 0 and "1 passed" in made.stdout, made.stdout
    assert (tmp_path / "goldens" / "goldens.lock").is_file()
    green = sh("pytest --golden-strict", tmp_path)
    assert green.returncode == 0 and "1 passed" in green.stdout, green.stdout
    (tmp_path / "test_out.py").write_text((tmp_path / "test_out.py").read_text().replace("x * 8", "x * 7"))
    red = sh("pytest", tmp_path)
    assert red.returncode == 1 and "1 failed" in red.stdout


def test_init_says_when_pytest_testpaths_leave_out_the_suite(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                              capsys) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "pyproject.toml").write_text('[tool.pytest.ini_options]\ntestpaths = ["tests"]\n')
    assert main(["init"]) == 0
    assert 'add "goldens" to them' in capsys.readouterr().out
