"""Which tests use the ``golden`` fixture, and the case id each files its golden under.

Its own module because two sides need the same answer: the fixture when it files a golden,
and the CLI (``regress check --unused``, through :mod:`regress.project`) when it asks which
goldens a project's tests still use. Neither may import the pytest plugin for it. No pytest
import: a collected item is read by its attributes.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

FIXTURE = "golden"  # the fixture's name, as tests request it
_NOT_IN_A_CASE_ID = re.compile(r"[^A-Za-z0-9._-]+")
MAX_ID = 128  # a case id's longest (regress.suite.CASE_ID_RE)


def fixture_case_id(node: Any) -> str:
    """The case id a ``golden.check`` files its golden under when given no ``name``:
    ``<module stem>.<test name>``, reduced to the characters a case id allows. Also how the
    CLI (``regress check --unused``) knows a fixture test's golden."""
    raw = f"{Path(str(node.path)).stem}.{node.name}"
    return _NOT_IN_A_CASE_ID.sub("-", raw).strip("-.")[:MAX_ID]


def nth_call_id(base: str, n: int) -> str:
    """The id of a test's ``n``-th unnamed ``golden.check`` (1-based): the first keeps the
    test's id (goldens made before a second call was added keep matching), later ones get
    ``.2``, ``.3``... within the id's length."""
    if n == 1:
        return base
    suffix = f".{n}"
    return base[:MAX_ID - len(suffix)] + suffix


def uses_golden_fixture(item: Any) -> bool:
    """Whether a test requests the plugin's ``golden`` fixture (not merely an argument of
    that name, e.g. a parametrized one)."""
    if FIXTURE not in getattr(item, "fixturenames", ()):
        return False
    callspec = getattr(item, "callspec", None)
    return callspec is None or FIXTURE not in callspec.params
