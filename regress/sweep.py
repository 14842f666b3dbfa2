"""The precision sweep: quality vs peak memory vs time, per component dtype assignment.

This is the bf16-VAE pull request's experiment as one command: run a case under the
all-fp32 assignment (the reference), under the family default, and under each
(component, dtype) change the user asks for; compare each output with the fp32 reference
(SSIM / PSNR / LPIPS where weights exist) and report peak memory and wall time. Pipelines are
built one at a time and released in between, so one assignment's weights never inflate
another's peak memory.
"""

from __future__ import annotations

import itertools
import statistics
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from .errors import RegressError, RunnerError
from .precision import DTYPES, canonical_dtype
from .runners import get_runner
from .session import GoldenSession
from .suite import Case


@dataclass
class SweepRow:
    label: str
    overrides: dict[str, str]
    fingerprint: dict[str, str]
    metrics: dict[str, float | None]
    peak_memory: int | None
    memory_source: str
    wall_s: float
    stages: dict[str, float] = field(default_factory=dict)
    stage_memory: dict[str, int] = field(default_factory=dict)
    memory_change: float | None = None  # vs the family default
    time_change: float | None = None
    error: str | None = None  # the assignment could not run (e.g. dtypes the pipeline cannot mix)
    lpips_note: str | None = None  # why the LPIPS cell is n/a (no weights, frames too small)
    reference: str = ""  # the row its metrics compare against: 'all fp32' unless that could not run

    def to_json(self) -> dict[str, Any]:
        from .verdict import json_safe

        return json_safe(self.__dict__.copy())


def assignments(default: Mapping[str, str], components: Sequence[str], dtypes: Sequence[str], *,
                grid: bool = False) -> list[tuple[str, dict[str, str]]]:
    """(label, overrides) in run order: all fp32, default, then one change at a time (or the
    full grid over ``components`` x ``dtypes``). Assignments equal to one already listed are
    dropped, so 'vae=bf16' on a family whose default VAE is bf16 is not run twice."""
    unknown = [c for c in components if c not in default]
    if unknown:
        raise RegressError(f"unknown component(s) {', '.join(unknown)} (components: {', '.join(default)})")
    bad = [d for d in dtypes if canonical_dtype(d) not in DTYPES]
    if bad:
        raise RegressError(f"unknown dtype(s) {', '.join(bad)} (one of {', '.join(DTYPES)})")
    dtypes = [canonical_dtype(d) or d for d in dtypes]
    out: list[tuple[str, dict[str, str]]] = [("all fp32", {c: "fp32" for c in default}), ("default", {})]
    if grid:
        for combo in itertools.product(dtypes, repeat=len(components)):
            ov = dict(zip(components, combo, strict=True))
            out.append((", ".join(f"{c}={d}" for c, d in ov.items()), ov))
    else:
        for c in components:
            for d in dtypes:
                out.append((f"{c}={d}", {c: d}))
    seen: set[tuple] = set()
    unique = []
    for label, ov in out:
        key = tuple(sorted({**default, **ov}.items()))
        if key not in seen:
            seen.add(key)
            unique.append((label, ov))
    return unique


def lpips_request(session: GoldenSession) -> tuple[Any, str | None]:
    """(request, None) when LPIPS backbone weights are found (as a judged run finds them), else
    (None, why not): the table's LPIPS column then says n/a and the reason is printed under it."""
    from .metrics.compare import LpipsRequest
    from .metrics.lpips import LpipsError, Unavailable, resolve_weights

    settings = session.suite.metrics or {}
    try:
        found = resolve_weights(settings.get("lpips_net", "alex"), suite_path=session.suite.path,
                                setting=settings.get("lpips_weights"),
                                setting_sha256=settings.get("lpips_weights_sha256"), store=session.store)
    except LpipsError as exc:
        return None, f"LPIPS weights rejected: {exc}"
    if isinstance(found, Unavailable):
        return None, found.message
    return LpipsRequest(found, settings.get("lpips_precision", "fp32")), None


def _quality(reference: Any, output: Any, device: str, lpips: Any) -> tuple[dict[str, float | None], str | None]:
    """The quality metrics against the reference, and why LPIPS is missing when it is."""
    from .metrics.compare import compare_outputs

    comp = compare_outputs(reference, output, device=device, lpips=lpips)
    keep = ("ssim", "ssim_worst", "psnr", "max_abs", "lpips", "audio_snr", "audio_mel")
    values: dict[str, float | None] = {k: comp.values[k] for k in keep if k in comp.values}
    values.setdefault("lpips", None)
    note = next((f"LPIPS {n}" for k, n in comp.notes.items() if k.endswith("lpips")), None)
    return values, note


def sweep(session: GoldenSession, case: Case, *, components: Sequence[str] | None = None,
          dtypes: Sequence[str] = ("fp32", "bf16"), repeats: int = 3, grid: bool = False,
          progress: Callable[[int, int, str], None] | None = None) -> list[SweepRow]:
    """``progress(done, total, label)`` is called before each assignment runs."""
    runner = get_runner(case.pipeline)
    default = session.precision_for(case, {})
    comps = list(components) if components else list(runner.default_precision)
    plan = assignments(default, comps, dtypes, grid=grid)
    lpips, no_lpips = lpips_request(session)
    rows: list[SweepRow] = []
    reference = None
    reference_label = ""
    for i, (label, ov) in enumerate(plan):
        if progress is not None:
            progress(i, len(plan), label)
        session.pipelines.release()
        try:
            results = [session.run(case, precision=ov) for _ in range(max(1, repeats) + 1)][1:]  # first: warm-up
        except RunnerError as exc:  # one assignment the pipeline cannot run does not end the sweep
            rows.append(SweepRow(label=label, overrides=ov, fingerprint={}, metrics={}, peak_memory=None,
                                 memory_source="none", wall_s=0.0, error=exc.detail))
            continue
        last = results[-1]
        if reference is None:  # all fp32 when it runs; at production size it may not fit
            reference, reference_label = last.output, label
        metrics, note = _quality(reference, last.output, session.device, lpips)
        for r in results:  # only the reference's frames stay on the GPU (regress.metrics.resident)
            if r.output is not reference:
                r.output.keep_on_device()
        rows.append(SweepRow(
            label=label, overrides=ov, fingerprint=last.fingerprint, metrics=metrics,
            lpips_note=no_lpips or note,
            peak_memory=last.perf.peak_memory.get("total"), memory_source=last.perf.memory_source,
            wall_s=statistics.median(r.perf.wall_s for r in results), stages=last.perf.stages,
            stage_memory=dict(last.perf.peak_memory), reference=reference_label))
    session.pipelines.release()
    base = next((r for r in rows if r.label == "default"), None)
    for r in rows:
        if base and base.peak_memory and r.peak_memory is not None:
            r.memory_change = r.peak_memory / base.peak_memory - 1.0
        if base and base.wall_s and not r.error:
            r.time_change = r.wall_s / base.wall_s - 1.0
    return rows


# ---------------------------------------------------------------------- rendering

HEADERS = ("assignment", "fingerprint", "SSIM", "PSNR dB", "LPIPS", "audio SNR dB", "peak MiB", "decode peak MiB",
           "Δ mem vs default", "wall ms", "Δ time")


def _cells(r: SweepRow) -> list[str]:
    def f(v: float | None, fmt: str) -> str:
        return "n/a" if v is None else ("inf" if v == float("inf") else format(v, fmt))

    if r.error:
        return [r.label, f"cannot run: {r.error}"] + ["n/a"] * (len(HEADERS) - 2)
    fp = " ".join(f"{k}:{v}" for k, v in sorted(r.fingerprint.items()))
    mem = None if r.peak_memory is None else r.peak_memory / (1 << 20)
    decode = r.stage_memory.get("decode")
    return [r.label, fp, f(r.metrics.get("ssim"), ".6f"), f(r.metrics.get("psnr"), ".2f"),
            f(r.metrics.get("lpips"), ".4f"), f(r.metrics.get("audio_snr"), ".2f"), f(mem, ".2f"),
            f(None if decode is None else decode / (1 << 20), ".2f"), f(r.memory_change, "+.2%"),
            f(r.wall_s * 1000, ".1f"), f(r.time_change, "+.1%")]


def notes(rows: Sequence[SweepRow]) -> list[str]:
    """What the table cannot say in a cell: why a column is n/a."""
    return sorted({r.lpips_note for r in rows if r.lpips_note and r.metrics.get("lpips") is None})


def _reference(rows: Sequence[SweepRow]) -> str:
    return next((r.reference for r in rows if r.reference), "all fp32")


def render_markdown(case: Case, platform: str, rows: Sequence[SweepRow]) -> str:
    lines = [f"**{case.id}** ({case.pipeline}) on `{platform}`; quality against the {_reference(rows)} run; memory: "
             f"{rows[0].memory_source if rows else 'none'}", "",
             "| " + " | ".join(HEADERS) + " |", "|" + "---|" * len(HEADERS)]
    lines += ["| " + " | ".join(c.replace("|", "\\|") for c in _cells(r)) + " |" for r in rows]
    lines += [""] + [f"n/a: {n}" for n in notes(rows)] if notes(rows) else []
    return "\n".join(lines) + "\n"


def render_rich(case: Case, platform: str, rows: Sequence[SweepRow]) -> Any:
    from rich.table import Table

    t = Table(title=f"{case.id} ({case.pipeline}) on {platform}: quality vs {_reference(rows)}, memory "
                    f"({rows[0].memory_source if rows else 'none'}) and time vs default")
    for h in HEADERS:
        t.add_column(h, overflow="fold")
    for r in rows:
        t.add_row(*_cells(r))
    if notes(rows):
        t.caption = "\n".join(f"n/a: {n}" for n in notes(rows))
    return t
