"""``results.json``: the machine-readable outcome of a run.

Schema (``schema: 1``): ``{schema, regress_version, suite, platform, revision, created,
summary: {status: count}, cases: [ {id, platform, status, kind, golden {platform, match,
revision}, metrics {name: {value, threshold, op, source, passed}}, precision {golden,
current, changed}, perf {golden, current, ratio}, reasons, warnings, worst_frame, files,
duration_s} ]}``. NaN/Inf values are written as the strings "nan"/"inf" (strict JSON).
"""

from __future__ import annotations

import collections
import datetime as _dt
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .. import __version__
from ..suite import Suite
from ..verdict import Verdict

RESULTS_SCHEMA = 1


def results_doc(verdicts: Sequence[Verdict], *, suite: Suite | None, platform: str,
                revision: str | None) -> dict[str, Any]:
    counts = collections.Counter(v.status for v in verdicts)
    return {
        "schema": RESULTS_SCHEMA,
        "regress_version": __version__,
        "suite": str(suite.path) if suite else None,
        "platform": platform,
        "revision": revision,
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "summary": dict(sorted(counts.items())),
        "cases": [v.to_json() for v in verdicts],
    }


def write_results(path: Path, verdicts: Sequence[Verdict], *, suite: Suite | None, platform: str,
                  revision: str | None) -> dict[str, Any]:
    doc = results_doc(verdicts, suite=suite, platform=platform, revision=revision)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(doc, indent=2, allow_nan=False) + "\n", encoding="utf-8")
    return doc


def read_results(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text(encoding="utf-8"))
