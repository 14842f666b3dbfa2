"""What a golden run adds to pytest's terminal summary.

Missing goldens and the one command that makes them (without ``-rs`` a first run otherwise
ends in a bare "2 skipped"), drift, the A/B impact table and the bisect tables.
"""

from __future__ import annotations

import shlex
from typing import Any

from .suite_sessions import choices, sessions


def write(terminalreporter: Any) -> None:
    """The summary's regress sections (``pytest_terminal_summary``)."""
    from .report.summary import write_drift_lines

    opened = sessions(terminalreporter.config)
    if not opened:
        return
    verdicts = [v for gs in opened.values() for v in gs.verdicts]
    _write_missing(terminalreporter, verdicts)
    write_drift_lines(terminalreporter, [v.to_json() for v in verdicts])
    judged = [v.to_json() for v in verdicts if v.ab]
    if judged:
        from .report.impact import markdown

        terminalreporter.write_sep("-", "regress: impact against the base (A/B on this machine)")
        for line in markdown({"cases": judged, "platform": judged[0]["platform"]}).splitlines()[2:]:
            terminalreporter.write_line(line)
    bisected = [v for v in verdicts if v.bisect]
    if bisected:
        from .bisect import table_lines_of

        terminalreporter.write_sep("-", f"regress: {len(bisected)} failing case(s) bisected")
        for v in bisected:
            for line in table_lines_of(v.bisect):
                terminalreporter.write_line(line)


def _write_missing(terminalreporter: Any, verdicts: list) -> None:
    """Say which goldens are missing and the one command that makes them."""
    from .status import Status

    run = choices(terminalreporter.config)
    missing = [v for v in verdicts if v.status == Status.MISSING]
    if not missing or run.update != "none":
        return
    terminalreporter.write_sep("-", f"regress: {len(missing)} golden(s) missing")
    for v in missing:
        terminalreporter.write_line(f"  {v.id} [{v.platform}]: no golden on this platform (nor one of the same "
                                    "backend)")
    suite = f" --golden-suite {shlex.quote(run.suite_arg)}" if run.suite_arg else ""
    terminalreporter.write_line(f"make them with: pytest -m golden{suite} --golden-update=missing")
