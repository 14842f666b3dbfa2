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
