"""The legal kernel paths of ``regress calibrate --drift`` and running the suite under each.

Each *variant* is a fresh process (oneDNN and ATen fix their ISA at start-up, so only a new
process can take another path) that runs the selected cases ``repeats`` times and writes their
outputs and its identity; :mod:`regress.drift` compares what they wrote. Apart from it because
this is process management (environments, a worker entry point, timeouts, process groups) and
that is measurement.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .env import (ATEN_CPU_CAPABILITY, DNNL_MAX_CPU_ISA, OMP_NUM_THREADS, ONEDNN_MAX_CPU_ISA, REGRESS_COMPILE,
                  REGRESS_DRIFT_TIMEOUT, REGRESS_KERNELS, REGRESS_PARALLEL)
from .errors import RegressError
from .kernels import ONEDNN_BESIDE_CAPPED_ATEN

_CLEARED = (ONEDNN_MAX_CPU_ISA, DNNL_MAX_CPU_ISA, ATEN_CPU_CAPABILITY, REGRESS_KERNELS, OMP_NUM_THREADS,
            REGRESS_COMPILE, REGRESS_PARALLEL)


class DriftError(RegressError):
    """A case cannot be drift-calibrated; nothing was written."""


@dataclass(frozen=True)
class Variant:
    label: str
    env: dict[str, str]


def variants(device: str, *, flags: frozenset[str] | None = None, threads: int | None = None,
             compile: str | None = None, parallel: Any = None) -> list[Variant]:
    """The legal kernel paths this machine can take for ``device`` (see :mod:`regress.drift`);
    ``compile``: one more, the default path under ``torch.compile`` in that mode; ``parallel``
    (a :class:`regress.parallel.Layout`): one more, the cases run over that layout's ranks, so
    that a parallel case judged against their one-process goldens has bounds that include it."""
    paths = _kernel_paths(device, flags=flags, threads=threads)
    if compile is not None:
        paths.append(Variant(f"torch.compile {compile}", {REGRESS_COMPILE: compile}))
    if parallel is not None:
        table = parallel.to_table()
        paths.append(Variant(f"parallel {parallel.label()}", {REGRESS_PARALLEL: ",".join(f"{k}={v}" for k, v in table.items())}))
    return paths


def _kernel_paths(device: str, *, flags: frozenset[str] | None, threads: int | None) -> list[Variant]:
    if device.startswith("cuda"):
        return [Variant("default", {}), Variant("cudnn.benchmark on", {REGRESS_KERNELS: "cudnn_benchmark=on"}),
                Variant("tf32 on", {REGRESS_KERNELS: "tf32=on"}), Variant("tf32 off", {REGRESS_KERNELS: "tf32=off"})] + \
            [Variant(f"sdpa {b}", {REGRESS_KERNELS: f"sdpa={b}"}) for b in ("flash", "mem_efficient", "cudnn", "math")]
    if flags is None:
        from .probe import cpu_flags

        flags = cpu_flags()
    n = threads or os.cpu_count() or 1
    out = [Variant("default", {}), Variant(f"threads {1 if n > 1 else 2}", {OMP_NUM_THREADS: "1" if n > 1 else "2"})]
    if "amx_bf16" in flags and "avx512_fp16" in flags:
        out.append(Variant("oneDNN AVX512_CORE_FP16", {ONEDNN_MAX_CPU_ISA: "AVX512_CORE_FP16"}))
    if ("amx_bf16" in flags or "avx512_fp16" in flags) and "avx512_bf16" in flags:
        out.append(Variant("oneDNN AVX512_CORE_BF16", {ONEDNN_MAX_CPU_ISA: "AVX512_CORE_BF16"}))
    if "avx512_bf16" in flags or "amx_bf16" in flags:
        out.append(Variant("oneDNN AVX512_CORE", {ONEDNN_MAX_CPU_ISA: "AVX512_CORE"}))
    if "avx512f" in flags and "avx2" in flags:
        out.append(Variant("ATen+oneDNN AVX2", {ATEN_CPU_CAPABILITY: "avx2", ONEDNN_MAX_CPU_ISA: "AVX2"}))
    # ATen without vector kernels stands in for CPUs none of the others resemble (ARM, pre-AVX2):
    # without it 5 of 8 unchanged tiny cases failed there. oneDNN goes to AVX2 beside it, as on
    # such a CPU (on an AMX Xeon, ATen's scalar path under AMX oneDNN raises in SDPA: pack_vnni2).
    out.append(Variant("ATen default", {ATEN_CPU_CAPABILITY: "default", **({ONEDNN_MAX_CPU_ISA: ONEDNN_BESIDE_CAPPED_ATEN}
                                                                            if "avx2" in flags else {})}))
    return out


# ---------------------------------------------------------------------- the worker (one variant)

def worker_main(argv: list[str]) -> int:
    """``python -m regress.drift SUITE OUT DEVICE REPEATS CASE...``: run the cases, write each
    output under OUT/<case>/<repeat>/, and OUT/variant.json (identity, fingerprints)."""
    from .session import GoldenSession, Options
    from .suite import load_suite

    suite_path, out_dir, device, repeats, *ids = argv
    suite = load_suite(suite_path)
    session = GoldenSession(suite, Options(device=None if device == "auto" else device))
    doc: dict[str, Any] = {"platform": session.platform, "cases": {}}
    mode = os.environ.get(REGRESS_COMPILE) or None  # the compiled variant: the same case, compiled
    layout = os.environ.get(REGRESS_PARALLEL) or None  # the parallel variant: the same case, over ranks
    for case in (suite.case(i) for i in ids):
        runs = []
        try:
            if layout is not None:
                from dataclasses import replace

                from .parallel import parse

                case = replace(case, parallel=parse(layout).to_table())
            for r in range(int(repeats)):
                result = session.run(case if mode is None else case.compiled(mode))
                d = Path(out_dir) / case.id / str(r)
                d.mkdir(parents=True, exist_ok=True)
                digest = hashlib.sha256()
                for name, data in sorted(result.output.encode().items()):
                    (d / name).write_bytes(data)
                    digest.update(name.encode() + data)
                runs.append({"fingerprint": result.fingerprint, "digest": digest.hexdigest()[:16]})
            doc["cases"][case.id] = {"runs": runs}
        except Exception as exc:  # noqa: BLE001 - a variant a case cannot run under is recorded, not fatal
            doc["cases"][case.id] = {"error": f"{type(exc).__name__}: {str(exc).splitlines()[0][:200]}"}
    doc["identity"] = session.identity.to_json()
    (Path(out_dir) / "variant.json").write_text(json.dumps(doc), encoding="utf-8")
    return 0


# A variant runs the selected cases `repeats` times in a fresh process: minutes for tiny cases,
# up to hours for shape-true ones on a CPU. Past this, it is hung (a deadlocked collective, a
# kernel that never returns), and a calibration that waits forever is worse than one that stops.
VARIANT_TIMEOUT_S = 4 * 3600.0


def variant_timeout() -> float:
    """Seconds one variant may run: ``REGRESS_DRIFT_TIMEOUT`` or :data:`VARIANT_TIMEOUT_S`."""
    raw = os.environ.get(REGRESS_DRIFT_TIMEOUT, "").strip()
    if not raw:
        return VARIANT_TIMEOUT_S
    try:
        value = float(raw)
    except ValueError:
        value = float("nan")
    if not (value > 0 and value != float("inf")):
        raise DriftError(f"{REGRESS_DRIFT_TIMEOUT}={raw!r}: must be a number of seconds > 0")
    return value


def run_variant(variant: Variant, *, suite_path: Path, device: str, repeats: int, case_ids: list[str],
                out_dir: Path, timeout_s: float | None = None) -> dict[str, Any]:
    """Run one variant in its own process; one that runs past ``timeout_s`` (default
    :func:`variant_timeout`) is killed with every process it started, and is a :class:`DriftError`."""
    timeout = variant_timeout() if timeout_s is None else timeout_s
    env = {k: v for k, v in os.environ.items() if k not in _CLEARED}
    env.update(variant.env)
    cmd = [sys.executable, "-m", "regress.drift", str(suite_path), str(out_dir), device, str(repeats), *case_ids]
    # Its own process group: on a timeout (or Ctrl-C here) the whole group goes, so no child of
    # it keeps the pipes open or keeps computing after the calibration has stopped.
    with subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                          start_new_session=True) as proc:
        try:
            stdout, stderr = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            _kill_group(proc)
            raise DriftError(f"kernel-path variant '{variant.label}' ran past its timeout of {timeout:g} s and was "
                             f"stopped (allow longer with {REGRESS_DRIFT_TIMEOUT}=SECONDS)") from None
        except BaseException:
            _kill_group(proc)
            raise
    doc_path = out_dir / "variant.json"
    if proc.returncode != 0 or not doc_path.is_file():
        tail = (stderr or stdout).strip().splitlines()[-1:] or ["no output"]
        return {"error": f"exit {proc.returncode}: {tail[0][:200]}"}
    return json.loads(doc_path.read_text(encoding="utf-8"))


def _kill_group(proc: subprocess.Popen[str]) -> None:
    import signal

    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (AttributeError, OSError):  # no process groups here, or it is gone already
        proc.kill()
    proc.communicate()
