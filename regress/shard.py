"""Split the selected cases into N shards of about equal run time, the same way on every machine.

Each case's cost is what its goldens recorded: ``meta["perf"]["wall_s"]`` plus the pipeline
build time (``build_s``). The cost is the largest over every platform's golden of that case,
not this machine's: a shard job that lands on a runner of another arch must still compute the
same split, or cases would run twice or never. Cases without a golden cost the median of the
known ones. Longest first, each to the least-loaded shard; ties by case id and shard number.
Inputs are the pinned store and the selection, so every machine that runs the same command
at the same lock gets the same plan.
"""

from __future__ import annotations

import re
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from .errors import RegressError

SHARD_RE = re.compile(r"^\s*(\d+)\s*/\s*(\d+)\s*$")
DEFAULT_COST_S = 1.0  # when no golden of any selected case recorded a duration


@dataclass
class Shard:
    index: int  # 1-based, as on the command line
    cases: list[str] = field(default_factory=list)
    seconds: float = 0.0


def parse_shard(text: str) -> tuple[int, int]:
    """'2/4' -> (2, 4); one-line error otherwise."""
    m = SHARD_RE.match(text or "")
    if not m or len(m.group(2)) > 6 or not (1 <= int(m.group(1)) <= int(m.group(2))):
        raise RegressError(f"--golden-shard: expected I/N with 1 <= I <= N (e.g. 1/4), got {text!r}")
    return int(m.group(1)), int(m.group(2))


def golden_cost(meta: Mapping[str, Any]) -> float | None:
    perf = meta.get("perf") or {}
    try:
        wall = float(perf.get("wall_s") or 0.0)
        build = float(perf.get("build_s") or 0.0)
    except (TypeError, ValueError):
        return None
    return wall + build if wall + build > 0 else None


def case_costs(case_ids: Sequence[str], store: Any) -> dict[str, float]:
    """Seconds per case from the store's goldens (largest over platforms; median if unknown)."""
    known: dict[str, float] = {}
    for cid in case_ids:
        costs = []
        for platform in store.platforms(cid):
            golden = store.get(cid, platform)
            cost = golden_cost(golden.meta) if golden is not None else None
            if cost is not None:
                costs.append(cost)
        if costs:
            known[cid] = max(costs)
    fallback = statistics.median(known.values()) if known else DEFAULT_COST_S
    return {cid: known.get(cid, fallback) for cid in case_ids}


def plan(costs: Mapping[str, float], n: int) -> list[Shard]:
    """Greedy longest-processing-time split into ``n`` shards (deterministic)."""
    if n < 1:
        raise RegressError(f"the number of shards must be >= 1, got {n}")
    shards = [Shard(i + 1) for i in range(n)]
    for cid in sorted(costs, key=lambda c: (-costs[c], c)):
        target = min(shards, key=lambda s: (s.seconds, s.index))
        target.cases.append(cid)
        target.seconds += costs[cid]
    return shards


def select_shard(case_ids: Sequence[str], store: Any, index: int, n: int) -> set[str]:
    """The ids of shard ``index`` (1-based) of ``n``."""
    return set(plan(case_costs(case_ids, store), n)[index - 1].cases)
