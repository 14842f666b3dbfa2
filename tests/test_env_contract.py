"""Every environment variable regress reads is named once, in regress/env.py: no other module
reads the environment by a literal name (os.environ[...], os.environ.get(...), os.getenv(...),
or an env mapping's .get(...) of an upper-case literal)."""

from __future__ import annotations

import ast
from pathlib import Path

import regress.env as env

PACKAGE = Path(env.__file__).resolve().parent


def _literal_reads(tree: ast.AST) -> list[tuple[int, str]]:
    found = []
    for node in ast.walk(tree):
        key = None
        if isinstance(node, ast.Subscript) and "environ" in ast.unparse(node.value):
            key = node.slice
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.args and (
                (node.func.attr == "get" and "env" in ast.unparse(node.func.value).lower())
                or node.func.attr == "getenv"):
            key = node.args[0]
        if isinstance(key, ast.Constant) and isinstance(key.value, str) and key.value.isupper():
            found.append((node.lineno, key.value))
    return found


def test_environment_names_are_declared_in_env_py_only() -> None:
    offenders = []
    for path in sorted(PACKAGE.rglob("*.py")):
        if path.name == "env.py" and path.parent == PACKAGE:
            continue
        for line, name in _literal_reads(ast.parse(path.read_text(encoding="utf-8"))):
            offenders.append(f"{path.relative_to(PACKAGE.parent)}:{line} reads {name}")
    assert offenders == []


def test_each_name_is_declared_once() -> None:
    tree = ast.parse(Path(env.__file__).read_text(encoding="utf-8"))
    names = [t.id for node in tree.body if isinstance(node, ast.Assign) for t in node.targets
             if isinstance(t, ast.Name) and t.id.isupper()]
    assert len(names) == len(set(names)), sorted(n for n in names if names.count(n) > 1)


def test_on_off_variables_read_as_huggingface_hub_reads_them(monkeypatch) -> None:  # noqa: ANN001
    """CI=off (or no, false, 0) meant "on" to regress while huggingface_hub read its variables
    the other way: one rule, huggingface_hub's."""
    from huggingface_hub import constants

    from regress import env

    assert env.TRUE_VALUES == {v.upper() for v in constants.ENV_VARS_TRUE_VALUES}
    for value, on in (("1", True), ("true", True), ("Yes", True), ("ON", True), ("off", False), ("0", False),
                      ("false", False), ("no", False), ("", False), ("2", False)):
        monkeypatch.setenv("CI", value)
        assert env.in_ci() is on, value
