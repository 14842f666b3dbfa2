"""``index.html`` from a results document: one page a reader can understand a failure from
without re-running anything.

Top: counts (with a red badge for case runs missing from a merged report), the runs it holds,
coverage across platforms and unused goldens (merged reports), and a case x platform grid with
each cell's status and the reason it failed (else its tightest metric), linked to the case
cards. Then one card per case and platform, failures first: golden / actual / diff heat-map
(with its scale) and an overlay slider (for a bit-identical pair, a line that says so in place
of the diff), a frame scrubber with per-frame SSIM for video (1-based frame labels), players and
waveforms for audio, the metric table with each threshold's source, the precision fingerprint
diff, and time and peak memory against the golden's, each gated row marked.

The markup lives in ``templates/`` (jinja2, autoescape on: no value reaches the page
unescaped); this module only prepares values (sizes, formatted numbers; SVG coordinates in
:mod:`.charts`) from the typed records of :mod:`.records`. The page is rendered from
``results.json`` alone (plus media files beside it): a merged report renders like a single run.
"""

from __future__ import annotations

import functools
import json
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from ..status import Status
from .charts import sparkline
from .charts import wave as wave_of
from .impact import impact
from .media_records import AudioTrack, CaseMedia, ImageTrack, MeshTrack, VideoTrack
from .records import CaseResult, Diff, MetricRecord, PerfDiff, PerfRecord, ResultsRecord, StageRow, results_record
from .summary import as_float, cell_text, fmt_value, grid, is_bad, sort_cases

SMALL = 256  # media up to this size are enlarged by an integer factor (pixelated), larger ones shrunk
LARGE = 384
TEMPLATES = Path(__file__).resolve().parent / "templates"
TINY_NOTE = ("model \"tiny\": a random-weight test pipeline; its output looks like noise by design (regress checks "
             "that it does not change, not what it draws)")
WAVE_COLORS = {"golden": "#777777", "actual": "#1f5fbf", "diff": "#b00020"}


@functools.lru_cache(maxsize=1)
def _environment() -> Any:
    """Loaded on the first page (jinja2 stays out of the plugin's import)."""
    import jinja2

    # The compiled templates are cached between processes (jinja2's own cache in the temporary
    # directory, one folder per user): compiling them took 71 ms of a report's 118 ms fixed cost.
    return jinja2.Environment(loader=jinja2.FileSystemLoader(str(TEMPLATES)), autoescape=True,
                              undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True,
                              bytecode_cache=jinja2.FileSystemBytecodeCache())


def anchor(case: CaseResult) -> str:
    return f"case-{case.id}--{case.platform}"


def render_html(doc: ResultsRecord | Mapping[str, Any]) -> str:
    """The page of a results document (parsed once here unless it is a record already)."""
    rec = results_record(doc)
    cases = sort_cases(rec.cases)
    platforms = list(rec.platforms or sorted({c.platform for c in cases}))
    for c in cases:
        if c.platform not in platforms:
            platforms.append(c.platform)
    coverage = rec.coverage
    gaps = len(coverage.missing) if coverage is not None else 0
    n_bad = sum(1 for c in cases if is_bad(c))
    title = f"regress: {n_bad} failing of {len(cases)}" if cases else "regress: no cases"
    if gaps:
        title += f", {gaps} not run"
    return _environment().get_template("page.html.j2").render(
        title=title, platforms=platforms, revision=rec.revision, created=rec.created,
        regress_version=rec.regress_version, counts=list(rec.summary.items()), gaps=gaps,
        runs=[{"platform": r.platform, "shard": r.shard, "worker": r.worker, "source": r.source, "revision": r.revision,
               "created": r.created, "counts": ", ".join(f"{n} {s}" for s, n in r.summary.items())} for r in rec.runs],
        warnings=rec.warnings,
        coverage=({"missing": coverage.missing, "platforms": coverage.platforms} if coverage is not None else None),
        unused=rec.unused_goldens, tiny=any(c.model == "tiny" for c in cases), tiny_note=TINY_NOTE,
        rows=_rows(cases, platforms), cases=[_case(c) for c in cases], impact=impact(rec))


# ---------------------------------------------------------------------------- overview

def _rows(cases: Sequence[CaseResult], platforms: Sequence[str]) -> list[dict[str, Any]]:
    rows = []
    for cid, by_platform in grid(cases, platforms):
        recs = [r for rs in by_platform.values() for r in rs]
        cells: list[dict[str, Any] | None] = []
        for p in platforms:
            rs = by_platform.get(p) or []
            if not rs:
                cells.append(None)
                continue
            worst = min(rs, key=lambda r: (0 if is_bad(r) else 1))
            cells.append({"status": worst.status,
                          "records": [{"href": anchor(r), "status": r.status, "text": cell_text(r)} for r in rs]})
        first = min(recs, key=lambda r: (0 if is_bad(r) else 1))
        rows.append({"id": cid, "href": anchor(first), "bad": any(is_bad(r) for r in recs), "cells": cells})
    return rows


# ---------------------------------------------------------------------------- one case

def _status_class(case: CaseResult) -> str:
    ok = (Status.PASSED, Status.XFAILED, Status.SKIPPED)
    return "bad" if is_bad(case) else ("ok" if case.status in ok else "warn")


def _case(c: CaseResult) -> dict[str, Any]:
    g, golden = c.golden, None
    if g is not None:
        golden = {"where": f"{g.match} ({g.platform})" if g.platform else str(g.match), "revision": g.revision}
    reasons = [{"text": r, "cls": ""} for r in c.reasons]
    reasons += [{"text": w, "cls": "warning"} for w in c.warnings]
    line = c.numerics_line
    if line and (c.regime == "drift" or c.reasons):
        reasons.insert(0, {"text": line, "cls": "numerics"})  # regime first: it frames the rest
    media, files = c.media or CaseMedia(), c.files
    return {
        "id": c.id, "platform": c.platform, "status": c.status, "cls": _status_class(c),
        "anchor": anchor(c), "golden": golden, "kind": c.kind,
        "duration": f"{float(c.duration_s):.2f}" if as_float(c.duration_s) else None,
        "tiny": TINY_NOTE if c.model == "tiny" else None, "reasons": reasons,
        "video": _video(c, media.video) if media.video is not None else None,
        "image": _image(files, media.image) if files.get("golden") or files.get("actual") else None,
        "audio": (_audio(files, media.audio)
                  if media.audio is not None or files.get("audio_golden") or files.get("audio_actual") else None),
        "mesh": _mesh(files, media.mesh) if media.mesh is not None else None,
        "stages": _stages(c.stages), "metrics": _metrics(c.metrics),
        "precision": _precision(c.precision), "perf": _perf(c.perf),
    }


def _display(h: int, w: int) -> tuple[int, int, bool]:
    """Size on the page: small media enlarged by a whole factor (kept crisp), large shrunk."""
    side = max(h, w, 1)
    if side <= SMALL:
        k = max(1, SMALL // side)
        return h * k, w * k, k > 1
    k2 = LARGE / side
    return max(1, round(h * k2)), max(1, round(w * k2)), False


def _figures(src: Mapping[str, str], track: ImageTrack | VideoTrack | MeshTrack | None, what: str,
             diff_caption: str, extra: Mapping[str, Mapping[str, str]] | None = None,
             peak: int | None = None) -> dict[str, Any]:
    """golden / actual / diff figures of an image or a video frame, the overlay, and the
    'identical' stand-in for a bit-identical pair (``peak``: the heat-map's scale, if drawn)."""
    h, w = (int(track.height or 32), int(track.width or 32)) if track is not None else (32, 32)
    dh, dw, px = _display(h, w)
    extra = extra or {}
    same = bool(track is not None and track.identical)
    compare = None
    if src.get("golden") and src.get("actual") and not same:
        compare = {"golden": src["golden"], "actual": src["actual"], "h": dh, "w": dw, "px": px,
                   "extra_golden": extra.get("golden"), "extra_actual": extra.get("actual")}
    figs = [{"src": src[label], "alt": label, "h": dh, "w": dw, "px": px, "extra": extra.get(label),
             "caption": diff_caption if label == "diff" else label,
             "peak": peak if label == "diff" else None}
            for label in ("golden", "actual", "diff") if src.get(label)]
    return {"compare": compare, "figs": figs, "identical": {"what": what, "h": dh, "w": dw} if same else None}


def _image(files: Mapping[str, str], info: ImageTrack | None) -> dict[str, Any]:
    return _figures(files, info, "no pixel differs", "diff (heat-map, scaled to the largest difference)",
                    peak=info.diff_peak if info is not None else None)


def _video(c: CaseResult, info: VideoTrack) -> dict[str, Any]:
    n = int(info.frames or 1)
    dirs, counts = info.dirs, info.counts
    worst = c.worst_frame
    worst = worst if isinstance(worst, int) and not isinstance(worst, bool) else None
    start = worst if worst is not None and 0 <= worst < n else 0
    src = {label: f"{d}/{min(start, int(counts.get(label, n)) - 1):03d}.png" for label, d in dirs.items()}
    extra = {label: {"data-dir": d, "data-count": str(int(counts.get(label, n)))} for label, d in dirs.items()}
    per_frame = c.per_frame
    view = _figures(src, info, "no pixel differs in any frame",
                    "diff (heat-map, scaled to the case's largest difference)", extra, peak=info.diff_peak)
    view.update(fps=info.fps or "", per_frame=json.dumps(per_frame), n=n, start=start, worst=worst,
                spark=sparkline(per_frame.get("ssim") or [], worst))
    return view


def _mesh(files: Mapping[str, str], info: MeshTrack) -> dict[str, Any]:
    """golden / current renders and the per-vertex error colouring, side by side."""
    src = {k: files[f"mesh_{f}"] for k, f in (("golden", "golden"), ("actual", "actual"), ("diff", "error"))
           if files.get(f"mesh_{f}")}
    peak = as_float(info.error_peak)
    view = _figures(src, info, "no vertex moved", "per-vertex error (grey none, yellow the "
                    "largest" + (f": {peak:.3g} of the golden's diagonal)" if peak is not None else ")"))
    n, f = info.vertices, info.faces
    view["note"] = (f"{info.views} fixed views, both meshes in the golden's frame; "
                    + ", ".join(f"{k} {n[k]} vertices / {f.get(k)} faces" for k in ("golden", "actual") if k in n))
    return view


def _audio(files: Mapping[str, str], info: AudioTrack | None) -> dict[str, Any]:
    waves = info.waveform if info is not None else {}
    same = bool(info is not None and info.identical)
    tracks = []
    for label, color in WAVE_COLORS.items():
        env = waves.get(label) or []
        if label == "actual" and same and not env:
            env = waves.get("golden") or []  # the same samples: the golden's shape
        elif label == "diff" and same and not env:
            env = [(0.0, 0.0)]  # no sample differs: the flat line, "peak 0"
        wave = wave_of(env, color)
        src = files.get(f"audio_{label}")
        if not src and not wave:
            continue
        caption = f"{label} audio" + (" (actual - golden)" + (": identical to the golden, no sample differs"
                                                               if same else "") if label == "diff" else "")
        tracks.append({"src": src, "wave": wave, "caption": caption})
    keys = {"channels": info.channels, "sample_rate": info.sample_rate, "samples": info.samples} if info else None
    return {"tracks": tracks, "info": keys}


def _stages(rows: Sequence[StageRow]) -> list[dict[str, Any]]:
    """Per stage checkpoint and step, in pipeline order: the distance from the golden and a bar of
    1 - cosine on a log scale (1e-12 .. 1), so the first stage that moved stands out (none: identical)."""
    out = []
    for r in rows:
        cos, rel = r.cos, r.rel_l2
        text = r.note or (f"cos {f'{cos:.9f}' if isinstance(cos, float) else cos} \u00b7 rel L2 "
                          f"{f'{rel:.3g}' if isinstance(rel, float) else rel}")
        view = {"key": r.key, "text": text, "nan": False, "width": 0}
        if isinstance(cos, str):  # results.json writes a non-finite value as "nan" / "inf" (strict JSON)
            view["nan"] = cos.lower() == "nan"
        elif isinstance(cos, (int, float)) and not isinstance(cos, bool):
            d = 1.0 - float(cos)
            view["nan"] = d != d
            if d > 0:
                view["width"] = max(2, min(100, round((math.log10(d) + 12) / 12 * 100)))
        out.append(view)
    return out


def _metrics(metrics: Mapping[str, MetricRecord]) -> list[dict[str, Any]]:
    rows = []
    for k, m in metrics.items():
        passed = m.passed
        rows.append({"name": k, "value": fmt_value(m.value), "failed": passed is False,
                     "threshold": f"{m.op} {fmt_value(m.threshold)}" if m.threshold is not None else "-",
                     "source": m.source or "",
                     "result": "FAIL" if passed is False else ("pass" if passed else "reported")})
    return rows


def _precision(prec: Diff | None) -> list[dict[str, Any]]:
    if prec is None or not prec.current:
        return []
    current, golden = prec.current, prec.golden or {}
    changed = {r.component for r in prec.changed}
    return [{"component": comp, "changed": comp in changed, "current": current.get(comp, "-"),
             "golden": golden.get(comp, "-") if golden else "no golden"}
            for comp in sorted(set(golden) | set(current))]


def _perf(perf: PerfDiff | None) -> dict[str, Any] | None:
    """Time and memory against the golden's. Only the rows the judge gated (``perf.gates``)
    say so, and only a failing gated row is drawn as a failure: an ungated change (wall time
    on a shared runner) is a number, not an alarm."""
    if perf is None or perf.current is None:
        return None
    cur = perf.current
    gold = perf.golden or PerfRecord()
    rows: list[tuple[str, str, float | None, float | None]] = [("wall time (s)", "wall_s", gold.wall_s, cur.wall_s)]
    gs, cs = gold.stages, cur.stages
    rows += [(f"  {s} (s)", "", gs.get(s), cs.get(s)) for s in sorted(set(gs) | set(cs))]
    if gold.build_s is not None or cur.build_s is not None:
        rows.append(("build (s)", "", gold.build_s, cur.build_s))
    gm, cm = gold.peak_memory, cur.peak_memory
    for s in sorted(set(gm) | set(cm), key=lambda s: (s != "total", s)):
        rows.append((f"peak memory {s} (MiB)", f"peak_memory.{s}", _mib(gm.get(s)), _mib(cm.get(s))))
    out = []
    for name, key, a, b in rows:
        fa, fb = as_float(a), as_float(b)
        gate = perf.gates.get(key) if key else None
        change = f"{(fb / fa - 1.0) * 100:+.1f}%" if fa and fb is not None else ""
        gate_text = None
        if gate is not None:
            gate_text = (f"gated: {'FAIL' if not gate.passed else 'pass'} (tolerance "
                         f"{float(gate.tolerance or 0):.0%})")
        out.append({"name": name, "golden": _num(fa), "current": _num(fb), "change": change, "gate": gate_text,
                    "gate_failed": gate is not None and not gate.passed})
    return {"rows": out, "source": cur.memory_source}


def _mib(x: float | None) -> float | None:
    return None if (f := as_float(x)) is None else f / (1 << 20)


def _num(x: float | None) -> str:
    if x is None:
        return "-"
    return f"{x:.3f}" if abs(x) < 1000 else f"{x:,.0f}"
