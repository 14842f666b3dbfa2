"""A plain, self-contained ``index.html``: failures first, golden / actual / diff side by side,
every metric with its threshold and the threshold's source, the precision and perf diffs."""

from __future__ import annotations

import html
from typing import Any

_ORDER = {"error": 0, "failed": 1, "missing": 2, "written": 3, "xfailed": 4, "skipped": 5, "passed": 6}

_CSS = """
body{font:14px/1.4 system-ui,sans-serif;margin:24px;color:#222}
table{border-collapse:collapse;margin:8px 0}td,th{border:1px solid #ccc;padding:3px 8px;text-align:left}
.passed{color:#176f2c}.failed,.error{color:#b00020}.missing,.written{color:#8a5a00}
section.case{border-top:2px solid #ddd;margin-top:20px;padding-top:8px}
figure{display:inline-block;margin:0 12px 0 0;vertical-align:top}
figure img{height:160px;image-rendering:pixelated;border:1px solid #999}
figcaption{font-size:12px;color:#555}.bad{background:#fde7ea}code{font-size:12px}
"""


def _e(x: Any) -> str:
    return html.escape(str(x))


def _worst(case: dict[str, Any]) -> str:
    failing = [(k, m) for k, m in case.get("metrics", {}).items() if m.get("passed") is False]
    gated = failing or [(k, m) for k, m in case.get("metrics", {}).items() if m.get("threshold") is not None]
    if not gated:
        return ""
    k, m = gated[0]
    return f"{k} {m.get('value')} {m.get('op', '')} {m.get('threshold')}"


def render_html(doc: dict[str, Any]) -> str:
    cases = sorted(doc.get("cases", []), key=lambda c: (_ORDER.get(c["status"], 9), c["id"], c["platform"]))
    summary = ", ".join(f"{n} {s}" for s, n in doc.get("summary", {}).items())
    out = [f"<!doctype html><html><head><meta charset='utf-8'><title>regress report</title><style>{_CSS}</style>"
           "</head><body>",
           f"<h1>regress report</h1><p>platform <b>{_e(doc.get('platform'))}</b> &middot; store revision "
           f"<code>{_e(doc.get('revision'))}</code> &middot; {_e(summary)} &middot; {_e(doc.get('created'))}</p>",
           "<table id='summary'><tr><th>case</th><th>platform</th><th>status</th><th>worst metric</th></tr>"]
    for c in cases:
        out.append(f"<tr><td><a href='#{_e(c['id'])}-{_e(c['platform'])}'>{_e(c['id'])}</a></td>"
                   f"<td>{_e(c['platform'])}</td><td class='{_e(c['status'])}'>{_e(c['status'])}</td>"
                   f"<td>{_e(_worst(c))}</td></tr>")
    out.append("</table>")
    for c in cases:
        out.append(_case_section(c))
    out.append("</body></html>")
    return "\n".join(out)


def _case_section(c: dict[str, Any]) -> str:
    parts = [f"<section class='case' id='{_e(c['id'])}-{_e(c['platform'])}' data-status='{_e(c['status'])}'>",
             f"<h2>{_e(c['id'])} <small>[{_e(c['platform'])}]</small> <span class='{_e(c['status'])}'>"
             f"{_e(c['status'])}</span></h2>"]
    g = c.get("golden") or {}
    if g:
        parts.append(f"<p>golden: {_e(g.get('match'))} ({_e(g.get('platform'))}) at <code>{_e(g.get('revision'))}"
                     "</code></p>")
    for r in c.get("reasons", []):
        parts.append(f"<p class='failed'>{_e(r)}</p>")
    for w in c.get("warnings", []):
        parts.append(f"<p class='missing'>{_e(w)}</p>")
    files = c.get("files", {})
    if files:
        figs = []
        for label in ("golden", "actual", "diff"):
            if label in files:
                figs.append(f"<figure><img src='{_e(files[label])}' alt='{label}'><figcaption>{label}</figcaption>"
                            "</figure>")
        parts.append("<div>" + "".join(figs) + "</div>")
        if c.get("worst_frame") is not None:
            parts.append(f"<p>worst frame: {_e(c['worst_frame'])}</p>")
    metrics = c.get("metrics", {})
    if metrics:
        parts.append("<table><tr><th>metric</th><th>value</th><th>threshold</th><th>source</th><th>passed</th></tr>")
        for k, m in metrics.items():
            cls = " class='bad'" if m.get("passed") is False else ""
            thr = f"{m.get('op', '')} {m.get('threshold')}" if m.get("threshold") is not None else "(reported)"
            parts.append(f"<tr{cls}><td>{_e(k)}</td><td>{_e(m.get('value'))}</td><td>{_e(thr)}</td>"
                         f"<td>{_e(m.get('source') or '')}</td><td>{_e(m.get('passed'))}</td></tr>")
        parts.append("</table>")
    prec = c.get("precision") or {}
    if prec.get("current"):
        changed = {r["component"] for r in prec.get("changed", [])}
        golden = prec.get("golden") or {}
        parts.append("<table><tr><th>component</th><th>golden dtype</th><th>current dtype</th></tr>")
        for comp in sorted(set(golden) | set(prec["current"])):
            cls = " class='bad'" if comp in changed else ""
            parts.append(f"<tr{cls}><td>{_e(comp)}</td><td>{_e(golden.get(comp, '-'))}</td>"
                         f"<td>{_e(prec['current'].get(comp, '-'))}</td></tr>")
        parts.append("</table>")
    perf = c.get("perf") or {}
    cur, gold = perf.get("current") or {}, perf.get("golden") or {}
    if cur:
        gm, cm = gold.get("peak_memory") or {}, cur.get("peak_memory") or {}
        rows = [("wall time (s)", gold.get("wall_s"), cur.get("wall_s"))]
        rows += [(f"peak memory {s} (MiB)", _mib(gm.get(s)), _mib(cm.get(s))) for s in sorted(set(gm) | set(cm))]
        parts.append("<table><tr><th>perf</th><th>golden</th><th>current</th></tr>")
        for name, a, b in rows:
            parts.append(f"<tr><td>{_e(name)}</td><td>{_e(_num(a))}</td><td>{_e(_num(b))}</td></tr>")
        parts.append("</table>")
    parts.append("</section>")
    return "\n".join(parts)


def _mib(x: Any) -> float | None:
    return None if x is None else x / (1 << 20)


def _num(x: Any) -> str:
    if x is None:
        return "-"
    return f"{x:.3f}" if isinstance(x, float) else str(x)
