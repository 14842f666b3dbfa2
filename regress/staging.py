"""Updates: which judged outputs become goldens, and which are refused.

An update mode says which verdicts want a new golden; the quality gate, the drift cap and the
other-machine rule can refuse one (the case then fails, and a refresh publishes nothing). A
golden bit-identical to the one it would replace is not staged at all.

Staging never edits the verdict it is handed: a verdict is final when ``judge()`` returns it.
It returns an :class:`UpdateDecision` beside it, and the session records the decision applied
to a new record (:meth:`UpdateDecision.applied`), so that the judged verdict, the golden staged
and the recorded outcome can each be told apart.
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from .gate import drift_problems, quality_problems
from .golden_records import GoldenMeta
from .judge import Subject
from .modes import UPDATE_MODES
from .outputs import OUTPUT_FILES, STAGES_FILE, Output
from .stores import StagedGolden
from .status import Status
from .verdict import ERROR, FAILED, MISSING, WRITTEN, Verdict

if TYPE_CHECKING:
    from .stores.base import Golden

__all__ = ["UpdateDecision", "UpdatePolicy", "check_mode", "publish_refusal", "stage_update", "wants_update"]


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


@dataclass(frozen=True)
class UpdateDecision:
    """What staging decided for one judged output: the golden to publish (or None), the
    refusal (or None), and how the case's record changes (its status, and a line for it)."""

    staged: StagedGolden | None = None
    refusal: str | None = None  # why the update was refused: the case fails with it
    status: Status | None = None  # the record's status after the update; None: as judged
    note: str | None = None  # a warning the record gains ('golden rewritten ...', 'bit-identical ...')

    def applied(self, verdict: Verdict) -> Verdict:
        """The record of ``verdict`` with this decision: a new Verdict, ``verdict`` untouched."""
        if self.status is None and self.note is None and self.refusal is None:
            return verdict
        reasons = list(verdict.reasons)
        if self.refusal is not None:
            reasons.append(self.refusal)
        elif self.status == WRITTEN:
            reasons = []
        return dataclasses.replace(verdict, status=self.status or verdict.status, reasons=reasons,
                                   warnings=[*verdict.warnings, *([self.note] if self.note else [])])


NOTHING = UpdateDecision()


def stage_update(verdict: Verdict, subject: Subject, golden: Golden | None, *, policy: UpdatePolicy, platform: str,
                 drift_cap: Mapping[str, float] | None, make_meta: Callable[[], GoldenMeta]) -> UpdateDecision:
    """What to do with a judged output (see :class:`UpdateDecision`); ``verdict`` is read, never
    changed."""
    if not wants_update(policy.mode, verdict):
        return NOTHING
    if golden is None or verdict.golden.get("match") != "exact":
        golden = None  # only the golden of this very platform is replaced (or kept)
    problems = quality_problems(subject.output)
    if drift_cap and golden is not None and golden.record.spec_hash in (None, subject.spec_hash):
        # Only against the golden this one replaces, made from the same inputs: a changed spec
        # or another platform's golden is expected to differ.
        problems += drift_problems({k: m.value for k, m in verdict.metrics.items()}, drift_cap)
    if problems and not policy.force:
        return _refuse(f"{subject.id}: not written as a golden: {'; '.join(problems)} (use --force to write it anyway)")
    meta = make_meta()
    if golden is not None:
        old = golden.record
        other = other_machine(old, meta)
        if other and not policy.replace_other_machine:
            return _refuse(f"{subject.id}: not replaced: its {golden.platform} golden was made on {other[0]} (this "
                           f"machine: {other[1]}); replacing it loses that machine's numerics. Refresh it there, or "
                           "pass --replace-other-machine")
        if not other and same_output(old, subject.output) and old.precision == dict(subject.fingerprint):
            unchanged = ((old.identity.digest if old.identity else None)
                         == (meta.identity.digest if meta.identity else None)
                         and (old.platform.versions if old.platform else None)
                         == (meta.platform.versions if meta.platform else None)
                         and old.settings == meta.settings
                         and (STAGES_FILE in old.files) == bool(subject.output.stages))
            if unchanged:
                return UpdateDecision(note="bit-identical to its golden: nothing to publish (its calibration and "
                                           "drift bounds are kept)")
            # Same bytes, new provenance (an identity, versions, settings, stage checkpoints):
            # keep what was measured against these very bytes.
            kept = {block: getattr(old, block) for block in ("noise_floor", "drift") if getattr(old, block) is not None}
            meta = dataclasses.replace(meta, **kept)
    note = (f"golden {'re' if verdict.status != MISSING else ''}written (was {verdict.status}"
            + (": " + "; ".join(verdict.reasons) if verdict.reasons else "") + ")")
    return UpdateDecision(StagedGolden(subject.id, platform, subject.output, meta.to_json()), status=WRITTEN,
                          note=note)


def _refuse(message: str) -> UpdateDecision:
    return UpdateDecision(refusal=message, status=FAILED)


def other_machine(old_meta: GoldenMeta, new_meta: GoldenMeta) -> tuple[str, str] | None:
    """(the golden's machine, this machine) when a golden was made on another machine: another
    CPU model or GPU name in its identity (or, for a golden from before identities, the device
    its provenance names); None when it is this machine's, or nothing says otherwise."""
    old, new = old_meta.machine, new_meta.machine
    if old and new and old != new and not (new.startswith(old) or old.startswith(new)):
        return old, new
    return None


def same_output(meta: GoldenMeta, output: Output) -> bool:
    """Whether ``output`` encodes to exactly the files a golden's meta lists."""
    files = {k: v for k, v in meta.files.items() if k in OUTPUT_FILES}
    encoded = {k: v for k, v in output.encode().items() if k in OUTPUT_FILES}
    return bool(files) and set(files) == set(encoded) and all(
        hashlib.sha256(data).hexdigest() == files[name] for name, data in encoded.items())
