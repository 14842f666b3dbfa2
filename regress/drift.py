"""Drift calibration: measure how far *legal* kernel paths move each case, and derive the
bounds the drift regime judges with (``regress calibrate --drift``).

Why measure: between an AMD EPYC and an AMX Xeon the tiny sd case moves to SSIM 0.99997 /
PSNR 59 dB, as far as a real fp32->fp16 VAE flip. A guessed cross-platform tolerance is
either so loose that it catches nothing or so tight that another CPU fails. The spread the
same code shows across the kernel paths one machine can take is a measurement, and it is
what the peers' own admission rule asks for ("inside the spread the same reference path
shows across two legal environments") without anything measuring it.

What runs: each *variant* is a fresh process (oneDNN and ATen fix their ISA at start-up)
that runs the selected cases ``repeats`` times and writes the outputs:

* CPU: the default path; one thread; then each oneDNN ISA cap below what the CPU offers
  (AVX512_CORE_FP16, AVX512_CORE_BF16, AVX512_CORE), ATen + oneDNN at AVX2, and ATen's
  scalar path (``ATEN_CPU_CAPABILITY=default``, with oneDNN at AVX2 where the CPU has it);
* CUDA: the default; ``cudnn.benchmark`` on; TF32 flipped; each SDPA backend alone
  (flash, memory-efficient, cuDNN, math), through ``REGRESS_KERNELS``;
* with ``compile`` (``calibrate --drift --compile[=MODE]``), on any device: the default path with
  the cases' denoisers under ``torch.compile`` (``REGRESS_COMPILE``): compiled kernels are a legal
  path of an engine that compiles, and a compiled case without goldens of its own is judged
  against the eager golden with these bounds (:mod:`regress.compiled`).

The *spread* of a metric is its worst value over every pair among the variants' outputs
and the case's stored goldens of the same backend (a golden from another machine is one
more legal path). The bound is ``max(MARGIN x spread, one-code distance)`` on the metric's
distance (the rule of :mod:`regress.bounds`), recorded in each of those goldens' meta
under ``drift`` and published as one change. Repeats of one variant that do not agree are
*bimodal* outcomes: named in the record and in the output, never averaged away.
"""

from __future__ import annotations

import datetime as _dt
import json
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import __version__
from .bounds import (CALIBRATED, derive_thresholds, finite_bounds, json_floats, one_code_change, stage_quantum,
                     stage_values, worst_values)
from .drift_paths import DriftError, Variant, run_variant, variants, worker_main  # noqa: F401 (re-exported)
from .outputs import Output
from .stores import StagedGolden

if TYPE_CHECKING:
    from .session import GoldenSession
    from .suite import Case

DRIFT_SCHEMA = 1
MARGIN = 2.0
RULE = ("bound distance = max(2 x worst distance between any two legal kernel paths or stored goldens of the "
        "same backend, distance of one value moved by one code); distances as in noise_floor.rule")


@dataclass
class CaseDrift:
    case_id: str
    paths: list[dict[str, Any]] = field(default_factory=list)  # label, probe digest, runs, modes
    goldens: list[str] = field(default_factory=list)
    pairs: list[dict[str, Any]] = field(default_factory=list)  # a, b, values
    spread: dict[str, float] = field(default_factory=dict)
    quantum: dict[str, float] = field(default_factory=dict)
    thresholds: dict[str, float] = field(default_factory=dict)
    bimodal: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # variants that could not run, and why

    def record(self, machine: str, device: str) -> dict[str, Any]:
        return {"schema": DRIFT_SCHEMA, "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
                "regress_version": __version__, "machine": machine, "device": device, "paths": self.paths,
                "goldens": self.goldens, "skipped": self.skipped,
                "pairs": [{"a": p["a"], "b": p["b"], "values": json_floats(p["values"])} for p in self.pairs],
                "spread": json_floats(self.spread), "quantum": json_floats(self.quantum), "margin": MARGIN,
                "rule": RULE, "thresholds": json_floats(self.thresholds), "bimodal": self.bimodal}


# ---------------------------------------------------------------------- the measurement

def measure(session: GoldenSession, cases: list[Case], *, repeats: int = 2, only: list[str] | None = None,
            progress: Callable[[str], None] | None = None, compile: str | None = None, parallel: Any = None,
            ) -> tuple[list[CaseDrift], list[StagedGolden]]:
    """Run every variant, compare everything pairwise, and re-stage the goldens of the same
    backend with their ``drift`` record (not yet published)."""
    from .metrics.compare import compare_outputs
    from .platform import parse_key

    if not cases:
        raise DriftError("no case selected (check -k)")
    if repeats < 2:
        raise DriftError("--repeats must be at least 2 (bimodal outcomes need repeats to be seen)")
    device = session.device
    backend = parse_key(session.platform)[0]
    if any(c.compile is not None for c in cases):
        raise DriftError("calibrate --drift measures eager cases (a compiled case's goldens are its own; "
                         "--compile adds the compiled path to the eager case's bounds)",
                         case=next(c.id for c in cases if c.compile is not None))
    if any(c.parallel for c in cases):
        raise DriftError("calibrate --drift measures one-process cases (a parallel case's goldens are its own; "
                         "--parallel adds a layout's path to the one-process case's bounds)",
                         case=next(c.id for c in cases if c.parallel))
    chosen = variants(device, compile=compile, parallel=parallel)
    if only:
        chosen = [v for v in chosen if v.label in only] or chosen
    ids = [c.id for c in cases]
    results: dict[str, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory(prefix="regress-drift-") as tmp:
        for i, v in enumerate(chosen):
            if progress:
                progress(f"variant {i + 1}/{len(chosen)}: {v.label}")
            out = Path(tmp) / f"v{i}"
            out.mkdir()
            doc = run_variant(v, suite_path=session.suite.path, device=device, repeats=repeats, case_ids=ids,
                              out_dir=out)
            doc["dir"] = out
            results[v.label] = doc
        drifts: list[CaseDrift] = []
        staged: list[StagedGolden] = []
        for case in cases:
            cd = CaseDrift(case.id)
            outputs: list[tuple[str, Output]] = []
            fingerprints: set[str] = set()
            for v in chosen:
                doc = results[v.label]
                entry = (doc.get("cases") or {}).get(case.id) if "error" not in doc else None
                if entry is None or "error" in entry:
                    cd.skipped.append(f"{v.label}: {(entry or doc).get('error', 'did not run')}")
                    continue
                runs = entry["runs"]
                modes: dict[str, int] = {}
                for r in runs:
                    modes[r["digest"]] = modes.get(r["digest"], 0) + 1
                    fingerprints.add(json.dumps(r["fingerprint"], sort_keys=True))
                if len(modes) > 1:
                    cd.bimodal.append(f"{v.label}: {len(runs)} repeats gave {len(modes)} different outputs "
                                      f"({', '.join(str(n) for n in modes.values())})")
                cd.paths.append({"label": v.label, "probe": (doc.get("identity") or {}).get("digest"),
                                 "platform": doc.get("platform"), "runs": len(runs), "modes": len(modes)})
                seen: set[str] = set()
                for r, run in enumerate(runs):
                    if run["digest"] not in seen:
                        seen.add(run["digest"])
                        outputs.append((v.label if r == 0 else f"{v.label} (repeat {r + 1})",
                                        Output.load(doc["dir"] / case.id / str(r))))
            if len(fingerprints) > 1:
                raise DriftError(f"the variants ran with different precision fingerprints ({len(fingerprints)}): "
                                 "a kernel path must not change dtypes", case=case.id)
            goldens = []
            ran = json.loads(next(iter(fingerprints))) if fingerprints else None
            for key in session.store.platforms(case.id):
                if key.startswith(backend + "-"):
                    g = session.store.get(case.id, key)
                    if g is None:
                        continue
                    # Only a golden of the same precision and spec is a legal path of *this* case:
                    # one of another dtype table or other inputs would widen the bounds by a real change.
                    if ran is not None and g.record.precision != ran:
                        cd.skipped.append(f"golden {key}: made with another precision fingerprint")
                    elif g.record.spec_hash not in (None, case.spec_hash()):
                        cd.skipped.append(f"golden {key}: made from another case spec")
                    else:
                        goldens.append(g)
                        outputs.append((f"golden {key}", g.output()))
            cd.goldens = [g.platform for g in goldens]
            if not goldens:
                raise DriftError(f"no golden of backend {backend} to record drift bounds in; create one with "
                                 f"`regress refresh -k {case.id}`", case=case.id)
            if len(outputs) < 2:
                raise DriftError("fewer than two outputs to compare: " + "; ".join(cd.skipped), case=case.id)
            for i, (la, a) in enumerate(outputs):
                for lb, b in outputs[i + 1:]:
                    comp = compare_outputs(a, b, device=device)
                    if comp.mismatch:
                        raise DriftError(f"{la} vs {lb}: not comparable: {'; '.join(comp.mismatch)}", case=case.id)
                    comp.values.update(stage_values(a, b))
                    cd.pairs.append({"a": la, "b": lb,
                                     "values": {k: v for k, v in comp.values.items() if k in CALIBRATED}})
            cd.spread = worst_values([{"values": p["values"]} for p in cd.pairs])
            ref = outputs[0][1]
            bumped = compare_outputs(ref, one_code_change(ref), device=device)
            cd.quantum = {k: v for k, v in bumped.values.items() if k in CALIBRATED}
            cd.quantum.update(stage_quantum(ref))
            cd.thresholds, dropped = finite_bounds(derive_thresholds(cd.spread, cd.quantum, margin=MARGIN),
                                                   case_id=case.id, what="drift")
            cd.skipped.extend(dropped)
            if progress:
                for line in dropped:
                    progress(f"warning: {line}")
            machine = session.identity.installed.get("gpu.name") or session.identity.installed.get("cpu.model", "")
            record = cd.record(machine, device)
            for g in goldens:
                meta = {k: v for k, v in g.meta.items() if k not in ("files", "schema")}
                meta["drift"] = record
                staged.append(StagedGolden(case.id, g.platform, g.output(), meta))
            drifts.append(cd)
            if progress:
                progress(f"{case.id}: spread " + ", ".join(f"{k}={_fmt(v)}" for k, v in cd.spread.items()))
    return drifts, staged


def calibrate_drift(session: GoldenSession, cases: list[Case], *, repeats: int = 2, only: list[str] | None = None,
                    progress: Callable[[str], None] | None = None, compile: str | None = None,
                    parallel: Any = None) -> tuple[list[CaseDrift], str | None]:
    """Measure, then publish every re-staged golden as one change (all or nothing)."""
    drifts, staged = measure(session, cases, repeats=repeats, only=only, progress=progress, compile=compile,
                             parallel=parallel)
    ids = ", ".join(c.id for c in cases)
    revision = session.store.publish(staged, message=f"regress: drift bounds for {ids}")
    return drifts, revision


def _fmt(v: float) -> str:
    return f"{v:.6g}" if isinstance(v, float) else str(v)


if __name__ == "__main__":
    sys.exit(worker_main(sys.argv[1:]))
