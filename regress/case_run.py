"""What one checked case leaves: its :class:`CaseRun` (verdict, run, outputs) and, while it is
checked, its :class:`Attempt` (enough to leave a record whatever raises), with the one-line
form of what raised (:func:`raised_line`).

Apart from :mod:`regress.session` because these are records the report, the media writer and
the failure capture read, not the session's running state.
"""

from __future__ import annotations

from dataclasses import dataclass

from .errors import RegressError, redact
from .outputs import Output
from .runners import RunResult
from .staging import UpdateDecision
from .verdict import Verdict

@dataclass
class CaseRun:
    """A case's run plus its judgement, kept for the report."""

    verdict: Verdict
    result: RunResult | None  # None: the case did not run, or a test's own output was judged
    golden_output: Output | None
    judged: Output | None = None  # what was judged, where there is no run result
    update: UpdateDecision | None = None  # what staging decided (the verdict is its record after it)

    @property
    def output(self) -> Output | None:
        return self.judged if self.judged is not None else self.result.output if self.result else None


@dataclass
class Attempt:
    """What is known of the case being checked while it is checked: enough to leave its record
    whatever raises (see :meth:`regress.session.GoldenSession._captured`)."""

    case_id: str
    model: str | None
    started: float
    step: str = "regress"  # what runs now, named in the error line if it raises
    result: RunResult | None = None
    kind: str | None = None  # None: the kind of ``output``, where one is being judged
    output: Output | None = None


def raised_line(step: str, exc: BaseException) -> str:
    """One line for an exception that escaped ``step``: regress's own message, or what raised,
    the exception's type and the first line of its message (its traceback belongs in a log,
    not in results.json), with secrets redacted."""
    if isinstance(exc, RegressError):
        return str(exc)
    first = (str(exc).strip().splitlines() or [""])[0][:300]
    return redact(f"{step} raised {type(exc).__name__}" + (f": {first}" if first else ""))
