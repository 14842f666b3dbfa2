"""``index.html`` from a results document: one page a reader can understand a failure from
without re-running anything.

Top: counts, the runs it holds, coverage across platforms and unused goldens (merged
reports), and a case x platform grid with each cell's status and worst metric against its
threshold. Then one section per case and platform, failures first: golden / actual / diff
heat-map with an overlay slider (for a bit-identical pair, whose actual is the golden's file, a
line that says so in place of both), a frame scrubber with per-frame SSIM for video, players and
waveforms for audio, the metric table with each threshold's source, the precision fingerprint
diff, and time and peak memory against the golden's.

The page is rendered from ``results.json`` alone (plus media files beside it), so a merged
report renders with the same code as a single run.
"""

from __future__ import annotations

import functools
import html
import json
import math
from collections.abc import Mapping, Sequence
from typing import Any

from .static import CSS, JS
from .summary import as_float, fmt_value, grid, is_bad, sort_cases, worst_text

SMALL = 256  # media up to this size are enlarged by an integer factor (pixelated), larger ones shrunk
LARGE = 384


def _e(x: Any) -> str:
    return html.escape("" if x is None else str(x), quote=True)


def anchor(case: Mapping[str, Any]) -> str:
    return f"case-{case['id']}--{case['platform']}"


def _status_class(case: Mapping[str, Any]) -> str:
    return "bad" if is_bad(case) else ("ok" if case["status"] in ("passed", "xfailed", "skipped") else "warn")


def render_html(doc: Mapping[str, Any]) -> str:
    cases = sort_cases(doc.get("cases", []))
    platforms = list(doc.get("platforms") or sorted({c["platform"] for c in cases}))
    for c in cases:
        if c["platform"] not in platforms:
            platforms.append(c["platform"])
    summary = doc.get("summary") or {}
    n_bad = sum(1 for c in cases if is_bad(c))
    title = f"regress: {n_bad} failing of {len(cases)}" if cases else "regress: no cases"
    out = [f"<!doctype html><html lang='en'><head><meta charset='utf-8'>"
           f"<meta name='viewport' content='width=device-width, initial-scale=1'><title>{_e(title)}</title>"
           f"<style>{CSS}</style></head><body>", "<header>", "<h1>regress report</h1>",
           f"<p class='meta'>{_e(', '.join(platforms) or 'no platform')} &middot; store revision "
           f"<code>{_e(doc.get('revision') or 'several (see runs)')}</code> &middot; {_e(doc.get('created'))}"
           f" &middot; regress {_e(doc.get('regress_version'))}</p>",
           "<p class='counts'>" + "".join(f"<span class='badge {_e(s)}'>{n} {_e(s)}</span>"
                                         for s, n in summary.items()) + "</p>",
           "</header>", "<div id='overview'>"]
    out.append(_runs(doc.get("runs") or []))
    out += [f"<p class='gap'>{_e(w)}</p>" for w in doc.get("warnings") or []]
    out.append(_coverage(doc.get("coverage"), doc.get("unused_goldens")))
    out.append("<div class='toolbar'><label><input type='checkbox' id='failures-only'> failures only</label></div>")
    out.append(_summary_table(cases, platforms))
    out.append("</div><main id='cases'>")
    for c in cases:
        out.append(_case_section(c))
    out.append(f"</main><script>{JS}</script></body></html>")
    return "\n".join(out)


# ---------------------------------------------------------------------------- overview

def _runs(runs: Sequence[Mapping[str, Any]]) -> str:
    if len(runs) <= 1:
        return ""
    rows = ["<details id='runs'><summary>" + f"{len(runs)} runs merged</summary><table><tr><th>platform</th>"
            "<th>shard</th><th>worker</th><th>source</th><th>revision</th><th>created</th><th>cases</th></tr>"]
    for r in runs:
        counts = ", ".join(f"{n} {s}" for s, n in (r.get("summary") or {}).items())
        rows.append(f"<tr><td>{_e(r.get('platform'))}</td><td>{_e(r.get('shard') or '')}</td>"
                    f"<td>{_e(r.get('worker') or '')}</td><td>{_e(r.get('source') or '')}</td>"
                    f"<td><code>{_e(r.get('revision'))}</code></td><td>{_e(r.get('created'))}</td>"
                    f"<td>{_e(counts)}</td></tr>")
    rows.append("</table></details>")
    return "".join(rows)


def _coverage(coverage: Mapping[str, Any] | None, unused: Sequence[Sequence[str]] | None) -> str:
    parts = []
    if coverage:
        plats = ", ".join(coverage.get("platforms") or [])
        missing = coverage.get("missing") or []
        if missing:
            items = "".join(f"<li>{_e(m[0])} [{_e(m[1])}]</li>" for m in missing)
            parts.append(f"<div id='coverage' class='gap'>coverage: {len(missing)} case run(s) missing across "
                         f"{_e(plats)}<ul>{items}</ul></div>")
        else:
            parts.append(f"<p id='coverage'>coverage: every case ran on {_e(plats)}</p>")
    if unused:
        items = "".join(f"<li>{_e(c)} [{_e(p)}]</li>" for c, p in unused)
        parts.append(f"<details id='unused'><summary>{len(unused)} golden(s) no case used</summary>"
                     f"<ul>{items}</ul></details>")
    return "".join(parts)


def _summary_table(cases: Sequence[Mapping[str, Any]], platforms: Sequence[str]) -> str:
    out = ["<table id='summary'><thead><tr><th>case</th>" + "".join(f"<th>{_e(p)}</th>" for p in platforms)
           + "</tr></thead><tbody>"]
    for cid, by_platform in grid(cases, platforms):
        recs = [r for rs in by_platform.values() for r in rs]
        row_cls = "bad" if any(is_bad(r) for r in recs) else "ok"
        cells = []
        for p in platforms:
            rs = by_platform.get(p) or []
            if not rs:
                cells.append("<td class='cell none'>did not run</td>")
                continue
            inner = []
            for r in rs:
                worst = worst_text(r)
                inner.append(f"<a href='#{_e(anchor(r))}'><span class='badge {_e(r['status'])}'>{_e(r['status'])}"
                             f"</span><span class='worst'>{_e(worst)}</span></a>")
            worst_status = min(rs, key=lambda r: (0 if is_bad(r) else 1))["status"]
            cells.append(f"<td class='cell {_e(worst_status)}'>{''.join(inner)}</td>")
        out.append(f"<tr class='{row_cls}' data-case='{_e(cid)}'><td><b>{_e(cid)}</b></td>{''.join(cells)}</tr>")
    out.append("</tbody></table>")
    return "".join(out)


# ---------------------------------------------------------------------------- one case

def _case_section(c: Mapping[str, Any]) -> str:
    cls = f"case {_status_class(c)} {_e(c['status'])}"
    parts = [f"<section class='{cls}' id='{_e(anchor(c))}' data-status='{_e(c['status'])}' "
             f"data-case='{_e(c['id'])}' data-platform='{_e(c['platform'])}'>",
             f"<h2>{_e(c['id'])} <small>[{_e(c['platform'])}]</small> "
             f"<span class='badge {_e(c['status'])}'>{_e(c['status'])}</span></h2>"]
    g = c.get("golden") or {}
    if g:
        where = f"{g.get('match')} ({g.get('platform')})" if g.get("platform") else str(g.get("match"))
        parts.append(f"<p class='meta'>golden: {_e(where)} at <code>{_e(g.get('revision'))}</code>"
                     + (f" &middot; kind {_e(c.get('kind'))}" if c.get("kind") else "")
                     + (f" &middot; {float(c['duration_s']):.2f} s" if c.get("duration_s") else "") + "</p>")
    reasons = [f"<li>{_e(r)}</li>" for r in c.get("reasons") or []]
    reasons += [f"<li class='warning'>{_e(w)}</li>" for w in c.get("warnings") or []]
    numerics = c.get("numerics") or {}
    if numerics.get("line") and (numerics.get("regime") == "drift" or c.get("reasons")):
        reasons.insert(0, f"<li class='numerics'>{_e(numerics['line'])}</li>")  # regime first: it frames the rest
    if reasons:
        parts.append("<ul class='reasons'>" + "".join(reasons) + "</ul>")
    media = c.get("media") or {}
    files = c.get("files") or {}
    if "video" in media:
        parts.append(_video(c, media["video"]))
    elif files.get("golden") or files.get("actual"):
        parts.append(_image(c, files, media.get("image") or {}))
    if "audio" in media or files.get("audio_golden") or files.get("audio_actual"):
        parts.append(_audio(files, media.get("audio") or {}))
    if c.get("stages"):
        parts.append(_stages(c["stages"]))
    parts.append("<div class='tables'>" + _metrics(c.get("metrics") or {}) + _precision(c.get("precision") or {})
                 + _perf(c.get("perf") or {}) + "</div>")
    parts.append("</section>")
    return "\n".join(parts)


def _stages(rows: list[dict[str, Any]]) -> str:
    """The distance from the golden per stage checkpoint and step, in pipeline order: a bar of
    1 - cosine on a log scale (1e-12 .. 1) beside the numbers, so the first stage that moved
    stands out; an identical checkpoint draws no bar."""
    import math

    def bar(cos: Any) -> str:
        if not isinstance(cos, (int, float)) or isinstance(cos, bool):
            return ""
        d = 1.0 - float(cos)
        if d != d:
            return "<span class='bar nan'>NaN</span>"
        if d <= 0:
            return ""
        width = max(2, min(100, round((math.log10(d) + 12) / 12 * 100)))
        return f"<span class='bar' style='display:inline-block;background:#c0392b;height:8px;width:{width}px'></span>"

    body = []
    for r in rows:
        cos, rel = r.get("cos"), r.get("rel_l2")
        nums = (_e(r.get("note")) if r.get("note") else
                f"cos {_e(f'{cos:.9f}' if isinstance(cos, float) else cos)} &middot; rel L2 "
                f"{_e(f'{rel:.3g}' if isinstance(rel, float) else rel)}")
        body.append(f"<tr><td><code>{_e(r.get('key'))}</code></td><td>{nums}</td><td>{bar(cos)}</td></tr>")
    return ("<table class='stages'><caption>stage checkpoints: distance from the golden (bar: 1 - cosine, log "
            "scale 1e-12 to 1)</caption><tr><th>checkpoint</th><th>distance</th><th></th></tr>"
            + "".join(body) + "</table>")


def _display(h: int, w: int) -> tuple[int, int, bool]:
    """Size on the page: small media enlarged by a whole factor (kept crisp), large shrunk."""
    side = max(h, w, 1)
    if side <= SMALL:
        k = max(1, SMALL // side)
        return h * k, w * k, k > 1
    k2 = LARGE / side
    return max(1, round(h * k2)), max(1, round(w * k2)), False


def _img(src: str, alt: str, h: int, w: int, px: bool, extra: str = "") -> str:
    cls = " class='px'" if px else ""
    return f"<img src='{_e(src)}' alt='{_e(alt)}' width='{w}' height='{h}'{cls}{extra}>"


def _compare_figure(golden: str, actual: str, h: int, w: int, px: bool, extra_g: str = "", extra_a: str = "") -> str:
    cls = "px " if px else ""
    return (f"<figure class='compare'><div class='stack' style='width:{w}px;height:{h}px'>"
            f"<img class='{cls}under' src='{_e(golden)}' alt='golden (overlay)' width='{w}' height='{h}'{extra_g}>"
            f"<img class='{cls}over' src='{_e(actual)}' alt='actual (overlay)' width='{w}' height='{h}'{extra_a}>"
            f"<div class='divider'></div></div>"
            f"<input class='slider' type='range' min='0' max='100' value='50' aria-label='overlay position'>"
            f"<figcaption>golden &#8592; slide &#8594; actual</figcaption></figure>")


def _image(c: Mapping[str, Any], files: Mapping[str, str], info: Mapping[str, Any]) -> str:
    h, w = int(info.get("height") or 32), int(info.get("width") or 32)
    dh, dw, px = _display(h, w)
    same = bool(info.get("identical"))
    figs = []
    if files.get("golden") and files.get("actual") and not same:
        figs.append(_compare_figure(files["golden"], files["actual"], dh, dw, px))
    for label in ("golden", "actual", "diff"):
        if files.get(label):
            cap = "diff (heat-map, brightest = largest difference)" if label == "diff" else label
            figs.append(f"<figure>{_img(files[label], label, dh, dw, px)}<figcaption>{_e(cap)}</figcaption></figure>")
    if same:
        figs.append(_identical_figure("no pixel differs", dh, dw))
    return f"<div class='media image'>{''.join(figs)}</div>"


def _identical_figure(what: str, h: int, w: int) -> str:
    """Stands where the diff would be for a bit-identical pair (no diff is written for one): a
    frame of the diff's size, so the layout matches a failing case's, that says so in words."""
    box = (f"width:{w}px;height:{h}px;display:flex;align-items:center;justify-content:center;"
           "text-align:center;border:1px dashed #999;background:#fff")
    return (f"<figure class='identical'><div style='{box}'>identical to the golden: {_e(what)}</div>"
            "<figcaption>diff</figcaption></figure>")


def _video(c: Mapping[str, Any], info: Mapping[str, Any]) -> str:
    h, w = int(info.get("height") or 32), int(info.get("width") or 32)
    dh, dw, px = _display(h, w)
    n = int(info.get("frames") or 1)
    dirs: Mapping[str, str] = info.get("dirs") or {}
    counts: Mapping[str, int] = info.get("counts") or {}
    worst = c.get("worst_frame")
    start = worst if isinstance(worst, int) and 0 <= worst < n else 0

    def attrs(label: str) -> str:
        return f" data-dir='{_e(dirs[label])}' data-count='{int(counts.get(label, n))}'"

    def src(label: str) -> str:
        return f"{dirs[label]}/{min(start, int(counts.get(label, n)) - 1):03d}.png"

    same = bool(info.get("identical"))
    figs = []
    if "golden" in dirs and "actual" in dirs and not same:
        figs.append(_compare_figure(src("golden"), src("actual"), dh, dw, px, attrs("golden"), attrs("actual")))
    for label in ("golden", "actual", "diff"):
        if label in dirs:
            cap = "diff (heat-map, scaled to the case's largest difference)" if label == "diff" else label
            figs.append(f"<figure>{_img(src(label), label, dh, dw, px, attrs(label))}"
                        f"<figcaption>{_e(cap)}</figcaption></figure>")
    if same:
        figs.append(_identical_figure("no pixel differs in any frame", dh, dw))
    per_frame = c.get("per_frame") or {}
    jump = (f"<button class='jump' data-frame='{worst}'>worst frame ({worst})</button>"
            if isinstance(worst, int) else "")
    scrub = (f"<div class='scrub'><button class='play'>play</button>"
             f"<input class='frame' type='range' min='0' max='{n - 1}' value='{start}' aria-label='frame'>"
             f"<span class='label'>frame {start} / {n - 1}</span>{jump}</div>")
    return (f"<div class='video' data-fps='{_e(info.get('fps') or '')}' "
            f"data-per-frame='{_e(json.dumps(per_frame))}'>{scrub}"
            f"<div class='media'>{''.join(figs)}</div>{_sparkline(per_frame.get('ssim') or [], worst)}</div>")


def _sparkline(values: Sequence[Any], worst: Any, width: int = 420, height: int = 60) -> str:
    """Per-frame SSIM as a line; the worst frame in red; a cursor follows the scrubber."""
    vals = [as_float(v) for v in values]
    finite = [v for v in vals if v is not None and math.isfinite(v)]
    if len(vals) < 2 or not finite:
        return ""
    lo, hi = min(finite), max(finite)
    if hi - lo < 1e-12:
        lo, hi = lo - 1e-6, hi + 1e-6
    pad = 6
    step = (width - 2 * pad) / (len(vals) - 1)

    def y(v: float | None) -> float:
        if v is None or not math.isfinite(v):
            return height - pad
        return pad + (hi - v) / (hi - lo) * (height - 2 * pad)

    pts = " ".join(f"{pad + i * step:.1f},{y(v):.1f}" for i, v in enumerate(vals))
    mark = ""
    if isinstance(worst, int) and 0 <= worst < len(vals):
        mark = f"<circle cx='{pad + worst * step:.1f}' cy='{y(vals[worst]):.1f}' r='3.5' fill='#b00020'/>"
    return (f"<figure class='spark'><svg class='spark' width='{width}' height='{height}' viewBox='0 0 {width} {height}'>"
            f"<polyline points='{pts}' fill='none' stroke='#1f5fbf' stroke-width='1.5'/>{mark}"
            f"<line class='cursor' data-x0='{pad}' data-step='{step:.3f}' x1='{pad}' x2='{pad}' y1='0' "
            f"y2='{height}' stroke='#999' stroke-dasharray='2,2'/></svg>"
            f"<figcaption>SSIM per frame ({fmt_value(lo)} .. {fmt_value(hi)})</figcaption></figure>")


def _waveform(env: Sequence[Sequence[float]], color: str, width: int = 600, height: int = 70) -> str:
    if not env:
        return ""
    peak = max(max(abs(a), abs(b)) for a, b in env)
    mid = height / 2
    label = f"<text x='4' y='12' font-size='10' fill='#555'>peak {peak:.3g}</text>"
    if not peak:  # a silent track (an identical pair's diff): the flat line, labelled "peak 0"
        return (f"<polyline points='0,{mid:.1f} {width:.1f},{mid:.1f}' fill='none' stroke='{color}' "
                f"stroke-width='1.2'/>{label}")
    k = (mid - 2) / peak
    xs = _wave_xs(len(env), width)
    top = [f"{x},{mid - b * k:.1f}" for x, (_, b) in zip(xs, env, strict=True)]
    bottom = [f"{x},{mid - a * k:.1f}" for x, (a, _) in zip(xs, env, strict=True)]
    bottom.reverse()
    return (f"<polygon points='{' '.join(top + bottom)}' fill='{color}' fill-opacity='0.55' stroke='{color}' "
            f"stroke-width='0.6'/>{label}")


@functools.lru_cache(maxsize=8)
def _wave_xs(n: int, width: int) -> tuple[str, ...]:
    """The x coordinates of an n-point waveform, formatted once per (n, width): every track of
    a report has the same number of points."""
    step = width / max(n - 1, 1)
    return tuple(f"{i * step:.1f}" for i in range(n))


def _audio(files: Mapping[str, str], info: Mapping[str, Any]) -> str:
    waves = info.get("waveform") or {}
    diff_note = ": identical to the golden, no sample differs" if info.get("identical") else ""
    parts = ["<div class='media audio'>"]
    drawn: dict[str, str] = {}
    for label, color in (("golden", "#777777"), ("actual", "#1f5fbf"), ("diff", "#b00020")):
        player = ""
        if files.get(f"audio_{label}"):
            player = f"<audio controls preload='none' src='{_e(files[f'audio_{label}'])}'></audio>"
        if label == "actual" and info.get("identical") and "golden" in drawn:
            svg = drawn["golden"].replace("#777777", color)  # the same samples: the golden's shape
        elif label == "diff" and info.get("identical") and not waves.get("diff"):
            svg = _waveform([[0.0, 0.0]], color)  # no sample differs: the flat line, "peak 0"
        else:
            svg = _waveform(waves.get(label) or [], color)
        drawn[label] = svg
        if not player and not svg:
            continue
        svg_html = f"<svg class='wave' width='600' height='70' viewBox='0 0 600 70'>{svg}</svg>" if svg else ""
        parts.append(f"<figure>{svg_html}{player}<figcaption>{_e(label)} audio"
                     + (f" (actual - golden){diff_note}" if label == "diff" else "") + "</figcaption></figure>")
    if info:
        parts.append(f"<p class='meta'>{_e(info.get('channels'))} channel(s), {_e(info.get('sample_rate'))} Hz, "
                     f"{_e(info.get('samples'))} samples</p>")
    parts.append("</div>")
    return "".join(parts)


def _metrics(metrics: Mapping[str, Mapping[str, Any]]) -> str:
    if not metrics:
        return ""
    rows = ["<div><h3>metrics</h3><table class='metrics'><tr><th>metric</th><th>value</th><th>threshold</th>"
            "<th>threshold source</th><th>result</th></tr>"]
    for k, m in metrics.items():
        passed = m.get("passed")
        cls = " class='bad'" if passed is False else ""
        thr = f"{m.get('op', '')} {fmt_value(m.get('threshold'))}" if m.get("threshold") is not None else "-"
        verdict = "FAIL" if passed is False else ("pass" if passed else "reported")
        rows.append(f"<tr{cls}><td>{_e(k)}</td><td class='num'>{_e(fmt_value(m.get('value')))}</td>"
                    f"<td class='num'>{_e(thr)}</td><td>{_e(m.get('source') or '')}</td><td>{verdict}</td></tr>")
    rows.append("</table></div>")
    return "".join(rows)


def _precision(prec: Mapping[str, Any]) -> str:
    current = prec.get("current") or {}
    if not current:
        return ""
    golden = prec.get("golden") or {}
    changed = {r.get("component") for r in prec.get("changed") or []}
    rows = ["<div><h3>precision fingerprint</h3><table class='precision'><tr><th>component</th>"
            "<th>golden</th><th>now</th></tr>"]
    for comp in sorted(set(golden) | set(current)):
        cls = " class='bad'" if comp in changed else ""
        rows.append(f"<tr{cls}><td>{_e(comp)}</td><td>{_e(golden.get(comp, '-') if golden else 'no golden')}</td>"
                    f"<td>{_e(current.get(comp, '-'))}</td></tr>")
    rows.append("</table></div>")
    return "".join(rows)


def _change(a: float | None, b: float | None, *, lower_is_better: bool = True) -> tuple[str, str]:
    if a is None or b is None or a == 0:
        return "", ""
    pct = (b / a - 1.0) * 100
    cls = ""
    if abs(pct) >= 10:
        cls = "worse" if (pct > 0) == lower_is_better else "better"
    return f"{pct:+.1f}%", cls


def _perf(perf: Mapping[str, Any]) -> str:
    cur, gold = perf.get("current") or {}, perf.get("golden") or {}
    if not cur:
        return ""
    rows: list[tuple[str, Any, Any, bool]] = [("wall time (s)", gold.get("wall_s"), cur.get("wall_s"), False)]
    gs, cs = gold.get("stages") or {}, cur.get("stages") or {}
    rows += [(f"  {s} (s)", gs.get(s), cs.get(s), False) for s in sorted(set(gs) | set(cs))]
    if gold.get("build_s") is not None or cur.get("build_s") is not None:
        rows.append(("build (s)", gold.get("build_s"), cur.get("build_s"), False))
    gm, cm = gold.get("peak_memory") or {}, cur.get("peak_memory") or {}
    stages = sorted(set(gm) | set(cm), key=lambda s: (s != "total", s))
    rows += [(f"peak memory {s} (MiB)", _mib(gm.get(s)), _mib(cm.get(s)), True) for s in stages]
    out = ["<div><h3>time and peak memory</h3><table class='perf'><tr><th></th><th>golden</th><th>now</th>"
           "<th>change</th></tr>"]
    for name, a, b, _mem in rows:
        fa, fb = as_float(a), as_float(b)
        text, cls = _change(fa, fb)
        out.append(f"<tr><td>{_e(name)}</td><td class='num'>{_e(_num(fa))}</td><td class='num'>{_e(_num(fb))}</td>"
                   f"<td class='num {cls}'>{_e(text)}</td></tr>")
    src = cur.get("memory_source")
    out.append("</table>" + (f"<p class='meta'>memory measured by {_e(src)}</p>" if src else "") + "</div>")
    return "".join(out)


def _mib(x: Any) -> float | None:
    f = as_float(x)
    return None if f is None else f / (1 << 20)


def _num(x: float | None) -> str:
    if x is None:
        return "-"
    return f"{x:.3f}" if abs(x) < 1000 else f"{x:,.0f}"
