"""A new user's first hour, run as they would: `regress init`, the commands regress prints,
a custom engine's runner in conftest.py, a test that only uses the `golden` fixture.

Every command runs in a fresh process, as typed in a shell, with this checkout first on
PYTHONPATH; each next step is the one regress printed, copied as printed."""

from __future__ import annotations

import re
from pathlib import Path

from shell import sh


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


def test_init_never_overwrites(tmp_path: Path) -> None:
    (tmp_path / "conftest.py").write_text("# the team's own\n")
    r = sh("regress init", tmp_path)
    assert r.returncode == 2
    assert r.stderr.count("\n") == 1 and "conftest.py" in r.stderr and "nothing was written" in r.stderr
    assert "Traceback" not in r.stderr
    assert (tmp_path / "conftest.py").read_text() == "# the team's own\n"
    assert not (tmp_path / "goldens").exists()


def test_init_family_scaffolds_a_valid_suite(tmp_path: Path) -> None:
    from regress.suite import load_suite

    r = sh("regress init --family sd", tmp_path)
    assert r.returncode == 0, r.stderr
    suite = load_suite(tmp_path / "goldens" / "suite.toml")
    assert [(c.id, c.pipeline, c.model) for c in suite.cases] == [("sd-tiny", "sd", "tiny")]
    assert not (tmp_path / "conftest.py").exists()
    check = sh("regress check", tmp_path)  # the suite, its runner and the empty store's lock are valid
    assert check.returncode == 0, check.stderr
    bad = sh("regress init x --family nosuch", tmp_path)
    assert bad.returncode == 2 and "--family 'nosuch'" in bad.stderr


def test_every_printed_next_step_works_as_printed(tmp_path: Path) -> None:
    """The skip reasons of a first run name a command per golden; each, copied as printed,
    makes that golden (a runner from conftest.py for the case; pytest for the fixture test)."""
    assert sh("regress init", tmp_path).returncode == 0
    first = sh("pytest -m golden", tmp_path)
    assert first.returncode == 0 and "2 skipped" in first.stdout
    # Why, without -rs:
    assert "regress: 2 golden(s) missing" in first.stdout
    assert "make them with: pytest -m golden --golden-update=missing" in first.stdout

    reasons = sh("pytest -m golden -rs", tmp_path).stdout
    commands = re.findall(r"create it with `([^`]+)`", reasons)
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
    assert "no unused goldens" in unused.stdout
    # ... and still finds a golden nothing refers to.
    (tmp_path / "tests" / "test_my_engine_golden.py").rename(tmp_path / "tests" / "old_test.py.txt")
    gone = sh("regress check --unused", tmp_path)
    assert gone.returncode == 1 and "test_my_engine_golden.test_my_engine_output" in gone.stdout


def test_explicit_runner_option(tmp_path: Path) -> None:
    """Without a conftest.py, `--runner module:object` registers the engine for the CLI."""
    assert sh("regress init", tmp_path).returncode == 0
    (tmp_path / "conftest.py").unlink()
    unknown = sh("regress refresh", tmp_path)
    assert unknown.returncode == 1 and "unknown pipeline 'my-engine'" in unknown.stderr
    r = sh("regress refresh --runner my_engine_runner:MyEngineRunner", tmp_path)
    assert r.returncode == 0, r.stderr
    assert "wrote 1 golden(s): my-engine-squirrel" in r.stderr
    bad = sh("regress refresh --runner my_engine_runner", tmp_path)
    assert bad.returncode == 2 and bad.stderr.startswith("regress: --runner 'my_engine_runner': expected module:object")


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
