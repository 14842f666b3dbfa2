"""Reports: ``results.json`` (stable schema, one record per case) and ``index.html``."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from ..suite import Suite
from ..verdict import Verdict
from .html import render_html
from .results import write_results

__all__ = ["write_report", "write_results", "render_html"]


def write_report(report_dir: Path, verdicts: Sequence[Verdict], *, suite: Suite | None, platform: str,
                 revision: str | None) -> Path:
    report_dir.mkdir(parents=True, exist_ok=True)
    doc = write_results(report_dir / "results.json", verdicts, suite=suite, platform=platform, revision=revision)
    (report_dir / "index.html").write_text(render_html(doc), encoding="utf-8")
    return report_dir / "index.html"
