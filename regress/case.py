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
from dataclasses import dataclass, field, fields, replace
from functools import cached_property
from types import MappingProxyType
from typing import Any

CASE_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
# torch.compile's modes: a case's ``compile`` and ``--golden-compile=MODE`` take one of these.
COMPILE_MODES = ("default", "reduce-overhead", "max-autotune", "max-autotune-no-cudagraphs")


@dataclass(frozen=True)
class PlatformRule:
    """A per-platform ``xfail`` or ``skip`` entry of a case: glob + reason. ``compiled``: the
    rule applies only where the case runs under ``torch.compile`` (a platform's known compile
    failure must not excuse its eager run)."""

    platform: str
    reason: str
    compiled: bool = False

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
    # A torch.compile mode ("default", "max-autotune", ...): the denoiser runs compiled. Part of
    # the spec (compiled kernels compute other bits): a compiled case has goldens of its own.
    compile: str | None = field(default=None, metadata={"schema": {"enum": [*COMPILE_MODES, None]}})
    # The parallel layout (regress.parallel): e.g. {ulysses = 2}, launched over that many ranks with
    # torch's launcher. Part of the spec (a parallel run computes in another order): its goldens
    # are its own, and it is judged against its one-process twin's golden while it has none.
    parallel: Mapping[str, int] = field(default_factory=dict)
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
        for optional in ("weights", "compile", "parallel"):  # only when set: existing goldens' hashes stay valid
            if not spec.get(optional):
                spec.pop(optional, None)
        return spec

    @property
    def layout(self) -> Any:
        """The :class:`regress.parallel.Layout` this case runs over, or None for one process."""
        from .parallel import layout_of

        return layout_of(self.parallel) if self.parallel else None

    def one_process_spec(self) -> dict[str, Any]:
        """The spec of this case run in one process (what its one-process twin's golden was made from)."""
        spec = self.spec()
        spec.pop("parallel", None)
        return spec

    def compiled(self, mode: str) -> Case:
        """This case run under ``torch.compile`` (``--golden-compile``): same spec plus the mode,
        filed under its own id (``<id>.compiled``, ``<id>.compiled-<mode>``) so that its goldens
        never replace the eager ones it is also judged against. A case that declares its own
        ``compile`` is left as it is."""
        if self.compile is not None:
            return self
        suffix = ".compiled" if mode == "default" else f".compiled-{mode}"
        return replace(self, id=self.id[:128 - len(suffix)] + suffix, compile=mode)

    def eager_spec(self) -> dict[str, Any]:
        """The spec of this case run eager (what its eager twin's golden was made from)."""
        spec = self.spec()
        spec.pop("compile", None)
        return spec

    @cached_property
    def recorded_spec(self) -> tuple[Mapping[str, Any], str]:
        """(:meth:`spec`, :meth:`spec_hash`) made once per case: every judgement of the case
        records both (read-only: a caller that needs its own copy makes one)."""
        spec = self.spec()
        return MappingProxyType(spec), self.spec_hash(spec)

    def spec_hash(self, spec: Mapping[str, Any] | None = None) -> str:
        """The sha256 of :meth:`spec` (``spec``: that spec, already made)."""
        blob = json.dumps(self.spec() if spec is None else spec, sort_keys=True, separators=(",", ":"), default=str)
        return hashlib.sha256(blob.encode()).hexdigest()

    def rule_for(self, platform: str) -> tuple[str, str] | None:
        """('skip' | 'xfail', reason) when a per-platform rule applies here."""
        for kind, rules in (("skip", self.skip), ("xfail", self.xfail)):
            for r in rules:
                if r.matches(platform) and (self.compile is not None or not r.compiled):
                    return kind, r.reason
        return None


SPEC_FIELDS = tuple(f.name for f in fields(Case) if f.name != "id" and not f.metadata.get("judge"))
