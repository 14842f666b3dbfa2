"""The plugin's options from the ini file too, and the plugin's shape after its split.

A project sets its defaults (``golden_suite``, ``golden_strict``, ``golden_report``...) in
``[tool.pytest.ini_options]`` or pytest.ini, as pytest-mpl's options are set; the command line
wins. Most tests read the one record every hook reads (:class:`regress.plugin_options.PluginChoices`)
from inside a pytester run, which judges nothing and stays fast; one runs a missing golden end
to end.
"""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
PACKAGE = REPO / "regress"

SHOW = r'''
import json

def test_show(request):
    from regress.suite_sessions import choices
    c = choices(request.config)
    print("\nCHOICES" + json.dumps({k: (str(v) if v is not None else None) for k, v in vars(c).items()}))
'''


def _choices(pytester: pytest.Pytester, *args: str) -> dict:
    pytester.makepyfile(test_show=SHOW)
    r = pytester.runpytest_inprocess("test_show.py", "-s", "-p", "no:cacheprovider", *args)
    r.assert_outcomes(passed=1)
    line = next(x for x in r.outlines if x.startswith("CHOICES"))
    return json.loads(line[len("CHOICES"):])


def test_ini_values_are_used_and_the_command_line_wins(pytester: pytest.Pytester,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CI", raising=False)
    pytester.makeini("""
        [pytest]
        golden_suite = conf/suite.toml
        golden_strict = true
        golden_report = out/report
        golden_platform = cpu-sve
        golden_device = cpu
        golden_publish = git
        golden_create_pr = true
    """)
    root = pytester.path
    c = _choices(pytester)
    assert c["suite"] == str(root / "conf" / "suite.toml") and c["suite_given"] == "True"
    assert c["suite_arg"] is None  # the hint for missing goldens needs no --golden-suite then
    assert (c["strict"], c["report_dir"], c["platform"], c["device"], c["publish"], c["create_pr"]) == (
        "True", str(root / "out" / "report"), "cpu-sve", "cpu", "git", "True")

    (root / "sub").mkdir()
    c = _choices(pytester, "--golden-suite=other.toml", "--golden-report=cli-report", "--golden-platform=cpu-avx2",
                 "--golden-device=meta", "--golden-publish=hub", "-o", "golden_strict=false")
    assert c["suite"] == str(root / "other.toml") and c["suite_arg"] == "other.toml"
    assert (c["strict"], c["report_dir"], c["platform"], c["device"], c["publish"]) == (
        "False", str(root / "cli-report"), "cpu-avx2", "meta", "hub")


def test_ini_paths_are_relative_to_the_ini_file(pytester: pytest.Pytester) -> None:
    """As pytest's own path keys are: running from a subdirectory finds the same suite."""
    pytester.makepyprojecttoml("""
        [tool.pytest.ini_options]
        golden_suite = "goldens/custom.toml"
        golden_report = "reports"
    """)
    sub = pytester.mkdir("tests")
    pytester.makepyfile(**{"tests/test_show": SHOW})
    os.chdir(sub)
    r = pytester.runpytest_inprocess("test_show.py", "-s", "-p", "no:cacheprovider")
    r.assert_outcomes(passed=1)
    c = json.loads(next(x for x in r.outlines if x.startswith("CHOICES"))[len("CHOICES"):])
    assert c["suite"] == str(pytester.path / "goldens" / "custom.toml")
    assert c["report_dir"] == str(pytester.path / "reports")


def test_without_ini_or_flags_the_defaults_hold(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CI", "true")
    c = _choices(pytester)
    assert c["suite"] == str(pytester.path / "goldens" / "suite.toml") and c["suite_given"] == "False"
    assert (c["strict"], c["report_dir"], c["platform"], c["publish"], c["create_pr"]) == (
        "True", None, None, None, "False")  # strict by default under CI, as before


@pytest.mark.parametrize("line, says", [
    ("golden_strict = maybe", "golden_strict: invalid truth value 'maybe'"),
    ("golden_publish = svn", "golden_publish: 'svn' is not one of hub, git"),
    ("golden_platform = not a key", "golden_platform: 'not a key' is not a platform key"),
])
def test_a_bad_ini_value_is_one_line_naming_file_and_key(pytester: pytest.Pytester, line: str, says: str) -> None:
    ini = pytester.makeini(f"[pytest]\n{line}\n")
    pytester.makepyfile(test_x="def test_x():\n    pass\n")
    r = pytester.runpytest_inprocess("-p", "no:cacheprovider")
    assert r.ret == pytest.ExitCode.USAGE_ERROR
    err = r.stderr.str()
    assert f"{ini}: {says}" in err and "Traceback" not in err


def test_a_native_toml_value_of_the_wrong_type_is_one_line(pytester: pytest.Pytester) -> None:
    """pytest 9's ``[tool.pytest]`` table is typed: pytest's own check, in regress's one line."""
    toml = pytester.makepyprojecttoml('[tool.pytest]\ngolden_strict = "yes"\n')
    pytester.makepyfile(test_x="def test_x():\n    pass\n")
    r = pytester.runpytest_inprocess("-p", "no:cacheprovider")
    assert r.ret == pytest.ExitCode.USAGE_ERROR
    assert f"{toml}: golden_strict: config option 'golden_strict' expects a bool, got str: 'yes'" in r.stderr.str()


def test_a_strict_ini_fails_a_missing_golden(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    """End to end through the ``golden`` fixture: the ini's strictness, platform and report
    directory are what the session judges and writes with (one run: a second in-process run
    would load torch's extensions twice; ``-o`` overriding the ini is shown above)."""
    monkeypatch.delenv("CI", raising=False)
    pytester.makeini("[pytest]\ngolden_strict = true\ngolden_platform = cpu-sve\ngolden_report = rep\n")
    pytester.makepyfile(test_img="import numpy as np\n\ndef test_img(golden):\n"
                                 "    golden.check(np.zeros((8, 8, 3), np.uint8))\n")
    r = pytester.runpytest_inprocess("-p", "no:cacheprovider")
    r.assert_outcomes(failed=1)
    assert "make them with: pytest -m golden --golden-update=missing" in r.stdout.str()
    case = json.loads((pytester.path / "rep" / "results.json").read_text())["cases"][0]
    assert (case["id"], case["platform"], case["status"]) == ("test_img.test_img", "cpu-sve", "missing")


def test_the_plugin_holds_only_hooks_and_nothing_imports_it() -> None:
    """plugin.py is the pytest entry point and nothing else: each piece it used to hold is a
    module of its own, none over 300 lines, and no regress module imports the plugin (the CLI
    reads fixture names from regress.naming)."""
    plugin = ast.parse((PACKAGE / "plugin.py").read_text(encoding="utf-8"))
    defined = [n.name for n in plugin.body if isinstance(n, (ast.FunctionDef, ast.ClassDef))]
    assert defined and all(name.startswith("pytest_") for name in defined), defined
    for name in ("plugin", "plugin_options", "suite_sessions", "items", "outcome", "fixture", "naming",
                 "session_end", "terminal_summary"):
        lines = (PACKAGE / f"{name}.py").read_text(encoding="utf-8").count("\n")
        assert lines <= 300, (name, lines)
    for path in PACKAGE.rglob("*.py"):
        if path.name == "plugin.py":
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom):
                names = {node.module or ""} | {f"{node.module or ''}.{a.name}".lstrip(".") for a in node.names}
                assert not any(n.split(".")[-1] == "plugin" and "pytest" not in n for n in names), path
            elif isinstance(node, ast.Import):
                assert not any(a.name == "regress.plugin" for a in node.names), path


def test_the_entry_point_alone_registers_the_fixture_and_options(tmp_path: Path) -> None:
    """``PYTEST_DISABLE_PLUGIN_AUTOLOAD=1 pytest -p regress.plugin`` (what golden.yml runs) still
    knows the ``golden`` fixture and the ini keys."""
    env = {**os.environ, "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1", "PYTHONPATH": str(REPO)}
    out = subprocess.run([sys.executable, "-m", "pytest", "-p", "regress.plugin", "-p", "no:cacheprovider",
                          "--fixtures", "--help"], cwd=tmp_path, env=env, capture_output=True, text=True,
                         timeout=60)
    assert out.returncode == 0, out.stderr
    for word in ("golden_suite", "golden_strict", "golden_report", "golden_platform", "golden_device",
                 "golden_publish", "golden_create_pr", "--golden-suite=PATH"):
        assert word in out.stdout, word
    fixtures = subprocess.run([sys.executable, "-m", "pytest", "-p", "regress.plugin", "-p", "no:cacheprovider",
                               "--fixtures"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60)
    assert "\ngolden -- " in fixtures.stdout, fixtures.stdout[-2000:]
