"""The README, executed: every snippet and command in it (all but the install) runs as
written, in a fresh process. Its engine snippets make a project whose goldens pass, then
fail after a one-value change to the engine's output; its refresh moves the lock.

Every ```bash block carries a tag on the line before it: `install` (not run here), `repo`
(run in a copy of this repository's suite), `engine` (run in the project the README's file
snippets make). A file snippet is a block whose first line is `# <path>`."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from shell import REPO, sh

README = (REPO / "README.md").read_text(encoding="utf-8")
BLOCK = re.compile(r"(?:<!-- readme-test: (?P<tag>[a-z]+) -->\n(?:[ ]*\n)?)?(?P<indent>[ ]*)```(?P<lang>[a-z]*)\n"
                   r"(?P<body>.*?)\n(?P=indent)```", re.S)
PIP = re.compile(r"^python3 -m pip install [^&]*&& ")


def blocks() -> list[dict[str, str]]:
    out = []
    for m in BLOCK.finditer(README):
        body = "\n".join(line[len(m["indent"]):] for line in m["body"].splitlines())
        out.append({"tag": m["tag"] or "", "lang": m["lang"], "body": body})
    return out


def commands(tag: str) -> list[str]:
    return [line for b in blocks() if b["lang"] == "bash" and b["tag"] == tag
            for line in b["body"].splitlines() if line.strip() and not line.startswith("#")]


def snippets() -> dict[str, str]:
    """path -> text of every file snippet."""
    files = {}
    for b in blocks():
        first, _, rest = b["body"].partition("\n")
        if b["lang"] in ("toml", "python") and re.fullmatch(r"# [\w./-]+\.(toml|py)", first):
            files[first[2:]] = rest
    return files


def test_readme_is_short_every_bash_block_is_tagged_and_internals_are_in_docs() -> None:
    assert len(README.splitlines()) < 200
    tags = [b["tag"] for b in blocks() if b["lang"] == "bash"]
    assert tags and all(t in ("install", "repo", "engine") for t in tags), tags
    for doc in ("architecture", "metrics", "stores", "platform-identity"):
        assert (REPO / "docs" / f"{doc}.md").is_file()
    assert set(snippets()) == {"goldens/suite.toml", "my_engine.py", "conftest.py", "test_my_engine.py"}
    assert "`regress lpips {show,pin} [FILE]`" in (REPO / "docs" / "reference.md").read_text()


def test_ci_runs_the_readme_test_command() -> None:
    """.ci/run runs the README's second command, character for character."""
    second = [c for c in commands("repo") if "pytest tests" in c]
    assert len(second) == 1
    ci = (REPO / ".ci" / "run").read_text().splitlines()
    assert second[0] in ci


def test_the_engine_snippets_pass_then_fail_after_a_one_value_change_and_refresh_moves_the_lock(
        tmp_path: Path) -> None:
    for rel, text in snippets().items():
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text(text + "\n")
    make, check = commands("engine")[:2]
    assert sh(make, tmp_path).returncode == 0
    green = sh(check, tmp_path)
    assert green.returncode == 0 and "2 passed" in green.stdout, green.stdout + green.stderr
    assert sh("git init -q && git add -A && git -c user.name=t -c user.email=t@t commit -qm goldens",
              tmp_path).returncode == 0

    engine = tmp_path / "my_engine.py"
    assert engine.read_text().count("x * 8") == 1
    engine.write_text(engine.read_text().replace("x * 8", "x * 7"))
    red = sh(check, tmp_path)
    assert red.returncode == 1 and "2 failed" in red.stdout, red.stdout

    refresh, diff = commands("engine")[2:]
    r = sh(refresh, tmp_path)
    assert r.returncode == 0, r.stderr
    d = sh(diff, tmp_path)
    assert d.returncode == 0
    changed = [line for line in d.stdout.splitlines() if line[:1] in "+-" and line[:3] not in ("+++", "---")]
    assert [line[:11] for line in changed] == ["-revision =", "+revision ="], d.stdout


@pytest.mark.slow
def test_the_repo_commands_run_as_written(tmp_path: Path) -> None:
    """The first-run and what-now commands, on a copy of the embedded suite (they write goldens
    and a report); the tests command is .ci/run's (above). Install steps are stripped."""
    shutil.copytree(REPO / "goldens", tmp_path / "goldens")
    for command in commands("repo"):
        if "pytest tests" in command:
            continue
        command = PIP.sub("", command)
        r = sh(command, tmp_path, timeout=900)
        assert r.returncode == 0, (command, r.stdout[-3000:], r.stderr[-3000:])
        if command.startswith("regress bisect"):
            assert "vae" in r.stdout
    assert (tmp_path / "golden-report" / "index.html").is_file()
