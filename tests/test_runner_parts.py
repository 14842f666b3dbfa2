"""The pieces the diffusers runners are made of: the private torch profiler API still works on
the installed torch, the session owns a build's time, and regress keeps its state beside a
diffusers pipeline rather than on it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")


def test_private_profiler_api_reports_allocations_and_stage_ranges() -> None:
    """regress.runners.torch_profiler is the only user of torch's private profiler entry points:
    if a torch release moves them, this fails instead of the CPU memory gate going quiet."""
    from regress.runners import torch_profiler

    assert torch_profiler.start_memory_profiler() is True
    try:
        rf = torch_profiler.stage_range("decode")
        rf.__enter__()
        block = torch.empty(1 << 20, dtype=torch.uint8)  # 1 MiB inside the range
        del block
        rf.__exit__(None, None, None)
    finally:
        times, sizes, ranges = torch_profiler.stop_memory_profiler()
    assert [stage for _, _, stage in ranges] == ["decode"]
    start, end, _ = ranges[0]
    inside = [s for t, s in zip(times, sizes, strict=True) if start <= t <= end]
    assert 1 << 20 in inside and -(1 << 20) in inside  # the allocation and its free, in bytes
    assert len(times) == len(sizes)


class _Counting:
    """A custom runner that counts builds: the session caches what build returns and times it."""

    name = "counting"
    output_kind = "image"
    default_precision = {"model": "fp32"}

    def __init__(self) -> None:
        self.builds = 0

    def build(self, case, precision, device):  # noqa: ANN001, ANN201
        self.builds += 1
        return object()

    def run(self, built, case, device):  # noqa: ANN001, ANN201
        from regress.outputs import Output
        from regress.runners import Perf, RunResult

        return RunResult(Output(image=np.zeros((4, 4, 3), np.uint8)), {"model": "fp32"}, Perf(wall_s=0.0))


def test_the_session_owns_build_time_for_every_case_of_a_pipeline(tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    import regress.runners
    from regress.session import GoldenSession, Options
    from regress.suite import load_suite

    runner = _Counting()
    monkeypatch.setattr(regress.runners, "_registered", {"counting": runner})
    monkeypatch.setattr(regress.runners, "_loaded", {})
    suite = tmp_path / "suite.toml"
    suite.write_text('[store]\nkind = "file"\npath = "store"\n\n'
                     '[[case]]\nid = "a"\npipeline = "counting"\nprompt = "x"\n\n'
                     '[[case]]\nid = "b"\npipeline = "counting"\nprompt = "y"\n')
    session = GoldenSession(load_suite(suite), Options(device="cpu"))
    first, second = (session.run(session.suite.case(c)) for c in ("a", "b"))
    assert runner.builds == 1
    assert first.perf.build_s is not None and first.perf.build_s == second.perf.build_s
