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
:mod:`.charts`). The
page is rendered from ``results.json`` alone (plus media files beside it), so a merged report
renders with the same code as a single run.
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


def anchor(case: Mapping[str, Any]) -> str:
    return f"case-{case['id']}--{case['platform']}"


def render_html(doc: Mapping[str, Any]) -> str:
    cases = sort_cases(doc.get("cases", []))
    platforms = list(doc.get("platforms") or sorted({c["platform"] for c in cases}))
    for c in cases:
        if c["platform"] not in platforms:
            platforms.append(c["platform"])
    coverage = doc.get("coverage")
    gaps = len((coverage or {}).get("missing") or [])
    n_bad = sum(1 for c in cases if is_bad(c))
    title = f"regress: {n_bad} failing of {len(cases)}" if cases else "regress: no cases"
    if gaps:
        title += f", {gaps} not run"
    return _environment().get_template("page.html.j2").render(
        title=title, platforms=platforms, revision=doc.get("revision"), created=doc.get("created"),
        regress_version=doc.get("regress_version"), counts=list((doc.get("summary") or {}).items()), gaps=gaps,
        runs=[{**r, "counts": ", ".join(f"{n} {s}" for s, n in (r.get("summary") or {}).items())}
              for r in doc.get("runs") or []],
        warnings=doc.get("warnings") or [], coverage=coverage, unused=doc.get("unused_goldens"),
        tiny=any(c.get("model") == "tiny" for c in cases), tiny_note=TINY_NOTE,
        rows=_rows(cases, platforms), cases=[_case(c) for c in cases], impact=impact(doc))


# ---------------------------------------------------------------------------- overview

def _rows(cases: Sequence[Mapping[str, Any]], platforms: Sequence[str]) -> list[dict[str, Any]]:
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
            cells.append({"status": worst["status"],
                          "records": [{"href": anchor(r), "status": r["status"], "text": cell_text(r)} for r in rs]})
        first = min(recs, key=lambda r: (0 if is_bad(r) else 1))
        rows.append({"id": cid, "href": anchor(first), "bad": any(is_bad(r) for r in recs), "cells": cells})
    return rows


# ---------------------------------------------------------------------------- one case

def _status_class(case: Mapping[str, Any]) -> str:
    ok = (Status.PASSED, Status.XFAILED, Status.SKIPPED)
    return "bad" if is_bad(case) else ("ok" if case["status"] in ok else "warn")


def _case(c: Mapping[str, Any]) -> dict[str, Any]:
    g = c.get("golden") or {}
    golden = None
    if g:
        where = f"{g.get('match')} ({g.get('platform')})" if g.get("platform") else str(g.get("match"))
        golden = {"where": where, "revision": g.get("revision")}
    reasons = [{"text": r, "cls": ""} for r in c.get("reasons") or []]
    reasons += [{"text": w, "cls": "warning"} for w in c.get("warnings") or []]
    numerics = c.get("numerics") or {}
    if numerics.get("line") and (numerics.get("regime") == "drift" or c.get("reasons")):
        reasons.insert(0, {"text": numerics["line"], "cls": "numerics"})  # regime first: it frames the rest
    media, files = c.get("media") or {}, c.get("files") or {}
    view: dict[str, Any] = {
        "id": c["id"], "platform": c["platform"], "status": c["status"], "cls": _status_class(c),
        "anchor": anchor(c), "golden": golden, "kind": c.get("kind"),
        "duration": f"{float(c['duration_s']):.2f}" if as_float(c.get("duration_s")) else None,
        "tiny": TINY_NOTE if c.get("model") == "tiny" else None, "reasons": reasons,
        "video": _video(c, media["video"]) if "video" in media else None,
        "image": _image(files, media.get("image") or {}) if files.get("golden") or files.get("actual") else None,
        "audio": (_audio(files, media.get("audio") or {})
                  if "audio" in media or files.get("audio_golden") or files.get("audio_actual") else None),
        "mesh": _mesh(files, media["mesh"]) if "mesh" in media else None,
        "stages": _stages(c.get("stages") or []), "metrics": _metrics(c.get("metrics") or {}),
        "precision": _precision(c.get("precision") or {}), "perf": _perf(c.get("perf") or {}),
    }
    return view


def _display(h: int, w: int) -> tuple[int, int, bool]:
    """Size on the page: small media enlarged by a whole factor (kept crisp), large shrunk."""
    side = max(h, w, 1)
    if side <= SMALL:
        k = max(1, SMALL // side)
        return h * k, w * k, k > 1
    k2 = LARGE / side
    return max(1, round(h * k2)), max(1, round(w * k2)), False


def _figures(src: Mapping[str, str], info: Mapping[str, Any], what: str, diff_caption: str,
             extra: Mapping[str, Mapping[str, str]] | None = None) -> dict[str, Any]:
    """golden / actual / diff figures of an image or a video frame, the overlay, and the
    'identical' stand-in for a bit-identical pair."""
    h, w = int(info.get("height") or 32), int(info.get("width") or 32)
    dh, dw, px = _display(h, w)
    extra = extra or {}
    same = bool(info.get("identical"))
    compare = None
    if src.get("golden") and src.get("actual") and not same:
        compare = {"golden": src["golden"], "actual": src["actual"], "h": dh, "w": dw, "px": px,
                   "extra_golden": extra.get("golden"), "extra_actual": extra.get("actual")}
    figs = [{"src": src[label], "alt": label, "h": dh, "w": dw, "px": px, "extra": extra.get(label),
             "caption": diff_caption if label == "diff" else label,
             "peak": info.get("diff_peak") if label == "diff" else None}
            for label in ("golden", "actual", "diff") if src.get(label)]
    return {"compare": compare, "figs": figs, "identical": {"what": what, "h": dh, "w": dw} if same else None}


def _image(files: Mapping[str, str], info: Mapping[str, Any]) -> dict[str, Any]:
    return _figures(files, info, "no pixel differs", "diff (heat-map, scaled to the largest difference)")


def _video(c: Mapping[str, Any], info: Mapping[str, Any]) -> dict[str, Any]:
    n = int(info.get("frames") or 1)
    dirs: Mapping[str, str] = info.get("dirs") or {}
    counts: Mapping[str, int] = info.get("counts") or {}
    worst = c.get("worst_frame")
    worst = worst if isinstance(worst, int) and not isinstance(worst, bool) else None
    start = worst if worst is not None and 0 <= worst < n else 0
    src = {label: f"{d}/{min(start, int(counts.get(label, n)) - 1):03d}.png" for label, d in dirs.items()}
    extra = {label: {"data-dir": d, "data-count": str(int(counts.get(label, n)))} for label, d in dirs.items()}
    per_frame = c.get("per_frame") or {}
    view = _figures(src, info, "no pixel differs in any frame",
                    "diff (heat-map, scaled to the case's largest difference)", extra)
    view.update(fps=info.get("fps") or "", per_frame=json.dumps(per_frame), n=n, start=start, worst=worst,
                spark=sparkline(per_frame.get("ssim") or [], worst))
    return view


def _mesh(files: Mapping[str, str], info: Mapping[str, Any]) -> dict[str, Any]:
    """golden / current renders and the per-vertex error colouring, side by side."""
    src = {k: files[f"mesh_{f}"] for k, f in (("golden", "golden"), ("actual", "actual"), ("diff", "error"))
           if files.get(f"mesh_{f}")}
    peak = as_float(info.get("error_peak"))
    view = _figures(src, {**info, "diff_peak": None}, "no vertex moved", "per-vertex error (grey none, yellow the "
                    "largest" + (f": {peak:.3g} of the golden's diagonal)" if peak is not None else ")"))
    n, f = info.get("vertices") or {}, info.get("faces") or {}
    view["note"] = (f"{info.get('views')} fixed views, both meshes in the golden's frame; "
                    + ", ".join(f"{k} {n[k]} vertices / {f.get(k)} faces" for k in ("golden", "actual") if k in n))
    return view


def _audio(files: Mapping[str, str], info: Mapping[str, Any]) -> dict[str, Any]:
    waves = info.get("waveform") or {}
    same = bool(info.get("identical"))
    tracks = []
    for label, color in WAVE_COLORS.items():
        env = waves.get(label) or []
        if label == "actual" and same and not env:
            env = waves.get("golden") or []  # the same samples: the golden's shape
        elif label == "diff" and same and not env:
            env = [[0.0, 0.0]]  # no sample differs: the flat line, "peak 0"
        wave = wave_of(env, color)
        src = files.get(f"audio_{label}")
        if not src and not wave:
            continue
        caption = f"{label} audio" + (" (actual - golden)" + (": identical to the golden, no sample differs"
                                                               if same else "") if label == "diff" else "")
        tracks.append({"src": src, "wave": wave, "caption": caption})
    keys = ("channels", "sample_rate", "samples")
    return {"tracks": tracks, "info": {k: info.get(k) for k in keys} if info else None}


def _stages(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per stage checkpoint and step, in pipeline order: the distance from the golden and a
    bar of 1 - cosine on a log scale (1e-12 .. 1), so the first stage that moved stands out;
    an identical checkpoint draws no bar."""
    out = []
    for r in rows:
        cos, rel = r.get("cos"), r.get("rel_l2")
        text = r.get("note") or (f"cos {f'{cos:.9f}' if isinstance(cos, float) else cos} \u00b7 rel L2 "
                                 f"{f'{rel:.3g}' if isinstance(rel, float) else rel}")
        view = {"key": r.get("key"), "text": text, "nan": False, "width": 0}
        if isinstance(cos, (int, float)) and not isinstance(cos, bool):
            d = 1.0 - float(cos)
            view["nan"] = d != d
            if d > 0:
                view["width"] = max(2, min(100, round((math.log10(d) + 12) / 12 * 100)))
        out.append(view)
    return out


def _metrics(metrics: Mapping[str, Mapping[str, Any]]) -> list[dict[str, Any]]:
    rows = []
    for k, m in metrics.items():
        passed = m.get("passed")
        rows.append({"name": k, "value": fmt_value(m.get("value")), "failed": passed is False,
                     "threshold": f"{m.get('op', '')} {fmt_value(m.get('threshold'))}"
                     if m.get("threshold") is not None else "-",
                     "source": m.get("source") or "",
                     "result": "FAIL" if passed is False else ("pass" if passed else "reported")})
    return rows


def _precision(prec: Mapping[str, Any]) -> list[dict[str, Any]]:
    current = prec.get("current") or {}
    if not current:
        return []
    golden = prec.get("golden") or {}
    changed = {r.get("component") for r in prec.get("changed") or []}
    return [{"component": comp, "changed": comp in changed, "current": current.get(comp, "-"),
             "golden": golden.get(comp, "-") if golden else "no golden"}
            for comp in sorted(set(golden) | set(current))]


def _perf(perf: Mapping[str, Any]) -> dict[str, Any] | None:
    """Time and memory against the golden's. Only the rows the judge gated (``perf.gates``)
    say so, and only a failing gated row is drawn as a failure: an ungated change (wall time
    on a shared runner) is a number, not an alarm."""
    cur, gold = perf.get("current") or {}, perf.get("golden") or {}
    if not cur:
        return None
    gates = perf.get("gates") or {}
    rows: list[tuple[str, str, Any, Any]] = [("wall time (s)", "wall_s", gold.get("wall_s"), cur.get("wall_s"))]
    gs, cs = gold.get("stages") or {}, cur.get("stages") or {}
    rows += [(f"  {s} (s)", "", gs.get(s), cs.get(s)) for s in sorted(set(gs) | set(cs))]
    if gold.get("build_s") is not None or cur.get("build_s") is not None:
        rows.append(("build (s)", "", gold.get("build_s"), cur.get("build_s")))
    gm, cm = gold.get("peak_memory") or {}, cur.get("peak_memory") or {}
    for s in sorted(set(gm) | set(cm), key=lambda s: (s != "total", s)):
        rows.append((f"peak memory {s} (MiB)", f"peak_memory.{s}", _mib(gm.get(s)), _mib(cm.get(s))))
    out = []
    for name, key, a, b in rows:
        fa, fb = as_float(a), as_float(b)
        gate = gates.get(key) if key else None
        change = f"{(fb / fa - 1.0) * 100:+.1f}%" if fa and fb is not None else ""
        gate_text = None
        if gate:
            gate_text = (f"gated: {'FAIL' if not gate.get('passed') else 'pass'} (tolerance "
                         f"{float(gate.get('tolerance') or 0):.0%})")
        out.append({"name": name, "golden": _num(fa), "current": _num(fb), "change": change, "gate": gate_text,
                    "gate_failed": bool(gate) and not gate.get("passed")})
    return {"rows": out, "source": cur.get("memory_source")}


def _mib(x: Any) -> float | None:
    f = as_float(x)
    return None if f is None else f / (1 << 20)


def _num(x: float | None) -> str:
    if x is None:
        return "-"
    return f"{x:.3f}" if abs(x) < 1000 else f"{x:,.0f}"
