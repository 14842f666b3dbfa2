"""Reports: ``results.json`` (stable schema), ``index.html``, the GitHub job summary and
annotations, and the merge of several runs (shards, xdist workers, CUDA and ROCm jobs)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from ..atomic import write_atomic
from ..suite import Suite
from ..verdict import Verdict
from .html import render_html
from .results import RESULTS_FILE, read_results, results_doc, write_doc, write_results

__all__ = ["write_report", "write_doc_report", "write_results", "read_results", "results_doc", "render_html"]


def write_doc_report(report_dir: Path, doc: Mapping[str, Any]) -> Path:
    """Write ``results.json`` and ``index.html`` for a document; returns the page's path."""
    report_dir.mkdir(parents=True, exist_ok=True)
    write_doc(report_dir / RESULTS_FILE, doc)
    from .impact import IMPACT_FILE, markdown
    from .records import results_record

    record = results_record(doc)  # parsed once, for the page and the impact table
    impact = markdown(record)
    if impact:  # an A/B run: the change's impact, as a PR comment body
        (report_dir / IMPACT_FILE).write_text(impact, encoding="utf-8")
    page = report_dir / "index.html"
    write_atomic(page, render_html(record))
    return page


def write_report(report_dir: Path, verdicts: Sequence[Verdict], *, suite: Suite | None, platform: str,
                 revision: str | None, **run: Any) -> Path:
    doc = results_doc(verdicts, suite=suite, platform=platform, revision=revision, **run)
    return write_doc_report(report_dir, doc)
