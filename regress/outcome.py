"""From a verdict to pytest's outcome of a test, and back when pytest says ``xfailed``.

Shared by the suite's items and the ``golden`` fixture: both judge through the session, both
turn the verdict into a pass, a failure or a skip the same way, and both leave a note on the
item so that a judgement pytest later reports as ``xfailed`` is recorded as one (results.json,
``report merge`` and the GitHub summary then agree with pytest's count).
"""

from __future__ import annotations

from typing import Any

import pytest

_JUDGED = pytest.StashKey[list]()


class GoldenFailure(Exception):
    """A case failed its golden check; the message is the whole story."""


def judged(item: pytest.Item) -> list:
    """(session, verdict) of each judgement made during a test item (a suite case, or each
    ``golden.check`` of a hand-written test): pytest's own outcome of the item may still
    turn them into ``xfailed`` (see :func:`record_xfails`)."""
    return item.stash.setdefault(_JUDGED, [])


def conclude(v: Any) -> None:
    """Turn a verdict into the test's outcome: a failure fails (regress.status decides what
    is one), a missing golden outside strict runs skips."""
    from .status import Status

    if v.failed:
        raise GoldenFailure(v.message())
    if v.status == Status.MISSING:
        pytest.skip(v.message())


def record_xfails(item: pytest.Item, rep: pytest.TestReport) -> None:
    """A failing judgement of a test that pytest reports as xfailed (a suite ``xfail`` rule,
    an ``xfail`` mark, however it was added) is recorded as ``xfailed``."""
    if rep.when == "call" and rep.skipped and hasattr(rep, "wasxfail"):
        for gs, v in item.stash.get(_JUDGED, []):
            gs.record_xfail(v, rep.wasxfail)
