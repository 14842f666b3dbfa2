"""Bisect a failing case: which of its differences from the golden makes it fail.

Why: a verdict lists everything that differs (a component's dtype, a backend setting, the
machine's numerics) and every metric that moved; users of the peers then bisect by hand
(transformers #36686). Here each revertible difference is set back to the golden's value,
one at a time, then in pairs where no single one restores the case, and each variant is judged
by the same judging step. The first diverging stage of each run says where it moved.

What can be reverted: a component's dtype (run it at the golden's), and, on CUDA, the
backend settings a golden records (TF32, ``cudnn.benchmark``, the SDPA backends enabled).
The numerics identity (another CPU or GPU, other library versions) is named but cannot be
reverted from here.
"""

from __future__ import annotations

import contextlib
import itertools
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from .errors import RegressError

if TYPE_CHECKING:
    from .golden_records import GoldenMeta
    from .session import GoldenSession
    from .suite import Case

_CAST_NOTE = " (cast at its boundaries)"


@dataclass(frozen=True)
class Difference:
    name: str  # 'vae dtype', 'tf32', 'attention'
    golden: str
    current: str
    precision: Mapping[str, str] = field(default_factory=dict)  # override that reverts it
    kernels: Mapping[str, str] = field(default_factory=dict)  # REGRESS_KERNELS settings that revert it

    def label(self) -> str:
        return f"{self.name} back to {self.golden}"

    def describe(self) -> str:
        return f"the {self.name} ({self.current} here, {self.golden} in the golden)"


@dataclass
class Row:
    reverted: list[str]
    status: str
    line: str  # the worst metric against its threshold, or what failed
    first_divergence: str | None
    restored: bool

    def to_json(self) -> dict[str, Any]:
        return {"reverted": self.reverted, "status": self.status, "line": self.line,
                "first_divergence": self.first_divergence, "restored": self.restored}


@dataclass
class Bisection:
    case_id: str
    baseline: Row
    rows: list[Row]
    cause: list[str]  # the reverted set that restores the case (empty: none found)
    not_revertible: list[str]

    def to_json(self) -> dict[str, Any]:
        return {"case": self.case_id, "baseline": self.baseline.to_json(), "rows": [r.to_json() for r in self.rows],
                "cause": self.cause, "not_revertible": self.not_revertible}

    def summary(self) -> str:
        if self.baseline.restored:
            return f"bisect: {self.case_id} passes as it runs here; nothing to bisect"
        if not self.cause:
            extra = f" (not revertible: {'; '.join(self.not_revertible)})" if self.not_revertible else ""
            return f"bisect: no single or paired revert restores {self.case_id}{extra}"
        where = self.baseline.first_divergence
        return (f"bisect: {self.case_id} fails because of {' together with '.join(self.cause)}"
                + (f"; {where}" if where else ""))


def _dtype(fingerprint_value: str | None) -> str | None:
    if fingerprint_value is None:
        return None
    v = fingerprint_value.replace(_CAST_NOTE, "")
    return None if v.startswith("mixed") else v


def differences(golden_meta: GoldenMeta, table: Mapping[str, str],
                installed: Mapping[str, str]) -> tuple[list[Difference], list[str]]:
    """(what can be reverted, what cannot) between a golden's meta and this run's assignment
    (``table``: the resolved precision table) and settings (``installed``: the identity's)."""
    out: list[Difference] = []
    golden_fp = golden_meta.precision or {}
    for comp in sorted(table):
        want = _dtype(golden_fp.get(comp))
        if want and want != table[comp]:
            out.append(Difference(f"{comp} dtype", want, table[comp], precision={comp: want}))
    versions = golden_meta.versions
    ident = golden_meta.identity.installed if golden_meta.identity is not None else {}
    g_tf32 = (versions.get("cudnn.allow_tf32"), versions.get("cuda.matmul.allow_tf32"))
    c_tf32 = (installed.get("cudnn.allow_tf32"), installed.get("cuda.matmul.allow_tf32"))
    if None not in g_tf32 and None not in c_tf32 and g_tf32 != c_tf32:
        if g_tf32[0] == g_tf32[1]:
            out.append(Difference("tf32", "on" if g_tf32[0] == "True" else "off", "/".join(c_tf32),
                                  kernels={"tf32": "on" if g_tf32[0] == "True" else "off"}))
        else:
            out.append(Difference("tf32", f"cudnn {g_tf32[0]}, matmul {g_tf32[1]}", "/".join(c_tf32),
                                  kernels={"tf32_cudnn": "on" if g_tf32[0] == "True" else "off",
                                           "tf32_matmul": "on" if g_tf32[1] == "True" else "off"}))
    g_bench, c_bench = versions.get("cudnn.benchmark"), installed.get("cudnn.benchmark")
    if g_bench and c_bench and g_bench != c_bench:
        out.append(Difference("cudnn.benchmark", g_bench, c_bench,
                              kernels={"cudnn_benchmark": "on" if g_bench == "True" else "off"}))
    g_att, c_att = ident.get("attention"), installed.get("attention")
    if g_att and c_att and g_att != c_att:
        out.append(Difference("attention", g_att, c_att, kernels={"sdpa": g_att}))
    fixed = []
    for key in ("cpu.model", "cpu.onednn_isa", "cpu.aten_capability", "gpu.name", "torch", "cuda", "cudnn", "onednn"):
        if key in ident and key in installed and ident[key] != installed[key]:
            fixed.append(f"{key} {ident[key]} -> {installed[key]}")
    return out, fixed


@contextlib.contextmanager
def _settings(kernels: Mapping[str, str]) -> Iterator[None]:
    """Apply kernel settings for one run and restore what was there."""
    if not kernels:
        yield
        return
    import torch

    from . import kernels as K

    from .tf32 import tf32

    b = torch.backends
    saved = (b.cudnn.benchmark, b.cuda.flash_sdp_enabled(), b.cuda.mem_efficient_sdp_enabled(),
             getattr(b.cuda, "cudnn_sdp_enabled", lambda: False)(), b.cuda.math_sdp_enabled())
    try:
        with tf32(None):  # TF32 is put back by the one save-and-restore
            K.apply(dict(kernels))
            yield
    finally:
        b.cudnn.benchmark = saved[0]
        b.cuda.enable_flash_sdp(saved[1])
        b.cuda.enable_mem_efficient_sdp(saved[2])
        if hasattr(b.cuda, "enable_cudnn_sdp"):
            b.cuda.enable_cudnn_sdp(saved[3])
        b.cuda.enable_math_sdp(saved[4])


def _row(session: GoldenSession, case: Case, reverted: list[Difference], base_precision: Mapping[str, str]) -> Row:
    precision = dict(base_precision)
    kernels: dict[str, str] = {}
    for d in reverted:
        precision.update(d.precision)
        kernels.update(d.kernels)
    try:  # a rerun that raises (a runner's build or run, an out-of-memory at fp32) is this row's result
        with _settings(kernels):
            result = session.run(case, precision=precision)
            v = session.judge(case, result).verdict  # judging keeps its own record of what raised
    except Exception as exc:  # noqa: BLE001 - KeyboardInterrupt and SystemExit still stop the bisection
        from .session import raised_line

        return Row([d.label() for d in reverted], "error", raised_line("the rerun", exc), None, False)
    first = next((r for r in v.reasons + v.warnings if r.startswith("first divergence")), None)
    failing = [m.line() for m in v.metrics.values() if m.passed is False]
    line = "; ".join(failing) if failing else ("; ".join(r for r in v.reasons if not r.startswith("first")) or "ok")
    return Row([d.label() for d in reverted], v.status, line, first, v.status == "passed")


def bisect(session: GoldenSession, case: Case, *, announce: Callable[[], None] | None = None) -> Bisection:
    """Bisect ``case`` as ``session`` runs it (its ``--golden-precision`` layer and kernel
    settings) against its golden. Runs the case 1 + n (+ pairs) times. ``announce`` is called
    once the failing run ran (a refusal, or a run that raises, is the command's only line)."""
    from .probing import identity
    from .stores.base import lookup

    golden, _ = lookup(session.store, case.id, session.platform)
    if golden is None:
        raise RegressError(f"no golden for {case.id} on {session.platform} to bisect against", case=case.id)
    base_precision = dict(session.options.precision)
    table = session.precision_for(case)
    diffs, fixed = differences(golden.record, table, identity(session.device).installed)
    baseline = _row(session, case, [], base_precision)
    if announce is not None and baseline.status != "error":
        announce()
    rows: list[Row] = []
    cause: list[str] = []
    if not baseline.restored:
        for d in diffs:
            row = _row(session, case, [d], base_precision)
            rows.append(row)
            if row.restored and not cause:
                cause = [d.describe()]
        if not cause and len(diffs) > 1:
            for pair in itertools.combinations(diffs, 2):
                row = _row(session, case, list(pair), base_precision)
                rows.append(row)
                if row.restored and not cause:
                    cause = [d.describe() for d in pair]
    return Bisection(case.id, baseline, rows, cause, fixed)


def table_lines(b: Bisection) -> list[str]:
    """The bisection as a plain table (Markdown when written to a file or a pipe)."""
    head = "| change reverted | status | metrics | first diverging stage | restored? |"
    out = [head, "|---|---|---|---|---|"]
    for r in [b.baseline, *b.rows]:
        what = " + ".join(r.reverted) if r.reverted else "(nothing: the failing run)"
        first = (r.first_divergence or "-").replace("first divergence: ", "")
        out.append(f"| {what} | {r.status} | {r.line[:160]} | {first[:120]} | {'yes' if r.restored else 'no'} |")
    if b.not_revertible:
        out.append(f"not revertible here: {'; '.join(b.not_revertible)}")
    out.append(b.summary())
    return out


def table_lines_of(doc: Mapping[str, Any]) -> list[str]:
    """:func:`table_lines` of a bisection kept as JSON (a verdict's ``bisect`` record)."""
    return table_lines(Bisection(doc["case"], Row(**doc["baseline"]), [Row(**r) for r in doc["rows"]],
                                 list(doc["cause"]), list(doc["not_revertible"])))


def bisect_failures(gs: GoldenSession) -> None:
    """``--golden-bisect``: bisect each failed suite case of a finished session, in a session of
    its own (its runs are not verdicts of the run), and record the result beside the case's
    verdict (a new record in its place: the judged verdict is final), so that the terminal
    summary, results.json and the report card carry it."""
    from .session import GoldenSession, Options

    o = gs.options
    probe = GoldenSession(gs.suite, Options(platform=o.platform, device=o.device, strict=o.strict,
                                            precision=dict(o.precision)), store=gs.store)
    ids = {c.id for c in gs.suite.cases}
    try:
        for i, v in enumerate(gs.verdicts):
            if v.status != "failed" or v.id not in ids:
                continue
            try:  # one case's bisection failing never loses the others', nor the session's end
                result = bisect(probe, gs.suite.case(v.id))
            except Exception as exc:  # noqa: BLE001 - KeyboardInterrupt and SystemExit still stop it
                from .session import raised_line

                gs.verdicts[i] = replace(v, warnings=[*v.warnings, f"bisect: {raised_line('bisecting', exc)}"])
                continue
            gs.verdicts[i] = replace(v, bisect=result.to_json(), warnings=[*v.warnings, result.summary()])
    finally:
        probe.close()
