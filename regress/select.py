"""Case selection with pytest's own ``-k`` semantics, so that ``regress shard/refresh/fetch/
calibrate -k EXPR`` select exactly the cases that ``pytest -m golden -k EXPR`` collects.

pytest matches a ``-k`` word, case-insensitively, as a substring of any of an item's keyword
names (``_pytest.mark.KeywordMatcher``). For a suite case those are what the plugin gives its
item: the item's name ``<case id>[<platform key>]``, the suite file's name and the directories
between pytest's rootdir and it, and the item's marks (``golden``, the case's ``marks`` and
``xfail`` where an xfail rule applies to the platform). The expression is parsed and
evaluated by pytest's own parser and matcher; only the name set is built here. pytest keeps
both in private modules, so they are imported in this one place (and checked against a real
``pytest --collect-only`` in tests/test_select.py).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING

from .errors import SuiteError

# The CLI's -k help, for every command that selects cases.
K_HELP = "select the cases `pytest -m golden -k EXPR` collects (pytest's -k: case ids, marks, platform key)"

if TYPE_CHECKING:
    from .suite import Case, Suite


def item_keywords(case: Case, *, platform: str, path_names: Iterable[str]) -> set[str]:
    """The names pytest's ``-k`` matches for the case's test item on ``platform``."""
    names = {*path_names, f"{case.id}[{platform}]", "golden", *case.marks}
    rule = case.rule_for(platform)
    if rule and rule[0] == "xfail":
        names.add("xfail")
    return names


def path_names(suite_path: Path, rootdir: Path | None = None) -> list[str]:
    """The suite file's name and the directories between pytest's rootdir and it (pytest
    leaves the rootdir's own name out of ``-k``)."""
    suite_path = suite_path.resolve()
    root = (rootdir or _rootdir()).resolve()
    try:
        parts = suite_path.relative_to(root).parts
    except ValueError:
        parts = suite_path.parts[-2:]
    return list(parts)


def _rootdir() -> Path:
    """pytest's rootdir for a run started in the current directory (its own rule: the first
    ancestor with pytest configuration)."""
    cwd = Path(os.getcwd())
    try:
        from _pytest.config.findpaths import determine_setup

        root, *_ = determine_setup(inifile=None, override_ini=None, args=[str(cwd)], rootdir_cmd_arg=None,
                                   invocation_dir=cwd)
        return Path(root)
    except Exception:  # another pytest's signature: its documented rule, by hand
        for d in (cwd, *cwd.parents):
            if any((d / n).is_file() for n in ("pytest.ini", ".pytest.ini", "pyproject.toml", "tox.ini",
                                               "setup.cfg")):
                return d
        return cwd


def select(suite: Suite, expr: str | None, *, platform: str | Callable[[], str]) -> list[Case]:
    """The suite's cases that ``pytest -m golden -k expr`` collects on ``platform`` (a key, or
    a function that detects it: called only when there is an expression)."""
    if not expr or not expr.strip():
        return list(suite.cases)
    from _pytest.mark import KeywordMatcher
    from _pytest.mark.expression import Expression

    try:
        compiled = Expression.compile(expr)
    except Exception as exc:  # SyntaxError (pytest 9), ParseError (pytest 8): its message says where
        where = f"at column {exc.offset}: {exc.msg}" if isinstance(exc, SyntaxError) else str(exc)
        raise SuiteError(f"-k {expr!r} is not a pytest -k expression ({where})", file=suite.path) from None
    key = platform() if callable(platform) else platform
    where = path_names(suite.path)
    return [c for c in suite.cases
            if compiled.evaluate(KeywordMatcher(item_keywords(c, platform=key, path_names=where)))]
