"""The mutation benchmark: do realistic regressions that change no dtype fail the suite?

Why (issue 22, item 4): the precision fingerprint catches every dtype flip by construction,
so ``bench_detection.py`` says little about the changes that reach production unnoticed: a
scheduler constant, a norm epsilon, an attention scale, a prompt edited by a wrapper, a
process-wide precision flag. ``benchmarks/mutants.py`` holds such changes as small in-process
patches of diffusers and torch; this benchmark runs the golden suite under each one, on each
kernel path of this CPU, and judges every run the way a user's run is judged (a
:class:`~regress.session.GoldenSession`, its ``check`` and ``judge``), in both regimes:

* **exact**: against goldens made here, on this kernel path, by the unmutated suite (a
  temporary copy of the store, refreshed with update mode ``all``; ``--exact-store fresh``
  starts from an empty store instead, so the goldens carry no drift bounds);
* **drift**: against the committed store's golden of *another* kernel path of the same
  machine kind (``Options(platform=KEY)``: the session files itself under that key, finds the
  golden as its own, sees that the kernel probe differs and judges with that golden's measured
  drift bounds). On the default AMX path that is ``cpu-avx512bf16``, on the AVX512-BF16 path
  ``cpu-amx``, on the AVX2 path ``cpu-amx``, on the ATen-default path ``cpu-avx2``
  (``--drift-key`` changes it);
* **adopted**: against a copy of the committed store holding this path's *references* of that
  drift golden, adopted from the unmutated runs (``regress adopt``'s machinery): each run is
  judged exactly against its reference and against the reviewed golden with drift bounds;
* **A/B**: against the unmutated runs recorded with ``--golden-record`` (``--golden-baseline``'s
  judgement alone: what ``regress ab`` reports).

Each kernel path runs in a fresh Python process with its environment (oneDNN and ATen pick
their ISA when the process starts). Per (mutant, case) pair a worker records: whether the
output moved at all against the unmutated run on the same path (bit-identical or not);
whether it moved beyond the suite's exact-regime thresholds (output tracks and stage
checkpoints, re-judged with the exact thresholds whatever regime the verdict was in;
precision, settings and perf reasons are ignored); and each regime's verdict status and line.
A case that raises under a mutant is an ``error``, which counts as caught. *Missed* means
beyond the exact thresholds, yet the verdict passed. In the drift regime a pair is counted only
when the unmutated case passes there (a case that fails unmutated cannot tell a mutant apart).

Before each mutant the process's identity cache is forgotten, so the kernel probe is measured
as it would be in a user's process that carries the regression (on a regress whose probe runs
in-process, a patched ``scaled_dot_product_attention`` reaches the probe: the attention-scale
mutant then lands in the drift regime and is judged by loose bounds).

Run (all four paths, 18 mutants x 8 cases, two unmutated reruns: 6.5-8 minutes on a 2-core Xeon
with AMX shared with other work, 2026-12-07; a path takes 41-49 s when the machine is quiet)::

    python3 benchmarks/bench_mutants.py                                  # every path this CPU takes
    python3 benchmarks/bench_mutants.py --paths default,aten-default --markdown
    python3 benchmarks/bench_mutants.py --paths default -k flux --mutants attn-scale,rope-theta
    python3 benchmarks/bench_mutants.py --repeat-unchanged 3 --json /tmp/mutants.json
    python3 benchmarks/bench_mutants.py --from-json /tmp/mutants.json --markdown   # its tables again

Paths: ``default`` (no cap), ``avx512bf16`` (``ONEDNN_MAX_CPU_ISA=AVX512_CORE_BF16``), ``avx2``
(``ATEN_CPU_CAPABILITY=avx2 ONEDNN_MAX_CPU_ISA=AVX2``), ``aten-default``
(``ATEN_CPU_CAPABILITY=default ONEDNN_MAX_CPU_ISA=AVX2``: ATen without SIMD kernels and oneDNN
as on a CPU without AVX-512; ATen's default alone beside AMX kernels makes SDPA raise on an AMX
Xeon); by default every one that gives this CPU a platform key of its own. A case that does not
run unmutated on a path is left out of that path, and the report says why
(``--paths aten-default-only`` runs ``ATEN_CPU_CAPABILITY=default`` alone).
``--repeat-unchanged N`` reruns the unmutated suite N more times against the exact goldens and
counts its failures (false alarms). Output bits are never compared across CPUs or paths: only
runs of one process are.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
KERNEL_ENV = ("ONEDNN_MAX_CPU_ISA", "DNNL_MAX_CPU_ISA", "ATEN_CPU_CAPABILITY")
STAGE_METRICS = ("stage_cos", "stage_rel_l2")
CAUGHT = ("failed", "error")


@dataclass(frozen=True)
class KernelPath:
    label: str
    env: Mapping[str, str]
    aten: str | None = None  # the ATen capability it asks for (None: the CPU's best)
    onednn: str = "ALL"  # the oneDNN ISA cap


PATHS = (
    KernelPath("default", {}),
    KernelPath("avx512bf16", {"ONEDNN_MAX_CPU_ISA": "AVX512_CORE_BF16"}, onednn="AVX512_CORE_BF16"),
    KernelPath("avx2", {"ATEN_CPU_CAPABILITY": "avx2", "ONEDNN_MAX_CPU_ISA": "AVX2"}, aten="avx2", onednn="AVX2"),
    # ATen without SIMD kernels: the nearest stand-in here for an ARM or pre-AVX2 CPU. oneDNN is
    # capped at AVX2 as on such a CPU: with AMX kernels left on, ATen's scalar SDPA raises
    # "pack_vnni2 is only supported when avx512 is supported" in 6 of the 8 tiny cases.
    KernelPath("aten-default", {"ATEN_CPU_CAPABILITY": "default", "ONEDNN_MAX_CPU_ISA": "AVX2"}, aten="default",
               onednn="AVX2"),
    # ATen's default as the only cap (not run unless asked for: on an AMX Xeon most cases raise).
    KernelPath("aten-default-only", {"ATEN_CPU_CAPABILITY": "default"}, aten="default"),
)
# The committed golden each platform is judged against in the drift regime: another kernel
# path of the same CPU kind (the nearest one that computes differently).
DRIFT_GOLDEN = {"cpu-amx": "cpu-avx512bf16", "cpu-avx512bf16": "cpu-amx", "cpu-avx2": "cpu-amx",
                "cpu-default": "cpu-avx2", "cpu-avx512": "cpu-avx512bf16", "cpu-avx512fp16": "cpu-amx"}


# --------------------------------------------------------------------------- the machine


def cpu_flags() -> set[str]:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith(("flags", "Features")):
                    return set(line.partition(":")[2].split())
    except OSError:
        pass
    return set()


def expected_key(path: KernelPath, flags: set[str]) -> str:
    """The platform key a process on ``path`` files goldens under (regress.probe.cpu_tier),
    predicted from the CPU's flags without starting torch."""
    from regress.probe import cpu_tier

    best = ("avx512" if {"avx512f", "avx512bw", "avx512vl", "avx512dq"} <= flags
            else "avx2" if {"avx2", "fma"} <= flags else "default")
    rank = ("default", "avx2", "avx512")
    aten = path.aten if path.aten and rank.index(path.aten) <= rank.index(best) else best
    return "cpu-" + cpu_tier(flags=frozenset(flags), aten_capability=aten, cap=path.onednn)


def runnable_paths(flags: set[str]) -> list[tuple[KernelPath, str]]:
    """The paths that give this CPU a platform key of its own (a cap above what the CPU has
    runs the default kernels again), with that key."""
    seen: set[str] = set()
    out = []
    for p in PATHS:
        key = expected_key(p, flags)
        if key not in seen:
            seen.add(key)
            out.append((p, key))
    return out


def machine() -> dict[str, str]:
    """lscpu's model name, the kernel-picking ISA flags, the library versions, the date."""
    from importlib import metadata

    from regress.probe import ISA_FLAGS

    model = ""
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, timeout=30).stdout
        model = next((ln.split(":", 1)[1].strip() for ln in out.splitlines() if ln.startswith("Model name")), "")
    except (OSError, subprocess.SubprocessError):
        pass
    flags = cpu_flags()
    versions = {}
    for name in ("torch", "diffusers", "transformers"):
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "-"
    return {"model": model or "unknown", "cores": str(os.cpu_count()),
            "isa": " ".join(f for f in ISA_FLAGS if f in flags) or "-",
            **versions, "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")}


# --------------------------------------------------------------------------- the worker


@dataclass
class Judged:
    """One regime's verdict on one run, as the table needs it."""

    status: str
    regime: str | None
    line: str
    caught_by: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {"status": self.status, "regime": self.regime, "line": self.line, "caught_by": self.caught_by}


def _caught_by(verdict: Any) -> list[str]:
    """Which gates failed a verdict: 'output' / 'stages' (metrics), 'precision', 'settings',
    'memory', 'error', 'other'."""
    if verdict.status == "error":
        return ["error"]
    out: list[str] = []
    failing = [n for n, m in verdict.metrics.items() if m.passed is False]
    if any(n not in STAGE_METRICS for n in failing):
        out.append("output")
    if any(n in STAGE_METRICS for n in failing):
        out.append("stages")
    for r in verdict.reasons:
        if r.startswith("precision changed"):
            kind = "precision"
        elif r.startswith("peak memory"):
            kind = "memory"
        elif "setting" in r.lower():
            kind = "settings"
        elif "(needs " in r or r.startswith(("first divergence", "moved beyond platform drift")):
            continue  # the metrics', counted above
        else:
            kind = "other"
        if kind not in out:
            out.append(kind)
    return out


def _judged(verdict: Any) -> Judged:
    return Judged(status=str(verdict.status), regime=(verdict.numerics or {}).get("regime"),
                  line=verdict.message(), caught_by=_caught_by(verdict) if verdict.failed else [])


def _judged_ab(verdict: Any) -> dict[str, Any]:
    """The A/B judgement alone (``verdict.ab``: the run against the recorded unmutated run)."""
    rec = verdict.ab or {}
    failing = [n for n, m in (rec.get("metrics") or {}).items() if m.get("passed") is False]
    gates = (["output"] if any(n not in STAGE_METRICS for n in failing) else []) + \
        (["stages"] if any(n in STAGE_METRICS for n in failing) else [])
    for r in rec.get("reasons") or []:
        kind = ("precision" if r.startswith("precision changed") else "memory" if r.startswith("peak memory")
                else "settings" if r.startswith("precision settings") else None)
        if kind and kind not in gates:
            gates.append(kind)
    status = str(rec.get("status", "missing"))
    return {"status": status, "regime": (rec.get("numerics") or {}).get("regime"),
            "line": "; ".join(rec.get("reasons") or []) or status, "caught_by": gates if status in CAUGHT else []}


def _same(a: Any, b: Any) -> bool:
    import numpy as np

    if a is None or b is None:
        return a is b
    return a.shape == b.shape and a.dtype == b.dtype and bool(np.array_equal(a, b))


def _tracks_equal(a: Any, b: Any) -> bool:
    return all(_same(getattr(a, t), getattr(b, t)) for t in ("image", "video", "audio"))


def _stages_equal(a: Any, b: Any) -> bool:
    sa, sb = a.stages or {}, b.stages or {}
    return set(sa) == set(sb) and all(_same(sa[k], sb[k]) for k in sa)


def _beyond_exact(session: Any, case: Any, verdict: Any) -> list[str]:
    """The metrics of ``verdict`` (output tracks and stage checkpoints) that fail the suite's
    exact-regime thresholds for this golden, whatever regime the verdict itself was in."""
    from regress.judge import thresholds_for
    from regress.verdict import judge_metrics

    golden = session.store.get(case.id, session.platform)
    if golden is None or not verdict.metrics:
        return []
    th = thresholds_for(session.suite, case, session.platform, golden_platform=golden.platform,
                        golden_meta=golden.meta, regime="exact")
    values = {k: m.value for k, m in verdict.metrics.items()}
    return [m.line() for m in judge_metrics(values, th).values() if m.passed is False]


def _forget_identity() -> None:
    """Drop the process's cached numerics identity: the next judgement measures the machine
    as a process that carries the current patches would (regress.probe caches per process)."""
    from regress import probing

    cache = getattr(probing, "_CACHE", None)
    if isinstance(cache, dict):
        cache.clear()


def _exact_store(suite: Any, tmp: Path, *, fresh: bool) -> Any:
    """A temporary copy of the suite's directory (suite file, lock, file store); ``fresh``: the
    suite file alone, with an empty store and no lock."""
    from regress.suite import load_suite

    src = suite.path.resolve().parent
    if suite.store.kind != "file" or suite.store.path is None or src not in suite.store.path.parents:
        raise SystemExit(f"{suite.path}: the benchmark needs a file store inside the suite's directory")
    dst = tmp / src.name
    if fresh:
        dst.mkdir(parents=True)
        shutil.copy2(suite.path, dst / suite.path.name)
        (dst / suite.store.path.relative_to(src)).mkdir(parents=True)
    else:
        shutil.copytree(src, dst, ignore=shutil.ignore_patterns(".regress-publish*"))
    return load_suite(dst / suite.path.name)


def _drift_key(platform: str, committed: Iterable[str], asked: Mapping[str, str]) -> str | None:
    keys = sorted(set(committed) - {platform})
    explicit = asked.get(platform) or asked.get("*")
    if explicit and explicit not in keys:
        raise SystemExit(f"--drift-key {explicit}: the committed store has no such golden for the selected cases "
                         f"(it has: {', '.join(keys) or 'none'})")
    want = explicit or DRIFT_GOLDEN.get(platform)
    if want in keys:
        return want
    from regress.platform import nearest

    return nearest(platform, keys)


class Worker:
    """One kernel path's measurements, in this process (started with that path's environment)."""

    def __init__(self, args: argparse.Namespace) -> None:
        from regress.suite import load_suite

        self.args = args
        self.label: str = args.worker
        self.suite = load_suite(args.suite)
        self.tmp = Path(tempfile.mkdtemp(prefix="regress-mutants-"))
        self.exact_suite = self.suite
        self.cases: list[Any] = []
        self.platform = ""
        self.drift_key: str | None = None
        self.baseline: dict[str, Any] = {}  # case id -> the unmutated Output
        self.ok: dict[str, dict[str, bool]] = {}  # regime -> case id -> the unmutated run passes there
        self.results: dict[str, Any] = {}  # case id -> the unmutated RunResult
        self.adopted_suite: Any = None  # a copy of the committed store with this path's references
        self.recorded = self.tmp / "recorded"  # the unmutated runs, as --golden-record writes them

    def log(self, text: str) -> None:
        print(f"[{self.label}] {text}", file=sys.stderr, flush=True)

    def run(self) -> dict[str, Any]:
        import mutants

        t_start = time.perf_counter()
        try:
            doc = self._prepare()
            doc["unchanged"] = self._suite_rows(None)
            self.ok = _ok_maps(doc)
            doc["repeats"] = [self._suite_rows(None) for _ in range(self.args.repeat_unchanged)]
            doc["rows"], doc["targets"], doc["seconds"] = [], {}, {}
            for name in self.args.mutants:
                state = mutants.precision_state()
                t0 = time.perf_counter()
                undo = mutants.apply(name)
                doc["targets"][name] = list(undo.targets)
                try:
                    rows = self._suite_rows(name)
                finally:
                    undo()
                    _forget_identity()
                doc["seconds"][name] = round(time.perf_counter() - t0, 1)
                if mutants.precision_state() != state:
                    raise RuntimeError(f"mutant {name} left torch's precision flags changed: "
                                       f"{state} -> {mutants.precision_state()}")
                doc["rows"].extend(rows)
                self.log(_progress(name, rows, self.ok) + f" ({doc['seconds'][name]:.1f} s)")
            doc["seconds"]["total"] = round(time.perf_counter() - t_start, 1)
            return doc
        finally:
            shutil.rmtree(self.tmp, ignore_errors=True)

    def _prepare(self) -> dict[str, Any]:
        """Goldens of this machine and path in the temporary store (the exact regime's); the
        unmutated outputs every mutant is compared with bit for bit."""
        from regress.select import select
        from regress.session import GoldenSession, Options

        fresh = self.args.exact_store == "fresh"
        self.exact_suite = _exact_store(self.suite, self.tmp, fresh=fresh)
        ref = GoldenSession(self.exact_suite, Options(update="all", force=True, replace_other_machine=True,
                                                      freeze_heap=True))
        self.platform = ref.platform
        self.cases = select(self.exact_suite, self.args.expr, platform=self.platform)
        if not self.cases:
            raise SystemExit("no case selected (check -k)")
        t0 = time.perf_counter()
        made: dict[str, str] = {}
        unrunnable: dict[str, str] = {}
        for case in list(self.cases):
            run = ref.check(case)
            if run.result is None:  # not a mutant's doing: the case is left out on this path, and said so
                unrunnable[case.id] = run.verdict.message()
                self.cases.remove(case)
                self.log(f"{case.id} does not run unmutated on this path, left out: {run.verdict.message()}")
                continue
            self.baseline[case.id] = run.result.output
            self.results[case.id] = run.result
            kept = any(w.startswith("bit-identical") for w in run.verdict.warnings)  # regress.staging's note
            made[case.id] = "kept (bit-identical)" if kept else str(run.verdict.status)
        if not self.cases:
            raise SystemExit(f"[{self.label}] no selected case runs unmutated on this path")
        ref.publish()
        ref.pipelines.release()
        ref.close()
        ident = ref.identity
        from regress.stores import open_store

        committed = {k for c in self.cases for k in open_store(self.suite).platforms(c.id)}
        asked = dict(kv.split("=", 1) if "=" in kv else ("*", kv) for kv in self.args.drift_key or [])
        self.drift_key = _drift_key(self.platform, committed, asked)
        adopted = self._references()
        self.log(f"platform {self.platform}; exact goldens: {self.args.exact_store} store, "
                 f"{sum(v.startswith('kept') for v in made.values())} kept, "
                 f"{sum(not v.startswith('kept') for v in made.values())} written; drift golden {self.drift_key} "
                 f"({time.perf_counter() - t0:.1f} s)")
        return {"label": self.label, "env": {k: os.environ[k] for k in KERNEL_ENV if k in os.environ},
                "platform": self.platform, "drift_key": self.drift_key, "exact_store": self.args.exact_store,
                "exact_goldens": made, "probe_digest": ident.digest,
                "aten": ident.installed.get("cpu.aten_capability"), "onednn_cap": ident.installed.get("cpu.onednn_isa"),
                "cases": [c.id for c in self.cases], "unrunnable": unrunnable, "adopted": adopted}

    def _references(self) -> list[str]:
        """The two references made on this path from the unmutated runs: the A/B recording
        (``--golden-record``) and this identity's adopted references of the drift golden
        (``regress adopt``, into a copy of the committed store). Returns the adopted case ids."""
        from regress.session import GoldenSession, Options

        rec = GoldenSession(self.exact_suite, Options(record_dir=self.recorded))
        for case in self.cases:
            rec.judge(case, self.results[case.id])
        rec.close()
        if not self.drift_key:
            return []
        self.adopted_suite = _exact_store(self.suite, self.tmp / "adopted", fresh=False)
        adopt = GoldenSession(self.adopted_suite, Options(platform=self.drift_key, adopt=True))
        for case in self.cases:
            adopt.judge(case, self.results[case.id])
        ids, _ = adopt.publish_references()
        adopt.close()
        return ids

    def _suite_rows(self, mutant: str | None) -> list[dict[str, Any]]:
        """Every selected case, run once with fresh pipelines, judged in both regimes."""
        from regress.session import GoldenSession, Options

        _forget_identity()
        exact = GoldenSession(self.exact_suite, Options(freeze_heap=True))  # as the plugin runs
        drift = GoldenSession(self.suite, Options(platform=self.drift_key)) if self.drift_key else None
        adopted = (GoldenSession(self.adopted_suite, Options(platform=self.drift_key))
                   if self.adopted_suite is not None else None)
        ab = GoldenSession(self.exact_suite, Options(baseline_dir=self.recorded))
        rows = []
        try:
            for case in self.cases:
                t0 = time.perf_counter()
                run = exact.check(case)
                row: dict[str, Any] = {"mutant": mutant, "case": case.id}
                ve = _judged(run.verdict)
                if run.result is None:  # the case raised: caught, in both regimes
                    row.update(moved=None, stages_moved=None, beyond=[], error=run.verdict.reasons[0][:300],
                               exact=ve.to_json(), drift=ve.to_json(), adopted=ve.to_json(), ab=ve.to_json())
                else:
                    out = run.result.output
                    row.update(moved=not _tracks_equal(out, self.baseline[case.id]),
                               stages_moved=not _stages_equal(out, self.baseline[case.id]),
                               beyond=_beyond_exact(exact, case, run.verdict), error=None, exact=ve.to_json())
                    if drift is not None:
                        row["drift"] = _judged(drift.judge(case, run.result).verdict).to_json()
                    if adopted is not None:
                        va = adopted.judge(case, run.result).verdict
                        row["adopted"] = {**_judged(va).to_json(), "reference": bool(va.reference)}
                    row["ab"] = _judged_ab(ab.judge(case, run.result).verdict)
                row["seconds"] = round(time.perf_counter() - t0, 2)
                rows.append(row)
        finally:
            for s in (exact, drift, adopted, ab):
                if s is not None:
                    s.pipelines.release()
                    s.close()
        return rows


def _progress(name: str, rows: list[dict[str, Any]], ok: Mapping[str, Mapping[str, bool]]) -> str:
    t = tally(rows, ok)
    return (f"{name}: {t['pairs']} pairs, {t['moved']} moved, {t['beyond']} beyond exact thresholds; "
            + "; ".join(f"{g} caught {t[g + '_caught']} missed {t[g + '_missed']}" for g in REGIMES))


# --------------------------------------------------------------------------- the tables


REGIMES = ("exact", "drift", "adopted", "ab")


def tally(rows: Sequence[Mapping[str, Any]], ok: Mapping[str, Mapping[str, bool]]) -> dict[str, int]:
    """Counts over (mutant, case) pairs. A regime counts only the pairs whose unmutated case
    passes in it (``*_na``: the others)."""
    t = {k: 0 for k in ("pairs", "moved", "beyond", "errors", "exact_in_drift")}
    t.update({f"{g}_{k}": 0 for g in REGIMES for k in ("caught", "missed", "na")})
    for r in rows:
        t["pairs"] += 1
        t["moved"] += bool(r["moved"] or r["error"])
        beyond = bool(r["beyond"] or r["error"])
        t["beyond"] += beyond
        t["errors"] += bool(r["error"])
        for regime in REGIMES:
            j = r.get(regime)
            if j is None or not ok.get(regime, {}).get(r["case"], False):
                t[f"{regime}_na"] += 1
                continue
            caught = j["status"] in CAUGHT
            t[f"{regime}_caught"] += caught
            t[f"{regime}_missed"] += beyond and not caught
        if r["exact"].get("regime") == "drift":
            t["exact_in_drift"] += 1
    return t


def _gates(rows: Iterable[Mapping[str, Any]], regime: str, ok: Mapping[str, Mapping[str, bool]]) -> str:
    """'output 6, stages 4': which gates failed the counted pairs (a case failing unmutated is not counted)."""
    counts: dict[str, int] = {}
    for r in rows:
        if not ok.get(regime, {}).get(r["case"], False):
            continue
        j = r.get(regime) or {}
        for g in j.get("caught_by") or []:
            counts[g] = counts.get(g, 0) + 1
    return ", ".join(f"{g} {n}" for g, n in sorted(counts.items(), key=lambda kv: -kv[1])) or "-"


def _table(head: list[str], lines: list[list[str]], markdown: bool) -> str:
    if markdown:
        out = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        out += ["| " + " | ".join(ln) + " |" for ln in lines]
        return "\n".join(out)
    widths = [max(len(str(x)) for x in col) for col in zip(head, *lines, strict=True)]
    return "\n".join("  ".join(str(x).ljust(w) for x, w in zip(ln, widths, strict=True)).rstrip()
                     for ln in [head, *lines])


def _ok_maps(doc: Mapping[str, Any]) -> dict[str, dict[str, bool]]:
    unchanged = doc.get("unchanged") or []
    return {g: {r["case"]: (r.get(g) or {}).get("status") == "passed" for r in unchanged} for g in REGIMES}


HEAD = ["mutant", "pairs", "moved", "beyond exact thr.", "exact caught", "exact missed", "drift caught",
        "drift missed", "adopted caught", "adopted missed", "A/B caught", "A/B missed", "caught by (exact)",
        "caught by (drift)"]


def report(docs: Sequence[Mapping[str, Any]], info: Mapping[str, str], *, markdown: bool,
           mutant_what: Mapping[str, str], command: str) -> str:
    """The whole report: machine, one section per path, totals, every miss, the mutants."""
    h = "### " if markdown else ""
    bullet = "- " if markdown else ""
    out = [f"{h}Mutation benchmark, {info['date']}", "",
           f"{bullet}machine: {info['model']} ({info['cores']} cores; ISA: {info['isa']}); torch {info['torch']}, "
           f"diffusers {info['diffusers']}, transformers {info['transformers']}",
           f"{bullet}command: `{command}`" if markdown else f"command: {command}",
           f"{bullet}committed store: {info.get('store', '?')} (one snapshot for every path)"]
    totals: list[list[str]] = []
    notes: list[str] = []
    for doc in docs:
        section, total, found = _path_section(doc, markdown)
        out += ["", *section]
        totals.append(total)
        notes += found
    out += ["", f"{h}Totals per path and regime (caught / missed; missed = beyond the exact thresholds, verdict "
                f"passed)", "",
            _table(["path", "platform", "drift golden", "pairs", "beyond exact thr.", "exact", "drift", "adopted",
                    "A/B"], totals, markdown),
            "", f"{h}Missed, and unmutated failures (path, mutant / case / regime: verdict line)", ""]
    out += [f"{'- ' if markdown else '  '}{n}" for n in notes] or ["none"]
    out += ["", f"{h}The mutants", ""]
    out += [f"- `{n}`: {w}" if markdown else f"  {n}: {w}" for n, w in mutant_what.items()]
    return "\n".join(out)


def _path_section(doc: Mapping[str, Any], markdown: bool) -> tuple[list[str], list[str], list[str]]:
    """(the section's lines, its row of the totals table, its misses and unmutated failures)."""
    bullet = "- " if markdown else ""
    ok = _ok_maps(doc)
    label = doc["label"]
    env = " ".join(f"{k}={v}" for k, v in doc["env"].items()) or "(none)"
    made = doc.get("exact_goldens") or {}
    kept = sum(str(v).startswith("kept") for v in made.values())
    un = doc.get("unchanged") or []
    bad_exact = [r["case"] for r in un if r["exact"]["status"] != "passed"]
    bad_drift = [r["case"] for r in un if (r.get("drift") or {}).get("status") != "passed"]
    regimes = "/".join(sorted({str((r.get("drift") or {}).get("regime")) for r in un}))
    lines = [f"{'### ' if markdown else ''}Path {label}: {env} -> platform {doc['platform']}", "",
             f"{bullet}ATen {doc.get('aten')}, oneDNN cap {doc.get('onednn_cap')}, probe {doc.get('probe_digest')}; "
             f"{(doc.get('seconds') or {}).get('total', '?')} s in the worker",
             f"{bullet}exact goldens: {doc['exact_store']} store refreshed here ({kept} kept bit-identical, "
             f"{len(made) - kept} written); drift golden: committed {doc['drift_key']}",
             f"{bullet}unmutated: exact {len(un) - len(bad_exact)}/{len(un)} pass"
             + (f" (failing, not counted: {', '.join(bad_exact)})" if bad_exact else "")
             + f"; drift {len(un) - len(bad_drift)}/{len(un)} pass, regime {regimes}"
             + (f" (failing, not counted: {', '.join(bad_drift)})" if bad_drift else "")
             + "; adopted " + str(sum((r.get("adopted") or {}).get("status") == "passed" for r in un))
             + f"/{len(un)} pass ({len(doc.get('adopted') or [])} references adopted here, judged against in "
             + str(sum(bool((r.get("adopted") or {}).get("reference")) for r in un)) + "); A/B "
             + str(sum((r.get("ab") or {}).get("status") == "passed" for r in un)) + f"/{len(un)} pass"]
    lines += [f"{bullet}left out (does not run unmutated on this path): {v}"
              for v in (doc.get("unrunnable") or {}).values()]
    notes = [f"[{label}] unmutated / {r['case']} / {regime}: {r[regime]['line']}"
             for r in un for regime in REGIMES if (r.get(regime) or {}).get("status", "passed") != "passed"]
    reps = doc.get("repeats") or []
    if reps:
        runs = [r for rep in reps for r in rep]
        alarms = [(r, g) for r in runs for g in REGIMES
                  if ok[g].get(r["case"]) and (r.get(g) or {}).get("status", "passed") != "passed"]
        lines.append(f"{bullet}unmutated reruns: {len(reps)} x {len(un)} = {len(runs)} runs, each judged in the 4 regimes "
                     f"(exact, drift, adopted, A/B), {len(alarms)} false alarm(s); {sum(bool(r['moved']) for r in runs)} output(s) not "
                     "bit-identical to the first run")
        notes += [f"[{label}] rerun / {r['case']} / {g} (false alarm): {r[g]['line']}" for r, g in alarms]
    by_mutant: dict[str, list[Mapping[str, Any]]] = {}
    for r in doc["rows"]:
        by_mutant.setdefault(r["mutant"], []).append(r)
    table = [_row(name, rows, ok) for name, rows in by_mutant.items()]
    table.append(_row("total", doc["rows"], ok))
    for r in doc["rows"]:
        if not (r["beyond"] or r["error"]):
            continue
        for regime in REGIMES:
            j = r.get(regime)
            if j and ok[regime].get(r["case"]) and j["status"] not in CAUGHT:
                notes.append(f"[{label}] {r['mutant']} / {r['case']} / {regime} (beyond exact: "
                             f"{'; '.join(r['beyond'])}): {j['line']}")
    lines += ["", _table(HEAD, table, markdown)]
    t = tally(doc["rows"], ok)
    total = [label, doc["platform"], doc["drift_key"] or "-", str(t["pairs"]), str(t["beyond"]),
             *(f"{_na(t[g + '_caught'], t[g + '_na'])} / {t[g + '_missed']}" for g in REGIMES)]
    return lines, total, notes


def _row(name: str, rows: Sequence[Mapping[str, Any]], ok: Mapping[str, Mapping[str, bool]]) -> list[str]:
    t = tally(rows, ok)
    cells = [name, str(t["pairs"]), str(t["moved"]), str(t["beyond"])]
    for g in REGIMES:
        cells += [_na(t[g + "_caught"], t[g + "_na"]), str(t[g + "_missed"])]
    return cells + [_gates(rows, "exact", ok), _gates(rows, "drift", ok)]


def _na(n: int, na: int) -> str:
    return f"{n} (+{na} n/a)" if na else str(n)


# --------------------------------------------------------------------------- the parent


def main(argv: Sequence[str] | None = None) -> int:
    sys.path[:0] = [str(ROOT), str(Path(__file__).resolve().parent)]
    import mutants

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    ap.add_argument("--suite", default=str(ROOT / "goldens" / "suite.toml"))
    ap.add_argument("-k", dest="expr", default=None, help="select cases (pytest -k syntax)")
    ap.add_argument("--mutants", default=None, help=f"comma-separated (default all: {','.join(mutants.names())})")
    ap.add_argument("--paths", default=None, help=f"comma-separated of {','.join(p.label for p in PATHS)} "
                                                  "(default: every one this CPU takes)")
    ap.add_argument("--repeat-unchanged", type=int, default=0, metavar="N",
                    help="rerun the unmutated suite N more times against the exact goldens (false alarms)")
    ap.add_argument("--exact-store", choices=("copy", "fresh"), default="copy",
                    help="exact goldens: the committed store refreshed here (copy), or an empty store (fresh)")
    ap.add_argument("--drift-key", action="append", metavar="[PLATFORM=]KEY",
                    help="the committed golden to judge the drift regime against (per platform key, or all)")
    ap.add_argument("--jobs", type=int, default=1, help="paths run side by side (default 1: 2-core machines)")
    ap.add_argument("--markdown", action="store_true", help="print the tables as Markdown (benchmarks/RESULTS.md)")
    ap.add_argument("--json", dest="json_out", default=None, metavar="OUT", help="write the raw rows here")
    ap.add_argument("--from-json", default=None, metavar="IN", help="print the tables of an earlier --json run")
    ap.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    ap.add_argument("--out", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    chosen = [m.strip() for m in (args.mutants or ",".join(mutants.names())).split(",") if m.strip()]
    unknown = [m for m in chosen if m not in mutants.MUTANTS]
    if unknown:
        ap.error(f"unknown mutant(s) {', '.join(unknown)} (known: {', '.join(mutants.names())})")
    args.mutants = chosen

    if args.worker:
        doc = Worker(args).run()
        Path(args.out).write_text(json.dumps(doc, indent=1), encoding="utf-8")
        return 0
    if args.from_json:
        saved = json.loads(Path(args.from_json).read_text(encoding="utf-8"))
        names_run = list(dict.fromkeys(r["mutant"] for d in saved["paths"] for r in d["rows"]))
        print(report(saved["paths"], saved["machine"], markdown=args.markdown, command=saved["command"],
                     mutant_what={m: mutants.MUTANTS[m].what for m in names_run if m in mutants.MUTANTS}))
        print(f"\nwall time: {saved.get('wall_s', '?')} s for {len(saved['paths'])} path(s)")
        return 0

    available = [p for p, _ in runnable_paths(cpu_flags())]
    if args.paths:
        wanted = [p.strip() for p in args.paths.split(",") if p.strip()]
        known = {p.label: p for p in PATHS}
        missing = [w for w in wanted if w not in known]
        if missing:
            ap.error(f"unknown path(s) {', '.join(missing)} (known: {', '.join(known)})")
        available = [known[w] for w in wanted]
    info = machine()
    t0 = time.perf_counter()
    snap = Path(tempfile.mkdtemp(prefix="regress-mutants-store-"))
    try:
        suite_copy, info["store"] = _snapshot(Path(args.suite), snap)
        docs = _run_workers(args, available, argv if argv is not None else sys.argv[1:], suite_copy)
    finally:
        shutil.rmtree(snap, ignore_errors=True)
    wall = time.perf_counter() - t0
    command = shlex.join(["python3", "benchmarks/bench_mutants.py", *(argv if argv is not None else sys.argv[1:])])
    text = report(docs, info, markdown=args.markdown, command=command.strip(),
                  mutant_what={m: mutants.MUTANTS[m].what for m in args.mutants})
    print(text)
    print(f"\nwall time: {wall:.0f} s for {len(docs)} path(s)")
    if args.json_out:
        Path(args.json_out).write_text(json.dumps({"machine": info, "command": command, "wall_s": round(wall, 1),
                                                   "paths": docs}, indent=1), encoding="utf-8")
    return 0


def _snapshot(suite_path: Path, into: Path, *, tries: int = 10) -> tuple[Path, str]:
    """A copy of the suite's directory (suite, lock, store) that every path judges against, and
    its pinned revision: a refresh of ``goldens/`` while the benchmark runs then changes nothing
    half-way. A copy taken in the middle of someone's publish fails its pin, and is taken again."""
    from regress.errors import RegressError
    from regress.stores import open_store
    from regress.suite import load_suite

    src = suite_path.resolve().parent
    for attempt in range(tries):
        dst = into / f"try{attempt}" / src.name
        shutil.copytree(src, dst, ignore=shutil.ignore_patterns(".regress-publish*"))
        copy = dst / suite_path.name
        try:
            store = open_store(load_suite(copy))
            return copy, str(store.revision)
        except RegressError as exc:
            print(f"store snapshot {attempt + 1} inconsistent ({exc}); taking it again", file=sys.stderr)
            time.sleep(2.0)
    raise SystemExit(f"{src}: no consistent snapshot of the golden store after {tries} tries")


def _run_workers(args: argparse.Namespace, paths: list[KernelPath], argv: Sequence[str],
                 suite: Path) -> list[dict[str, Any]]:
    """One fresh process per path (its environment set before torch starts); ``--jobs`` at a
    time, each on the same snapshot of the store (``suite``). A worker's progress goes to
    stderr; its result comes back as a JSON file."""
    passthrough = [*_drop_values(argv, ("--json", "--jobs", "--paths", "--suite"), ("--markdown",)),
                   "--suite", str(suite)]
    tmp = Path(tempfile.mkdtemp(prefix="regress-mutants-out-"))
    try:
        pending = list(paths)
        running: list[tuple[KernelPath, subprocess.Popen[bytes], Path]] = []
        done: dict[str, dict[str, Any]] = {}
        while pending or running:
            while pending and len(running) < max(1, args.jobs):
                p = pending.pop(0)
                env = {k: v for k, v in os.environ.items() if k not in KERNEL_ENV}
                env.update(p.env)
                out = tmp / f"{p.label}.json"
                cmd = [sys.executable, str(Path(__file__).resolve()), *passthrough, "--worker", p.label,
                       "--out", str(out)]
                running.append((p, subprocess.Popen(cmd, env=env, cwd=str(ROOT)), out))
            time.sleep(0.5)
            for item in list(running):
                p, proc, out = item
                if proc.poll() is None:
                    continue
                running.remove(item)
                if proc.returncode != 0 or not out.exists():
                    raise SystemExit(f"the worker for path {p.label} failed (exit {proc.returncode})")
                done[p.label] = json.loads(out.read_text(encoding="utf-8"))
        return [done[p.label] for p in paths]
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _drop_values(argv: Sequence[str], with_value: tuple[str, ...], flags: tuple[str, ...]) -> list[str]:
    """``argv`` without the parent-only options (``--json OUT`` / ``--json=OUT`` and the like)."""
    out: list[str] = []
    skip = False
    for a in argv:
        if skip:
            skip = False
            continue
        if a in flags or any(a.startswith(o + "=") for o in with_value):
            continue
        if a in with_value:
            skip = True
            continue
        out.append(a)
    return out


if __name__ == "__main__":
    sys.exit(main())
