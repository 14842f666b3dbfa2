"""A case's parallel layout: how many processes run it and how its attention is split.

Why a record of its own: a run over several ranks computes in another order than a one-process
run (each rank attends over its shard of the sequence, the shards meet in an all-to-all or an
all-gather), so its output differs by drift, and a golden made over one layout is the exact check
only of that layout. The layout is therefore part of a case's spec (its goldens are its own), of
the run's settings (``parallel``: what a golden says it was made with) and of the numerics identity
(a golden of another layout is never judged exactly). The collective backend is not declared: it
follows the device (gloo on the CPU, NCCL on a GPU) and is recorded beside the layout.

Kept free of torch: the suite parser and the judge read it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

# `context = N` is diffusers' default context parallelism (Ulysses) over N ranks.
KEYS = ("context", "ulysses", "ring")
MAX_DEGREE = 64


@dataclass(frozen=True)
class Layout:
    """Context parallelism over ``ulysses * ring`` ranks (diffusers' ``ContextParallelConfig``)."""

    ulysses: int = 1
    ring: int = 1

    @property
    def world_size(self) -> int:
        return self.ulysses * self.ring

    def label(self, backend: str | None = None) -> str:
        """One line for settings, identity and verdicts, e.g. ``ulysses=2 ring=1 world=2 gloo``."""
        line = f"ulysses={self.ulysses} ring={self.ring} world={self.world_size}"
        return f"{line} {backend}" if backend else line

    def to_table(self) -> dict[str, int]:
        """The canonical ``parallel`` table (what the spec hashes): degrees above 1 only."""
        return {k: v for k, v in (("ulysses", self.ulysses), ("ring", self.ring)) if v > 1}


def backend_for(device: str) -> str:
    """The collective backend a run on ``device`` uses: NCCL on CUDA/ROCm GPUs, gloo on the CPU."""
    return "nccl" if device.startswith("cuda") else "gloo"


def run_identity(identity: Any, case: Any, device: str) -> Any:
    """The numerics identity of a run of ``case`` on ``device``: this machine's ``identity``
    (:class:`regress.numerics.Identity`), with ``installed["parallel"]`` (the layout and its
    collective backend) for a parallel case, so that a golden of another layout, or of one
    process, is never judged exactly (:func:`regress.numerics.compare`)."""
    if not getattr(case, "parallel", None):  # (a test's own output has no layout either)
        return identity
    import dataclasses

    label = case.layout.label(backend_for(device))
    return dataclasses.replace(identity, installed={**identity.installed, "parallel": label})


def problem(raw: Mapping[str, Any]) -> tuple[str, str] | None:
    """(field under ``parallel``, what is wrong) for a ``parallel`` table, or None when it is legal."""
    for k, v in raw.items():
        if k not in KEYS:
            return k, f"unknown key (expected one of {', '.join(KEYS)})"
        if isinstance(v, bool) or not isinstance(v, int):
            return k, f"must be an integer, got {type(v).__name__}"
        if not 1 <= v <= MAX_DEGREE:
            return k, f"must be between 1 and {MAX_DEGREE}, got {v}"
    if "context" in raw and "ulysses" in raw:
        return "context", "'context' is Ulysses context parallelism: give 'context' or 'ulysses', not both"
    if raw and layout_of(raw).world_size < 2:
        return "", "a parallel run needs a degree of at least 2 (leave 'parallel' out for a one-process run)"
    return None


def layout_of(raw: Mapping[str, Any] | None) -> Layout:
    """The layout a (validated) ``parallel`` table declares; the empty table is one process."""
    raw = raw or {}
    return Layout(ulysses=int(raw.get("ulysses", raw.get("context", 1))), ring=int(raw.get("ring", 1)))


def parse(text: str) -> Layout:
    """``ulysses=2,ring=1`` / ``context=2`` (a command line's spelling) as a layout; ValueError if not."""
    raw: dict[str, Any] = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        k, sep, v = part.partition("=")
        if not sep or not v.strip().lstrip("-").isdigit():
            raise ValueError(f"{part!r} is not KEY=N (keys: {', '.join(KEYS)})")
        raw[k.strip()] = int(v)
    bad = problem(raw)
    if bad is not None or not raw:
        raise ValueError(f"{text!r}: {bad[1] if bad else 'no degree given'}")
    return layout_of(raw)
