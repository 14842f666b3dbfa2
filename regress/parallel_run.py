"""Launching a parallel case over its ranks, and merging what the ranks computed into one result.

Why torch's own launcher (``python -m torch.distributed.run``, i.e. ``torchrun``): it is how
the engines under test start their ranks (environment, rendezvous, one process per rank), so the
case runs the way production runs it. Every rank runs the whole case
(:mod:`regress.parallel_rank`) and writes its output into a directory of this launch; the
process that launched them (rank 0's owner: the plugin or the CLI) merges the ranks into one
:class:`~regress.runners.RunResult` and judges it. The ranks themselves never judge, never write
results.json or a report and never publish, so only one writer exists whatever the world size.

The merge rule: every rank must return, and every rank's output must be rank 0's bit for bit
(context parallelism gathers the sequence on every rank before the decode); a rank that differs
is a failure naming the rank, never averaged away.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .env import PYTHONPATH, REGRESS_PARALLEL_TIMEOUT
from .errors import RunnerError
from .outputs import Output
from .runners.base import Perf, RunResult

RESULT_FILE = "result.json"
ERROR_FILE = "error.txt"
LAUNCH_TIMEOUT_S = 3600.0


@dataclass(frozen=True)
class RankResult:
    """What one rank wrote: its output, the digest of its files, and its run's records."""

    rank: int
    output: Output
    digest: str
    fingerprint: dict[str, str]
    perf: Perf
    versions: dict[str, str]
    settings: dict[str, str]

    @classmethod
    def read(cls, directory: Path, rank: int) -> RankResult:
        doc = json.loads((directory / RESULT_FILE).read_text(encoding="utf-8"))
        output = Output.load(directory)
        output.nonfinite = int(doc.get("nonfinite", 0))
        return cls(rank=rank, output=output, digest=str(doc["digest"]), fingerprint=dict(doc["fingerprint"]),
                   perf=Perf.from_json(doc["perf"]) or Perf(wall_s=0.0), versions=dict(doc.get("versions", {})),
                   settings=dict(doc.get("settings", {})))


def output_digest(files: Mapping[str, bytes]) -> str:
    """One digest of an output's track files (the ranks' agreement is checked on these)."""
    h = hashlib.sha256()
    for name, data in sorted(files.items()):
        h.update(name.encode() + b"\0" + data)
    return h.hexdigest()


def write_rank(directory: Path, result: RunResult) -> None:
    """A rank's output files and its result.json (what :meth:`RankResult.read` reads back)."""
    directory.mkdir(parents=True, exist_ok=True)
    files = result.output.encode()
    for name, data in files.items():
        (directory / name).write_bytes(data)
    doc = {"digest": output_digest(files), "fingerprint": result.fingerprint, "perf": result.perf.to_json(),
           "versions": result.versions, "settings": result.settings, "nonfinite": result.output.nonfinite}
    (directory / RESULT_FILE).write_text(json.dumps(doc), encoding="utf-8")


def merge(ranks: list[RankResult], *, case_id: str) -> RunResult:
    """The ranks' results as one: rank 0's, where every rank's output equals it. A rank whose
    output differs fails the case naming the rank (and which stage first differs, where recorded)."""
    if not ranks:
        raise RunnerError("no rank returned a result", case=case_id)
    ranks = sorted(ranks, key=lambda r: r.rank)
    first = ranks[0]
    if first.rank != 0:
        raise RunnerError("rank 0 returned no result", case=case_id)
    for r in ranks[1:]:
        if r.digest != first.digest:
            raise RunnerError(f"rank {r.rank}'s output differs from rank 0's{_where(first.output, r.output)}: the ranks "
                              "of one parallel run must agree (a shard that did not meet the others)", case=case_id)
        if r.output.nonfinite != first.output.nonfinite:
            raise RunnerError(f"rank {r.rank} counted {r.output.nonfinite} NaN/Inf values, rank 0 "
                              f"{first.output.nonfinite}", case=case_id)
    perf = first.perf
    perf.wall_s = max(r.perf.wall_s for r in ranks)  # the run ends when its slowest rank does
    if perf.memory_source == "profiler":
        # The CPU profiler's peak of a gloo rank moved by up to 7% between launches of the same
        # case (measured: the collectives' buffers live as long as the rank's threads keep them),
        # so it cannot be gated at 2%: recorded as not measured rather than failing at random.
        perf.peak_memory, perf.memory_source = {}, "none"
    else:  # each rank's own peak (a layout chosen to fit a card is judged by its largest rank)
        perf.peak_memory.update({f"rank{r.rank}.total": max(r.perf.peak_memory.values())
                                 for r in ranks[1:] if r.perf.peak_memory})
    return RunResult(output=first.output, fingerprint=first.fingerprint, perf=perf, versions=first.versions,
                     settings=dict(first.settings))


def _where(a: Output, b: Output) -> str:
    import numpy as np

    for name in sorted(set(a.stages or {}) & set(b.stages or {})):
        if not np.array_equal(a.stages[name], b.stages[name]):
            return f" (first at stage '{name}')"
    return ""


def launch_timeout() -> float:
    raw = os.environ.get(REGRESS_PARALLEL_TIMEOUT, "").strip()
    if not raw:
        return LAUNCH_TIMEOUT_S
    try:
        value = float(raw)
    except ValueError:
        value = float("nan")
    if not (value > 0 and value != float("inf")):
        raise RunnerError(f"{REGRESS_PARALLEL_TIMEOUT}={raw!r}: must be a number of seconds > 0")
    return value


def launch(*, suite_path: Path, case: Any, precision: Mapping[str, str], device: str) -> RunResult:
    """Run ``case`` over its layout's ranks with torch's launcher and merge them (see the module
    docstring). A rank that fails, or a launch past :func:`launch_timeout`, is a
    :class:`~regress.errors.RunnerError` naming the rank and its one-line reason."""
    layout = case.layout
    n = layout.world_size
    if device.startswith("cuda"):
        import torch

        if torch.cuda.device_count() < n:
            raise RunnerError(f"parallel layout {layout.label()} needs {n} GPUs, this machine has "
                              f"{torch.cuda.device_count()}", case=case.id, field="parallel")
    with tempfile.TemporaryDirectory(prefix="regress-parallel-") as tmp:
        out = Path(tmp)
        from .case import SPEC_FIELDS

        fields = {k: dict(v) if isinstance(v, Mapping) else v for k, v in ((k, getattr(case, k)) for k in SPEC_FIELDS)}
        job = {"suite": str(suite_path), "case": {"id": case.id, **fields}, "precision": dict(precision),
               "device": device, "out": str(out)}
        (out / "job.json").write_text(json.dumps(job), encoding="utf-8")
        cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={n}",
               "-m", "regress.parallel_rank", str(out / "job.json")]
        env = dict(os.environ)
        here = str(Path(__file__).resolve().parents[1])  # the ranks import this regress
        env[PYTHONPATH] = os.pathsep.join([here, *filter(None, [env.get(PYTHONPATH)])])
        code, log = _run(cmd, env=env, timeout=launch_timeout(), case_id=case.id)
        errors = sorted(out.glob(f"rank*/{ERROR_FILE}"))
        if errors:  # the rank's own one line beats the launcher's summary of it
            rank = errors[0].parent.name.removeprefix("rank")
            raise RunnerError(f"rank {rank} failed: {errors[0].read_text(encoding='utf-8').strip()}", case=case.id)
        if code != 0:
            lines = [ln for ln in log.splitlines() if ln.strip() and "Warning" not in ln]
            raise RunnerError(f"torch.distributed.run exited {code}: {lines[-1][:300] if lines else 'no output'}",
                              case=case.id)
        ranks = []
        for r in range(n):
            d = out / f"rank{r}"
            if not (d / RESULT_FILE).is_file():
                raise RunnerError(f"rank {r} wrote no result (it exited before the case finished)", case=case.id)
            ranks.append(RankResult.read(d, r))
        return merge(ranks, case_id=case.id)


def _run(cmd: list[str], *, env: dict[str, str], timeout: float, case_id: str) -> tuple[int, str]:
    """The launcher in its own process group: on a timeout or an interrupt every rank goes with it."""
    import signal

    with subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                          start_new_session=True) as proc:
        try:
            log, _ = proc.communicate(timeout=timeout)
        except BaseException as exc:
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except OSError:
                proc.kill()
            proc.communicate()
            if isinstance(exc, subprocess.TimeoutExpired):
                raise RunnerError(f"the parallel launch ran past {timeout:g} s and was stopped (allow longer with "
                                  f"{REGRESS_PARALLEL_TIMEOUT}=SECONDS)", case=case_id) from None
            raise
    return proc.returncode, log or ""
