"""Suite edits in tests as data: parse, change, write back with a TOML writer (tomli_w), so
that an edit cannot silently miss (a `str.replace` whose pattern moved changes nothing)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import tomli_w

from regress.suite import tomllib


def edit_suite(path: Path, change: Callable[[dict[str, Any]], object]) -> Path:
    data = tomllib.loads(path.read_text(encoding="utf-8"))
    change(data)
    path.write_text(tomli_w.dumps(data), encoding="utf-8")
    return path


def case_table(data: dict[str, Any], case_id: str) -> dict[str, Any]:
    """The ``[[case]]`` table with this id (KeyError naming it when there is none)."""
    for c in data.get("case", []):
        if c["id"] == case_id:
            return c
    raise KeyError(f"no case {case_id!r} in the suite")


def merge(data: dict[str, Any], text: str) -> None:
    """Add a TOML fragment: its cases are appended, its tables merged in."""
    for key, value in tomllib.loads(text).items():
        if key == "case":
            data.setdefault("case", []).extend(value)
        elif isinstance(value, dict):
            data.setdefault(key, {}).update(value)
        else:
            data[key] = value
