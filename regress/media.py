"""When a case's report media (frames, diffs, waveforms) are written: off the critical path.

A case's media wait until the next case's pipeline starts (:meth:`MediaQueue.release`), then
go to a writer thread; the report waits for all of them (:meth:`MediaQueue.drain`).

Why then rather than when a case is judged: the writer's file calls each release the GIL and
wait to take it back, and while the main thread is in pytest's own per-test work (capture,
reports: system calls of its own) each of those hand-offs can land on it; during a pipeline's
build and call the writer only gets the interpreter's periodic switches. Measured on the
2-core CPU machine, the time outside the pipelines per 8-case run went from 20.0-22.7 to
17.3-18.5 ms.
"""

from __future__ import annotations

from concurrent.futures import Future
from pathlib import Path
from typing import Any

from .background import Background


class MediaQueue:
    """Cases waiting for their media, the thread that writes them under ``report_dir``, and
    what it wrote for each (:class:`regress.report.assets.CaseMedia`, by case id and platform):
    the report reads those records, no verdict is written to after judging."""

    def __init__(self, report_dir: Path | None) -> None:
        self.report_dir = report_dir
        self._waiting: list[Any] = []
        self._writer = Background()
        self._written: dict[tuple[str, str], Future[Any]] = {}

    def add(self, run: Any) -> None:
        """Hold a judged case's media (nothing is written without a report directory)."""
        if self.report_dir is not None:
            self._waiting.append(run)

    def release(self) -> None:
        """Hand the waiting cases to the writer thread (called when the next pipeline starts)."""
        if not self._waiting:
            return
        from .report.assets import write_case_assets

        runs, self._waiting = self._waiting, []
        for run in runs:
            v = run.verdict
            self._written[(v.id, v.platform)] = self._writer.submit(write_case_assets, self.report_dir, v, run.output,
                                                                    run.golden_output)

    def of(self, verdict: Any) -> Any:
        """The media records written for ``verdict``, waiting for them; None when none were
        handed to the writer yet."""
        fut = self._written.get((verdict.id, verdict.platform))
        return fut.result() if fut is not None else None

    def written(self) -> dict[tuple[str, str], Any]:
        """Every case's media records, all written (raises what a write raised)."""
        self.release()
        self._writer.drain()
        return {key: fut.result() for key, fut in self._written.items()}

    def close(self) -> None:
        """Write what is left and stop the thread (a long-lived process keeps no idle threads)."""
        self.release()
        self._writer.close()
