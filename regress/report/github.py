"""GitHub Actions output: a Markdown job summary and one ``::error`` annotation per failing case.

Written only when ``GITHUB_ACTIONS`` is set, by the pytest plugin at the end of a session and by
``regress report merge``. The annotation points at the case's ``id = "..."`` line in the suite
file, so the pull request's diff view shows the failure where the case is declared.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from ..env import GITHUB_ACTIONS, GITHUB_STEP_SUMMARY, GITHUB_WORKSPACE, truthy
from .records import CaseResult, ResultsRecord, results_record
from .summary import cell_text, grid, is_bad, sort_cases

ICONS = {"passed": ":white_check_mark:", "failed": ":x:", "error": ":boom:", "missing": ":grey_question:",
         "written": ":pencil2:", "xfailed": ":heavy_minus_sign:", "skipped": ":fast_forward:"}
MAX_ANNOTATIONS = 50  # GitHub shows at most 10 per step and 50 per job


def _escape_data(s: str) -> str:
    return s.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _escape_property(s: str) -> str:
    return _escape_data(s).replace(":", "%3A").replace(",", "%2C")


def _md(s: Any) -> str:
    return str(s).replace("|", "\\|").replace("\n", " ")


def _suite_location(suite: str | None, case_id: str) -> tuple[str | None, int | None]:
    """(path relative to the workspace, line of the case's ``id``) when the suite file exists."""
    if not suite:
        return None, None
    path = Path(suite)
    line = None
    try:
        text = path.read_text(encoding="utf-8")
        pat = re.compile(r"^\s*id\s*=\s*[\"']" + re.escape(case_id) + r"[\"']", re.M)
        m = pat.search(text)
        if m:
            line = text.count("\n", 0, m.start()) + 1
    except OSError:
        pass
    workspace = os.environ.get(GITHUB_WORKSPACE)
    shown = str(path)
    if workspace:
        try:
            shown = path.resolve().relative_to(Path(workspace).resolve()).as_posix()
        except ValueError:
            pass
    return shown, line


def _regime(case: CaseResult) -> list[str]:
    """The numerics line of a failed case: whether this is platform drift or not."""
    line = case.numerics_line
    return [line] if line else []


def annotations(doc: ResultsRecord | Mapping[str, Any]) -> list[str]:
    """``::error`` lines: one per failing case record, one per coverage gap."""
    rec = results_record(doc)
    out = []
    for c in sort_cases(rec.cases):
        if not is_bad(c):
            continue
        file, line = _suite_location(rec.suite, c.id)
        props = []
        if file:
            props.append(f"file={_escape_property(file)}")
            if line:
                props.append(f"line={line}")
        props.append("title=" + _escape_property(f"golden {c.id} [{c.platform}] {c.status}"))
        msg = "; ".join([*c.reasons, *_regime(c)]) or c.status
        out.append(f"::error {','.join(props)}::{_escape_data(msg)}")
    for cid, platform in rec.coverage.missing if rec.coverage is not None else []:
        file, line = _suite_location(rec.suite, cid)
        props = [f"file={_escape_property(file)}"] + ([f"line={line}"] if line else []) if file else []
        props.append("title=" + _escape_property(f"golden {cid} did not run on {platform}"))
        out.append(f"::error {','.join(props)}::{_escape_data(f'no result for {cid} on {platform} in the merged runs')}")
    return out[:MAX_ANNOTATIONS]


def job_summary(doc: ResultsRecord | Mapping[str, Any], *, title: str = "regress golden report") -> str:
    """Markdown: counts, coverage, a case x platform table (failures first), the failures' reasons."""
    rec = results_record(doc)
    cases = rec.cases
    platforms = list(rec.platforms or sorted({c.platform for c in cases}))
    counts = ", ".join(f"{n} {s}" for s, n in rec.summary.items()) or "no cases"
    lines = [f"## {title}", "", f"**{counts}** on {', '.join(f'`{p}`' for p in platforms) or 'no platform'}"
             f" (store `{rec.revision or 'several revisions'}`)", ""]
    cov = rec.coverage
    if cov is not None:
        if cov.missing:
            gaps = ", ".join(f"`{c}` on `{p}`" for c, p in cov.missing[:30])
            lines += [f":x: **coverage**: {len(cov.missing)} case run(s) missing: {gaps}", ""]
        else:
            lines += [f":white_check_mark: **coverage**: every case ran on {', '.join(cov.platforms)}", ""]
    if cases:
        lines.append("| case | " + " | ".join(f"`{p}`" for p in platforms) + " |")
        lines.append("| --- |" + " --- |" * len(platforms))
        for cid, by_platform in grid(cases, platforms):
            cells = []
            for p in platforms:
                rs = by_platform.get(p) or []
                cells.append("<br>".join(f"{ICONS.get(r.status, '')} {r.status}"
                                         + (f" {_md(cell_text(r))}" if cell_text(r) else "") for r in rs)
                             or "did not run")
            lines.append(f"| `{_md(cid)}` | " + " | ".join(cells) + " |")
        lines.append("")
    bad = [c for c in sort_cases(cases) if is_bad(c)]
    if bad:
        lines.append("### failures")
        for c in bad:
            lines.append(f"- **{_md(c.id)}** [`{c.platform}`] {c.status}: "
                         + _md("; ".join([*c.reasons, *_regime(c)]) or "no detail"))
        lines.append("")
    drifted = [c for c in sort_cases(cases) if not is_bad(c) and c.regime == "drift"]
    if drifted:
        lines.append("### judged in the drift regime (passed)")
        for c in drifted:
            lines.append(f"- **{_md(c.id)}** [`{c.platform}`]: {_md(c.numerics_line or '')}")
        lines.append("")
    from .impact import markdown as impact_markdown

    impact = impact_markdown(rec)
    if impact:
        lines += [impact.replace("## ", "### ", 1)]
    unused = rec.unused_goldens
    if unused:
        lines += ["<details><summary>" + f"{len(unused)} golden(s) no case used</summary>", ""]
        lines += [f"- `{c}` [`{p}`]" for c, p in unused]
        lines += ["", "</details>", ""]
    return "\n".join(lines) + "\n"


def emit(doc: ResultsRecord | Mapping[str, Any], *, write: Callable[[str], None] = print,
         title: str = "regress golden report") -> bool:
    """When running under GitHub Actions: print annotations and append the job summary."""
    if not truthy(GITHUB_ACTIONS):
        return False
    rec = results_record(doc)
    if not (rec.cases or (rec.coverage is not None and rec.coverage.missing)):
        return False
    for line in annotations(rec):
        write(line)
    path = os.environ.get(GITHUB_STEP_SUMMARY)
    if path:
        with open(path, "a", encoding="utf-8") as f:
            f.write(job_summary(rec, title=title))
    return True
