"""A session's records -> its results.json document (:mod:`regress.report.results` lays it out).

Apart from :mod:`regress.session` because it only reads what the run left (verdicts, the media
writer's records, the store's revision and entries): the media writer's error is raised here in
one line, and a store that failed to open still leaves a report of what ran.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from .case_run import raised_line
from .context import RunContext
from .errors import RegressError
from .media import MediaQueue
from .verdict import Verdict


def results_of(context: RunContext, verdicts: Sequence[Verdict], *, media: MediaQueue | None,
               selected: list[str] | None) -> dict[str, Any]:
    """The results.json document of ``verdicts`` judged in the session ``context``; ``media``: the
    writer whose records go in (None: the records only, the writer failed)."""
    from .report.results import results_doc

    written: Any = {}
    try:
        if media is not None:
            written = media.written()  # every case's media records (raises a writer's error)
    except Exception as exc:  # noqa: BLE001 - the writer thread's error, whatever it is, in one line
        raise RegressError(f"writing the report's media failed: {raised_line('the media writer', exc)}") from None
    revision, entries = None, None
    try:  # a store that failed to open was a collection error; the report still says what ran
        revision = context.store.revision
        entries = context.store.entries()
    except RegressError:
        pass
    return results_doc(verdicts, suite=context.suite, platform=context.platform, revision=revision,
                       selected=selected, shard=context.options.shard, worker=context.options.worker,
                       store_entries=entries, media=written)


def write_report(report_dir: Path | None, doc: Callable[[], dict[str, Any]]) -> Path | None:
    """The HTML report of ``doc()`` in ``report_dir``; None asks for none (nothing is built)."""
    if report_dir is None:
        return None
    from .report import write_doc_report

    return write_doc_report(report_dir, doc())
