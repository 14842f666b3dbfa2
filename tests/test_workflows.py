"""The GitHub workflows pass actionlint (with shellcheck on run: scripts when installed) and
zizmor's offline audits, and keep the project's rules: actions pinned by full commit sha,
no untrusted input expanded inside run: scripts, least-privilege permissions."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from regress.env import in_ci

REPO = Path(__file__).resolve().parent.parent
WORKFLOWS = REPO / ".github" / "workflows"
FILES = sorted(WORKFLOWS.glob("*.yml"))


def tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        (pytest.fail if in_ci() else pytest.skip)(f"{name} is not installed (pip install -e .[test])")
    return path


def test_the_three_workflows_exist() -> None:
    assert [f.name for f in FILES] == ["ci.yml", "golden-refresh.yml", "golden.yml"]


def test_actionlint_reports_nothing() -> None:
    r = subprocess.run([tool("actionlint"), "-config-file", str(REPO / ".github" / "actionlint.yaml"),
                        *map(str, FILES)], capture_output=True, text=True, cwd=REPO, timeout=120)
    assert r.returncode == 0 and r.stdout.strip() == "", r.stdout + r.stderr


def test_zizmor_offline_reports_nothing() -> None:
    r = subprocess.run([tool("zizmor"), "--offline", "--no-progress", str(WORKFLOWS)], capture_output=True,
                       text=True, cwd=REPO, timeout=120)
    assert r.returncode == 0 and "No findings" in r.stdout, r.stdout + r.stderr


def test_actions_are_pinned_by_full_sha() -> None:
    for f in FILES:
        for ref in re.findall(r"uses:\s*(\S+)", f.read_text()):
            assert re.fullmatch(r"[\w.-]+/[\w.-]+(/[\w./-]+)?@[0-9a-f]{40}", ref), f"{f.name}: {ref}"


def test_no_expression_inside_run_scripts() -> None:
    """Inputs, refs and titles reach scripts through env:, never by ${{ }} substitution."""
    for f in FILES:
        lines = f.read_text().splitlines()
        in_run, indent = False, 0
        for line in lines:
            stripped = line.lstrip()
            if in_run and stripped and len(line) - len(stripped) <= indent:
                in_run = False
            if re.match(r"-?\s*run:", stripped):
                in_run, indent = True, len(line) - len(stripped)
                assert "${{" not in stripped, f"{f.name}: {line}"
                continue
            if in_run:
                assert "${{" not in line, f"{f.name}: {line}"


def test_workflows_declare_least_privilege() -> None:
    for f in FILES:
        text = f.read_text()
        top = re.search(r"^permissions:(.*)$", text, re.M)
        assert top, f"{f.name}: no top-level permissions"
        assert "write" not in top.group(1)
        writes = re.findall(r"^\s+(\S+): write$", text, re.M)
        if f.name == "golden-refresh.yml":
            assert sorted(writes) == ["contents", "pull-requests"]  # the publish job only
        else:
            assert writes == []
