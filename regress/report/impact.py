"""The impact table of an A/B run: what a change did to each case, as a reviewer reads it.

Why: the pull request regress was born from carried a hand-made table (Qwen-Image peak memory
64098 MB -> 58518 MB, -8.71%, quality acceptable). An A/B run (:mod:`regress.ab`) has every
figure of that table, measured on one machine: per case what changed (dtypes, settings, the
first diverging stage), the output metrics against the base, peak memory and time before and
after. Cases that did not move are counted, not listed. A reader of ``results.json`` only: the
same Markdown goes to ``impact.md``, the GitHub job summary (a PR comment body) and the HTML
report.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any

from .summary import as_float

IMPACT_FILE = "impact.md"
_OUTPUT_METRICS = (("ssim", "ssim", "{:.6g}"), ("psnr", "psnr", "{:.4g} dB"), ("max_abs", "max_abs", "{:g}/255"),
                   ("audio_snr", "audio snr", "{:.4g} dB"), ("lpips", "lpips", "{:.4g}"))


def ab_cases(doc: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    return [c for c in doc.get("cases") or [] if isinstance(c, Mapping) and isinstance(c.get("ab"), Mapping)
            and c["ab"]]


def _before_after(before: Any, after: Any, fmt: Any, unit: str) -> str:
    """'9.47 → 19.89 MiB (+109.9%)'."""
    a, b = as_float(before), as_float(after)
    if a is None and b is None:
        return "–"
    text = f"{fmt(a) if a is not None else '–'} → {fmt(b) if b is not None else '–'}{unit}"
    if a and b is not None:
        text += f" ({(b - a) / a * 100:+.1f}%)"
    return text


def _what_changed(ab: Mapping[str, Any]) -> str:
    parts = [f"{r.get('component')} {r.get('golden')} → {r.get('current')}"
             for r in (ab.get("precision") or {}).get("changed") or []]
    parts += [f"{r.get('setting')} {r.get('golden')} → {r.get('current')}"
              for r in (ab.get("settings") or {}).get("changed") or []]
    first = next((r for r in list(ab.get("reasons") or []) + list(ab.get("warnings") or [])
                  if isinstance(r, str) and r.startswith("first divergence: ")), None)
    if first:
        where = first.removeprefix("first divergence: ")
        parts.append("only the decoded output (every checkpoint matches)" if where.startswith("after the last")
                     else f"first diverges in {where.split(' (')[0]}")
    return "; ".join(parts) or "outputs only"


def _metrics(ab: Mapping[str, Any]) -> str:
    metrics = ab.get("metrics") or {}
    out = []
    for key, label, fmt in _OUTPUT_METRICS:
        m = metrics.get(key)
        v = as_float(m.get("value")) if isinstance(m, Mapping) else None
        if v is None or (key == "psnr" and math.isinf(v)):
            continue
        out.append(f"{label} {fmt.format(v)}")
    return ", ".join(out) or "–"


def _perf(ab: Mapping[str, Any]) -> tuple[str, str]:
    """(peak memory, wall time) before and after: the whole call's figures."""
    perf = ab.get("perf") or {}
    golden, current = perf.get("golden") or {}, perf.get("current") or {}
    mem = _before_after((golden.get("peak_memory") or {}).get("total"), (current.get("peak_memory") or {}).get("total"),
                        lambda v: f"{v / 2**20:.2f}", " MiB")
    return mem, _before_after(golden.get("wall_s"), current.get("wall_s"), lambda v: f"{v:.3g}", " s")


def impact(doc: Mapping[str, Any]) -> dict[str, Any] | None:
    """The impact of an A/B results document as rows (the HTML report's section and the
    Markdown are both made from it); None when the document has no A/B records."""
    cases = ab_cases(doc)
    if not cases:
        return None
    moved = [c for c in cases if c["ab"].get("moved")]
    missing = [c["id"] for c in cases if c["ab"].get("status") == "missing"]
    rows = []
    for c in moved:
        ab = c["ab"]
        mem, time = _perf(ab)
        rows.append({"id": c["id"], "status": ab.get("status"), "what": _what_changed(ab), "metrics": _metrics(ab),
                     "memory": mem, "time": time})
    return {"against": next((c["ab"].get("against") for c in cases if c["ab"].get("against")), "the base"),
            "platform": doc.get("platform") or "this machine", "rows": rows,
            "still": len(cases) - len(moved) - len(missing), "missing": missing}


def markdown(doc: Mapping[str, Any]) -> str:
    """The impact table of an A/B results document ('' when it has no A/B records)."""
    found = impact(doc)
    if found is None:
        return ""
    lines = [f"## Impact against {found['against']} on {found['platform']}", ""]
    if found["rows"]:
        lines += ["| case | verdict | what changed | against the base | peak memory | time |",
                  "| --- | --- | --- | --- | --- | --- |"]
        lines += [f"| {r['id']} | {r['status']} | {_md(r['what'])} | {_md(r['metrics'])} | {r['memory']} | {r['time']} |"
                  for r in found["rows"]]
        lines.append("")
    lines.append(f"{found['still']} case(s) did not move (same output bits, dtypes and settings)"
                 + (f"; {len(found['rows'])} moved" if found["rows"] else ": no output moved") + ".")
    if found["missing"]:
        lines.append(f"{len(found['missing'])} case(s) have no run in the base: {', '.join(found['missing'])}.")
    return "\n".join(lines) + "\n"


def _md(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def any_moved(cases: Iterable[Mapping[str, Any]]) -> bool:
    return any(isinstance(c.get("ab"), Mapping) and c["ab"].get("moved") for c in cases)
