"""Updates: which judged outputs become goldens, and which are refused.

An update mode says which verdicts want a new golden; the quality gate, the drift cap and the
other-machine rule can refuse one (the case then fails, and a refresh publishes nothing). A
golden bit-identical to the one it would replace is not staged at all.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from .gate import drift_problems, quality_problems
from .judge import Subject
from .modes import UPDATE_MODES
from .outputs import OUTPUT_FILES, STAGES_FILE, Output
from .stores import StagedGolden
from .verdict import ERROR, FAILED, MISSING, WRITTEN, Verdict

__all__ = ["UpdatePolicy", "check_mode", "publish_refusal", "stage_update", "wants_update"]


@dataclass(frozen=True)
class UpdatePolicy:
    mode: str = "none"  # one of UPDATE_MODES
    force: bool = False  # stage goldens that fail the quality gate
    replace_other_machine: bool = False  # replace a golden that another machine made


def check_mode(mode: str, *, modes: tuple[str, ...] = UPDATE_MODES, what: str = "--golden-update") -> str:
    """``mode`` when it is one of ``modes``, else a one-line :class:`~regress.errors.RegressError`."""
    if mode not in modes:
        from .errors import RegressError

        raise RegressError(f"{what} must be one of {', '.join(modes)}, got '{mode}'")
    return mode


def publish_refusal(*, verdicts: Sequence[Verdict], gate_refusals: Sequence[str],
                    expected: Sequence[str] = ()) -> str | None:
    """Why nothing may be published, in one line; None when it may be.

    The one publish rule of ``regress refresh`` and ``pytest -m golden --golden-update``: every
    selected case ran (``expected``: the case ids the run was asked for; a deliberate skip is
    a record) and none was refused by the quality gate, or nothing is published. Why: a
    publish moves the lock for the whole suite; one that carries half of what was asked (the
    others errored, were refused, or never ran because of ``-x`` or Ctrl-C) leaves goldens of
    two revisions of the code under one pin, and nobody can tell which is which."""
    errors = [v for v in verdicts if v.status == ERROR]
    if errors:
        return f"{len(errors)} case(s) did not run, nothing published: " + errors[0].message()
    if gate_refusals:
        return "quality gate refused, nothing published: " + gate_refusals[0]
    recorded = {v.id for v in verdicts}
    unrun = [cid for cid in expected if cid not in recorded]
    if unrun:
        more = f" and {len(unrun) - 3} more" if len(unrun) > 3 else ""
        return (f"{len(unrun)} selected case(s) did not run ({', '.join(unrun[:3])}{more}), nothing published "
                "(the run was stopped early)")
    return None


def wants_update(mode: str, verdict: Verdict) -> bool:
    """``missing`` means no golden for this exact platform: a golden borrowed from a
    neighbouring arch is not this platform's golden."""
    missing = verdict.status == MISSING or verdict.golden.get("match") != "exact"
    return mode == "all" or (mode == "missing" and missing) or (
        mode == "failed" and (missing or verdict.status == FAILED))


def stage_update(verdict: Verdict, subject: Subject, golden: Any, *, policy: UpdatePolicy, platform: str,
                 drift_cap: Mapping[str, float] | None, make_meta: Callable[[], dict[str, Any]]
                 ) -> tuple[StagedGolden | None, str | None]:
    """(the golden to publish, or None; the refusal message, or None) for a judged output, with
    the verdict updated to say what happened (``written``, or failed with the refusal)."""
    if not wants_update(policy.mode, verdict):
        return None, None
    exact = golden is not None and verdict.golden.get("match") == "exact"
    problems = quality_problems(subject.output)
    if drift_cap and exact and golden.meta.get("spec_hash") in (None, subject.spec_hash):
        # Only against the golden this one replaces, made from the same inputs: a changed spec
        # or another platform's golden is expected to differ.
        problems += drift_problems({k: m.value for k, m in verdict.metrics.items()}, drift_cap)
    if problems and not policy.force:
        return None, _refuse(verdict, f"{subject.id}: not written as a golden: {'; '.join(problems)} "
                                      "(use --force to write it anyway)")
    meta = make_meta()
    if exact:
        other = other_machine(golden.meta, meta)
        if other and not policy.replace_other_machine:
            return None, _refuse(verdict, f"{subject.id}: not replaced: its {golden.platform} golden was made on "
                                          f"{other[0]} (this machine: {other[1]}); replacing it loses that machine's "
                                          "numerics. Refresh it there, or pass --replace-other-machine")
        if not other and same_output(golden.meta, subject.output) \
                and golden.meta.get("precision") == dict(subject.fingerprint):
            unchanged = ((golden.meta.get("identity") or {}).get("digest") == meta["identity"]["digest"]
                         and (golden.meta.get("platform") or {}).get("versions") == meta["platform"]["versions"]
                         and golden.meta.get("settings") == meta.get("settings")
                         and (STAGES_FILE in (golden.meta.get("files") or {})) == bool(subject.output.stages))
            if unchanged:
                verdict.warnings.append("bit-identical to its golden: nothing to publish (its calibration and "
                                        "drift bounds are kept)")
                return None, None
            # Same bytes, new provenance (an identity, versions, settings, stage checkpoints):
            # keep what was measured against these very bytes.
            for block in ("noise_floor", "drift"):
                if golden.meta.get(block) is not None:
                    meta[block] = golden.meta[block]
    verdict.warnings.append(f"golden {'re' if verdict.status != MISSING else ''}written (was {verdict.status}"
                            + (": " + "; ".join(verdict.reasons) if verdict.reasons else "") + ")")
    verdict.reasons = []
    verdict.status = WRITTEN
    return StagedGolden(subject.id, platform, subject.output, meta), None


def _refuse(verdict: Verdict, message: str) -> str:
    verdict.reasons.append(message)
    verdict.status = FAILED
    return message


def other_machine(old_meta: Mapping[str, Any], new_meta: Mapping[str, Any]) -> tuple[str, str] | None:
    """(the golden's machine, this machine) when a golden was made on another machine: another
    CPU model or GPU name in its identity (or, for a golden from before identities, the device
    its provenance names); None when it is this machine's, or nothing says otherwise."""
    def machine(meta: Mapping[str, Any]) -> str | None:
        inst = (meta.get("identity") or {}).get("installed") or {}
        name = inst.get("gpu.name") or inst.get("cpu.model")
        if name:
            return str(name)
        dev = ((meta.get("platform") or {}).get("versions") or {}).get("device")
        return str(dev) if dev else None

    old, new = machine(old_meta), machine(new_meta)
    if old and new and old != new and not (new.startswith(old) or old.startswith(new)):
        return old, new
    return None


def same_output(meta: Mapping[str, Any], output: Output) -> bool:
    """Whether ``output`` encodes to exactly the files a golden's meta lists."""
    files = {k: v for k, v in (meta.get("files") or {}).items() if k in OUTPUT_FILES}
    encoded = {k: v for k, v in output.encode().items() if k in OUTPUT_FILES}
    return bool(files) and set(files) == set(encoded) and all(
        hashlib.sha256(data).hexdigest() == files[name] for name, data in encoded.items())
