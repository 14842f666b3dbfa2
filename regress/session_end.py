"""The end of a golden pytest run: bisect, publish, references, report, GitHub output.

Each step is guarded on its own (:func:`_step`): one that fails says so in one line and fails
the run, and the others still happen (a bisection that raises must not lose the report, a
report that cannot be written must not lose the published goldens' message).
"""

from __future__ import annotations

import sys
from typing import Any, Callable

import pytest

from .errors import RegressError
from .suite_sessions import choices, sessions


def finish(session: pytest.Session) -> None:
    """Every end-of-run step, in order, for each suite of the run (``pytest_sessionfinish``)."""
    from . import workers

    opened = sessions(session.config)
    tr = session.config.pluginmanager.get_plugin("terminalreporter")
    worker = workers.worker_id(session.config)
    if tr and opened:
        _end_progress_line(tr)
    docs: list = []
    if opened and choices(session.config).bisect:
        from .bisect import bisect_failures

        for gs in opened.values():
            _step(session, tr, "bisecting the failed cases", lambda gs=gs: bisect_failures(gs))
    for gs in opened.values():
        _step(session, tr, "publishing goldens", lambda gs=gs: _publish(gs, tr, session), nothing_changed=True)
        _step(session, tr, "publishing references", lambda gs=gs: _publish_references(gs, tr), nothing_changed=True)
        for msg in gs.gate_refusals:
            if tr:
                tr.write_line(f"regress: {msg}", yellow=True)
        if gs.options.report_dir is None and worker is None and not gs.verdicts:
            continue
        doc = _step(session, tr, "writing the report", lambda gs=gs: _results_doc(gs, tr, session))
        if doc is None:
            continue
        if gs.options.report_dir is not None:
            path = _step(session, tr, "writing the report", lambda gs=gs, doc=doc: _write_report(gs, doc))
            if path is not None and tr and not worker:
                tr.write_line(f"regress: report written to {path}")
        docs.append(doc)
        if worker is None:
            from .report.github import emit

            _step(session, tr, "writing the GitHub annotations and job summary",
                  lambda doc=doc: emit(doc, write=tr.write_line if tr else print))
    for gs in opened.values():
        _step(session, tr, "closing the session", gs.close)
    if worker is not None:
        _step(session, tr, "handing the results to the controller", lambda: workers.hand_over(session.config, docs))


def _fail_run(session: pytest.Session) -> None:
    if session.exitstatus == pytest.ExitCode.OK:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def _step(session: pytest.Session, tr: Any, what: str, fn: Callable[[], Any], *,
          nothing_changed: bool = False) -> Any:
    """Run one end-of-session step; what it raises (KeyboardInterrupt and SystemExit aside) is
    one red line and a failed run, never the loss of the steps after it. Returns ``fn()``, or
    None when it raised."""
    from .session import raised_line

    try:
        return fn()
    except Exception as exc:  # noqa: BLE001 - see the docstring
        kept = ", nothing changed" if nothing_changed and isinstance(exc, RegressError) else ""
        line = f"regress: {what} failed{kept}: {raised_line(what, exc)}"
        if tr:
            tr.write_line(line, red=True)
        else:
            print(line, file=sys.stderr)
        _fail_run(session)
        return None


def _publish(gs: Any, tr: Any, session: pytest.Session) -> None:
    """Publish the staged goldens under the one publish rule (:func:`regress.staging.publish_refusal`):
    every case this run was asked for ran and passed the quality gate, or nothing is published,
    and the terminal says why."""
    from .staging import publish_refusal

    if not gs.staged:
        return
    refusal = publish_refusal(verdicts=gs.verdicts, gate_refusals=gs.gate_refusals, expected=gs.expected or ())
    if refusal:
        dropped = len(gs.take_staged())
        if tr:
            tr.write_line(f"regress: {dropped} staged golden(s) not written: {refusal}", red=True)
        _fail_run(session)
        return
    revision = gs.publish()
    if revision and tr:
        tr.write_line(f"regress: wrote goldens; {gs.suite.lock_path} now pins {revision}")
        last = gs.store.last_publish
        if last is not None and last.url:
            tr.write_line(f"regress: review the new goldens at {last.url}")


def _publish_references(gs: Any, tr: Any) -> None:
    from .references import publish

    adopted, revision = publish(gs)
    if adopted and tr:
        from .references import commit_hint

        tr.write_line(f"regress: adopted {len(adopted)} reference(s) for this machine; "
                      f"{gs.suite.lock_path} now pins {revision}" + commit_hint(gs.suite))
    elif gs.options.adopt and tr:
        tr.write_line("regress: nothing to adopt (every case is judged exactly here, has a reference, "
                      "leaned on [fallback] guesses, or failed)")


def _results_doc(gs: Any, tr: Any, session: pytest.Session) -> Any:
    """The run's results document; where the media writer failed, the document without media
    (the records matter more than their pictures), said in one line, and the run fails."""
    try:
        return gs.results_doc()
    except RegressError as exc:
        if tr:
            tr.write_line(f"regress: the report's media were not written: {exc}", red=True)
        _fail_run(session)
        return gs.results_doc(media=False)


def _write_report(gs: Any, doc: Any) -> Any:
    from .report import write_doc_report

    return write_doc_report(gs.options.report_dir, doc)


def _end_progress_line(tr: Any) -> None:
    """Finish pytest's progress line before regress writes: under ``-q`` it has no newline
    yet at session end, and GitHub reads a workflow command (``::error``) only at the start
    of a line."""
    tr.ensure_newline()
    if getattr(tr._tw, "width_of_current_line", 0):
        tr._tw.line()
