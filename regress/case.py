"""A golden case as an immutable record: what to run and how to judge it.

The :class:`Case` dataclass is the one declaration of the ``[[case]]`` fields: the parser's
field table (:mod:`regress.suite_fields`), the spec hashed into each golden and the JSON Schema
(:mod:`regress.models`) are derived from it.
"""

from __future__ import annotations

import fnmatch
import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any

CASE_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")


@dataclass(frozen=True)
class PlatformRule:
    """A per-platform ``xfail`` or ``skip`` entry of a case: glob + reason."""

    platform: str
    reason: str

    def matches(self, key: str) -> bool:
        return fnmatch.fnmatchcase(key, self.platform)


# A Case field's metadata: "judge" marks the fields that say how a case is judged, not what it
# computes (left out of the spec that is hashed into each golden); "schema" refines its JSON
# Schema (regress.schema). The dataclass is the one declaration of the [[case]] fields: the
# parser's field table, the spec and the schema are derived from it.
_JUDGE = {"judge": True}


@dataclass(frozen=True)
class Case:
    """One golden case: what to run and how to judge it."""

    id: str = field(metadata={"schema": {"pattern": CASE_ID_RE.pattern}})
    pipeline: str
    model: str = "tiny"
    model_revision: str | None = None
    # "random": the released architecture (regress/shapes/released.toml) with seeded random
    # weights, built on the device: production memory and time without a download.
    weights: str | None = None
    prompt: str = ""
    negative_prompt: str | None = None
    seed: int = field(default=0, metadata={"schema": {"minimum": 0, "maximum": 2**63 - 1}})
    height: int | None = None
    width: int | None = None
    steps: int = 2
    frames: int | None = None
    fps: float | None = None
    guidance: float | None = None
    max_sequence_length: int | None = None
    args: Mapping[str, Any] = field(default_factory=dict)
    precision: Mapping[str, str] = field(default_factory=dict)
    thresholds: Mapping[str, float] = field(default_factory=dict, metadata=_JUDGE)
    marks: tuple[str, ...] = field(default=(), metadata=_JUDGE)
    xfail: tuple[PlatformRule, ...] = field(default=(), metadata=_JUDGE)
    skip: tuple[PlatformRule, ...] = field(default=(), metadata=_JUDGE)

    @property
    def is_tiny(self) -> bool:
        return self.model == "tiny" and self.weights is None

    @property
    def is_shape_true(self) -> bool:
        return self.weights == "random"

    def spec(self) -> dict[str, Any]:
        """What determines the output (not how it is judged): hashed into each golden's meta."""
        spec = {k: dict(v) if isinstance(v, Mapping) else v for k, v in ((k, getattr(self, k)) for k in SPEC_FIELDS)}
        if spec.get("weights") is None:  # only when set: the hashes of existing goldens stay valid
            spec.pop("weights", None)
        return spec

    def spec_hash(self) -> str:
        blob = json.dumps(self.spec(), sort_keys=True, separators=(",", ":"), default=str)
        return hashlib.sha256(blob.encode()).hexdigest()

    def rule_for(self, platform: str) -> tuple[str, str] | None:
        """('skip' | 'xfail', reason) when a per-platform rule applies here."""
        for r in self.skip:
            if r.matches(platform):
                return "skip", r.reason
        for r in self.xfail:
            if r.matches(platform):
                return "xfail", r.reason
        return None


SPEC_FIELDS = tuple(f.name for f in fields(Case) if f.name != "id" and not f.metadata.get("judge"))
