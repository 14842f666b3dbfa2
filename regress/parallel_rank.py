"""One rank of a parallel case: ``python -m torch.distributed.run ... -m regress.parallel_rank JOB``.

Started by :func:`regress.parallel_run.launch`, once per rank. It joins the process group (gloo
on the CPU, NCCL on a GPU, one card per local rank), builds the case's pipeline, turns on
diffusers' context parallelism on its transformer (``enable_parallelism`` with a
``ContextParallelConfig`` of the case's layout and the model's own ``_cp_plan``), runs the case
and writes its output and records under ``JOB's out/rank<N>/``. It writes nothing else:
judging, results.json, reports and publishing belong to the launching process.

A failure is one line in ``rank<N>/error.txt`` (the launcher names the rank) and exit 1.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from .env import LOCAL_RANK, RANK, REGRESS_PARALLEL_FAULT
from .errors import RunnerError, one_line
from .parallel import Layout, backend_for, layout_of


@contextlib.contextmanager
def _cpu_accelerator_count() -> Iterator[None]:
    """diffusers 0.42 places each rank on ``rank % torch.accelerator.device_count()``, which is
    a division by zero on a host without an accelerator (measured: ``ZeroDivisionError`` with
    gloo on the CPU). There every rank is on the one CPU device, so the count is 1 while the
    parallelism is set up; nothing else is changed."""
    import torch

    count = torch.accelerator.device_count
    if count() > 0:
        yield
        return
    torch.accelerator.device_count = lambda: 1
    try:
        yield
    finally:
        torch.accelerator.device_count = count


def enable(pipe: Any, layout: Layout, *, case_id: str) -> None:
    """diffusers' context parallelism over ``layout`` on the pipeline's transformer; a family
    whose transformer has no context-parallel plan is a one-line error."""
    from diffusers import ContextParallelConfig

    model = getattr(pipe, "transformer", None)
    if model is None or not getattr(model, "_cp_plan", None) or not hasattr(model, "enable_parallelism"):
        raise RunnerError(f"{type(pipe).__name__} has no context-parallel plan in diffusers (`_cp_plan` on its "
                          "transformer): it cannot run over a parallel layout", case=case_id, field="parallel")
    with _cpu_accelerator_count():
        model.enable_parallelism(config=ContextParallelConfig(ulysses_degree=layout.ulysses, ring_degree=layout.ring))


def run_rank(job: dict[str, Any], rank: int, local_rank: int) -> None:
    from .parallel_run import write_rank
    from .runners import check_result, get_runner
    from .session import GoldenSession, Options
    from .suite import Case, load_suite

    suite = load_suite(job["suite"])
    case = Case(**job["case"])  # what the launcher runs (a --golden-compile variant, a drift layout)
    device = job["device"]
    if device.startswith("cuda"):
        import torch

        device = f"cuda:{local_rank}"
        torch.cuda.set_device(local_rank)
    # Before the build: the faults patch diffusers' sharding at module level, and an unknown
    # name is refused without building a pipeline first.
    fault = os.environ.get(REGRESS_PARALLEL_FAULT, "").strip()
    if fault:
        from .parallel_faults import inject

        inject(fault)
    session = GoldenSession(suite, Options(device=device))
    runner = get_runner(case.pipeline)
    built, build_s = session.pipelines.get(runner, case, dict(job["precision"]), device)
    layout = layout_of(case.parallel)
    enable(built.pipe, layout, case_id=case.id)
    result = runner.run(built, case, device)
    check_result(runner, case, result, file=suite.path)
    result.perf.build_s = build_s
    result.settings["parallel"] = layout.label(backend_for(device))
    write_rank(Path(job["out"]) / f"rank{rank}", result)


def main(argv: list[str]) -> int:
    import torch.distributed as dist

    job = json.loads(Path(argv[0]).read_text(encoding="utf-8"))
    rank, local_rank = int(os.environ.get(RANK, "0")), int(os.environ.get(LOCAL_RANK, "0"))
    out = Path(job["out"]) / f"rank{rank}"
    try:
        dist.init_process_group(backend_for(job["device"]))
        try:
            run_rank(job, rank, local_rank)
        finally:
            dist.destroy_process_group()
    except Exception as exc:  # noqa: BLE001 - one line for the launcher, which names the rank
        out.mkdir(parents=True, exist_ok=True)
        (out / "error.txt").write_text(one_line(exc), encoding="utf-8")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
