"""The ``golden`` fixture: any output of a hand-written test checked against a golden.

Its own module (the plugin imports the fixture into its namespace, where pytest finds it)
because the fixture has rules of its own: the name each call files its golden under, the
refusal of two outputs under one golden, and the command a missing golden's message names.
"""

from __future__ import annotations

import shlex
from typing import Any

import pytest

from .errors import RegressError
from .naming import fixture_case_id, nth_call_id
from .outcome import conclude, judged
from .suite_sessions import fixture_session


class GoldenCheck:
    """What the ``golden`` fixture hands a test: ``golden.check(output)``.

    The output is judged exactly like a suite case's (same store, platform fallback,
    thresholds, update modes and report), filed under a case id derived from the test's
    name unless ``name`` is given. Each call of one test has a golden of its own: the first
    unnamed call files under the test's id (so goldens made before keep matching), the
    second and later ones under ``<id>.2``, ``<id>.3``...; a ``name`` given twice in one test
    is refused (two outputs under one golden: under ``--golden-update`` the second would
    silently replace the first).
    """

    def __init__(self, request: pytest.FixtureRequest) -> None:
        self.request = request
        self._unnamed = 0
        self._used: set[str] = set()

    def default_name(self) -> str:
        return fixture_case_id(self.request.node)

    def _case_id(self, name: str | None) -> str:
        """The id this call files its golden under (see the class docstring)."""
        if name is not None:
            return name
        self._unnamed += 1
        return nth_call_id(self.default_name(), self._unnamed)

    def check(self, output: Any, *, name: str | None = None, thresholds: dict[str, float] | None = None,
              fingerprint: dict[str, str] | None = None) -> Any:
        """Compare ``output`` (an :class:`~regress.outputs.Output`, a uint8 HxWx3 array, or a mesh
        as a ``(vertices, faces)`` pair: float32 Vx3, int32/int64 Fx3) with its golden; fails the
        test with the verdict's message, skips when the golden is missing and the run is not
        strict. Returns the verdict."""
        import numpy as np

        from .errors import OutputError
        from .outputs import Output
        from .suite import CASE_ID_RE

        try:
            if isinstance(output, np.ndarray):
                output = Output(image=output)
            elif isinstance(output, tuple) and len(output) == 2:
                output = Output(vertices=output[0], faces=output[1])
        except OutputError as exc:  # one line, naming what was wrong with the array
            pytest.fail(f"golden fixture: {exc}", pytrace=False)
        case_id = self._case_id(name)
        if not CASE_ID_RE.match(case_id):
            pytest.fail(f"golden fixture: golden name {case_id!r} must be letters, digits, '.', '_' or '-'",
                        pytrace=False)
        if case_id in self._used:
            pytest.fail(f"golden fixture: {self.request.node.nodeid} checks two outputs under the golden "
                        f"{case_id!r}: give each golden.check(...) call its own name=", pytrace=False)
        self._used.add(case_id)
        session, problem = self._session()
        if problem:  # failed outside the except block: one message, no "During handling of ..." chain
            pytest.fail(f"golden fixture: {problem}", pytrace=False)
        make = f"pytest {shlex.quote(self.request.node.nodeid)} --golden-update=missing"
        v = session.judge_output(case_id=case_id, output=output, thresholds=thresholds, fingerprint=fingerprint,
                                 create_with=make).verdict
        judged(self.request.node).append((session, v))
        if v.failed:
            pytest.fail(v.message(), pytrace=False)
        conclude(v)
        return v

    def _session(self) -> tuple[Any, str | None]:
        """(the session of the suite this test's goldens belong to, None), or (None, why not)."""
        try:
            return fixture_session(self.request.config), None
        except RegressError as exc:
            return None, str(exc)


@pytest.fixture
def golden(request: pytest.FixtureRequest) -> GoldenCheck:
    """Check any output of a hand-written test against a golden: ``golden.check(output)``."""
    return GoldenCheck(request)
