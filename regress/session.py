"""The one API behind the pytest plugin and the CLI: run cases, judge them, write goldens.

A :class:`GoldenSession` holds what lives for one run (suite, store, platform, built pipelines,
verdicts, staged goldens); the work lives beside it: :mod:`regress.pipelines`, :mod:`regress.evidence`,
:mod:`regress.judge`, :mod:`regress.staging`, :mod:`regress.provenance`, :mod:`regress.media`, a
case's records in :mod:`regress.case_run` and the results document in :mod:`regress.run_results`.
"""

from __future__ import annotations

import dataclasses
import sys
import time
from collections.abc import Callable, Mapping
from concurrent.futures import Future
from pathlib import Path
from typing import Any

from .background import Background
from .case_run import Attempt, CaseRun, raised_line
from .context import RunContext
from .errors import RegressError, one_line
from .evidence import gather, load_golden
from .judge import Subject, judge
from .numerics import EXACT
from .media import MediaQueue
from .metrics.resident import GoldenOnDevice
from .options import Options
from .outputs import Output
from .pipelines import PipelineCache, run_precision
from .runners import RunResult, check_result, get_runner
from .runners.checkpoint import check_model_pin
from .provenance import record_maker
from .staging import UpdatePolicy, stage_update
from .stores import StagedGolden, Store
from .suite import Case, Suite
from .thresholds import OwnThresholds, Owned
from .verdict import ERROR, SKIPPED, XFAILED, Verdict

__all__ = ["CaseRun", "GoldenSession", "Options", "one_line"]


class GoldenSession(RunContext):
    def __init__(self, suite: Suite, options: Options | None = None, *, store: Store | None = None) -> None:
        super().__init__(suite, options or Options(), store=store)
        self.pipelines = PipelineCache(freeze_heap=self.options.freeze_heap)
        self._reads = Background()  # golden reads, off the critical path (media have their own thread)
        self.media = MediaQueue(self.options.report_dir)
        self.verdicts: list[Verdict] = []
        self.staged: list[StagedGolden] = []
        self.gate_refusals: list[str] = []
        self.adoptable: list[tuple[Subject, Any, Any]] = []  # (subject, case, reviewed golden) to adopt
        self.selected: list[str] | None = None  # case ids asked for before sharding (for coverage)
        self.expected: list[str] | None = None  # case ids this process must run (the publish rule)
        # The golden frames of the case being judged, on the GPU (bisect judges one case many times).
        self.golden_on_device = GoldenOnDevice()
        self.published: list[str] = []  # revisions this session published (an interrupt says the truth)
        self._attempt: Attempt | None = None  # the case being checked (see _captured)

    # ------------------------------------------------------------------ running

    def precision_for(self, case: Case, override: Mapping[str, str] | None = None) -> dict[str, str]:
        """The table ``case`` runs with (see :func:`regress.pipelines.run_precision`); ``override``
        replaces ``--golden-precision`` (a sweep's variants)."""
        layer = self.options.precision if override is None else override
        return run_precision(get_runner(case.pipeline), case, layer, file=self.suite.path)

    def run(self, case: Case, *, precision: Mapping[str, str] | None = None) -> RunResult:
        """Run a case, building (or reusing) its pipeline; ``precision`` replaces the run's
        ``--golden-precision`` layer."""
        if case.parallel:  # over its ranks, merged into one result (regress.parallel_run)
            from .parallel_run import launch

            return launch(suite_path=self.suite.path, case=case, precision=self.precision_for(case, precision),
                          device=self.device)
        runner = get_runner(case.pipeline)
        from . import warmup

        warmup.start(self.device)  # the judgement's one-time costs overlap the build (regress.warmup)
        table = self.precision_for(case, precision)
        self._at("the runner's build")
        built, build_s = self.pipelines.get(runner, case, table, self.device)
        warmup.wait(self.device)  # finished before a measured call: its memory and time are not the call's
        self._at("the runner")
        result = runner.run(built, case, self.device)
        self._at("checking the runner's result")
        check_result(runner, case, result, file=self.suite.path)
        if not result.settings and "torch" in sys.modules:  # a custom runner that records none
            from .runners.observation import precision_settings

            result.settings = precision_settings(self.device)
        result.perf.build_s = build_s  # the cache times every runner's build, and owns the figure
        return result

    def check(self, case: Case) -> CaseRun:
        """Run a case and judge it against its golden; stage a new golden if the update mode
        says so. Never raises for a regression, nor for anything a runner, the store or a metric
        raises: the verdict says what happened (see :meth:`_captured`)."""
        t0 = time.perf_counter()

        def run_and_judge() -> CaseRun:
            self._at("checking the model pin")
            pin_warning = check_model_pin(case, strict=self.options.strict, file=self.suite.path)
            self._at("reading the golden")
            golden = self.read_golden(case.id)
            self.media.release()  # the previous case's media are written while this one runs
            result = self.run(case)
            return self._judge(Subject.of_run(case, result), case, result, t0, golden,  # a Hub model on a branch:
                               notes=(pin_warning,) if pin_warning else ())  # warned outside --golden-strict

        try:
            return self._captured(Attempt(case.id, case.model, t0), run_and_judge)
        finally:
            self.golden_on_device.release()  # a suite run judges each case once

    def _captured(self, attempt: Attempt, work: Callable[[], CaseRun]) -> CaseRun:
        """The one record and failure-capture rule: ``work`` judges one case, and its record is
        kept here (the verdict, its media queued); whatever it raises (a runner's build or run,
        the golden's read on the I/O thread, a metric running out of memory, staging) becomes
        that case's ``error`` record instead, naming what raised.

        Why in one place: a case without a record is "did not run" in merged coverage, and a
        try/except per call site misses the next one. What the failed attempt recorded or staged
        is dropped first: one record per case, never a half-judged golden published.
        KeyboardInterrupt and SystemExit stop the run."""
        outer, self._attempt = self._attempt, attempt
        marks = len(self.verdicts), len(self.staged), len(self.gate_refusals), len(self.adoptable)
        try:
            run = work()
            self.verdicts.append(run.verdict)  # every case's one record, judged or not, is kept here
            self.media.add(run)
            return run
        except Exception as exc:  # noqa: BLE001 - see the docstring
            del self.verdicts[marks[0]:], self.staged[marks[1]:], self.gate_refusals[marks[2]:]
            del self.adoptable[marks[3]:]
            kind = attempt.kind or (attempt.output.kind if attempt.output is not None else None)
            verdict = Verdict(id=attempt.case_id, platform=self._platform_or_none(), status=ERROR,
                              reasons=[raised_line(attempt.step, exc)], kind=kind, model=attempt.model)
            verdict.duration_s = time.perf_counter() - attempt.started
            run = CaseRun(verdict, attempt.result, None)
            self.verdicts.append(verdict)
            try:  # the record stands even where its media cannot be queued
                self.media.add(run)
            except Exception:  # noqa: BLE001
                pass
            return run
        finally:
            self._attempt = outer

    def _at(self, step: str) -> None:
        """Name what runs now in the case being checked (the error line names it if it raises)."""
        if self._attempt is not None:
            self._attempt.step = step

    def _platform_or_none(self) -> str:
        try:
            return self.platform
        except Exception:  # noqa: BLE001 - the record matters more than its key
            return self.options.platform or "unknown"

    def read_golden(self, case_id: str) -> Future[tuple[Any, str, Output | None]] | None:
        """Start reading the case's golden on the I/O thread, for :meth:`judge`'s ``prefetched``
        (:meth:`check` overlaps it with the run). None: the store cannot open; judging says why."""
        try:
            store, platform = self.store, self.platform
        except RegressError:
            return None
        return self._reads.submit(load_golden, store, case_id, platform)

    def judge(self, case: Case, result: RunResult, *, started: float | None = None,
              prefetched: Future[tuple[Any, str, Output | None]] | None = None) -> CaseRun:
        """Judge a suite case's run against its golden, and stage it if asked to. ``prefetched``: the
        golden being read already (:meth:`read_golden`). Never raises (see :meth:`_captured`)."""
        t0 = time.perf_counter() if started is None else started
        return self._captured(Attempt(case.id, case.model, t0, result=result),
                              lambda: self._judge(Subject.of_run(case, result), case, result, t0, prefetched))

    def judge_output(self, *, case_id: str, output: Output, thresholds: Mapping[str, float] | None = None,
                     fingerprint: Mapping[str, str] | None = None, create_with: str | None = None) -> CaseRun:
        """Judge a hand-written test's output (the ``golden`` fixture) as a suite case, against the golden
        under ``case_id``; ``thresholds`` layer on the suite's; ``create_with`` makes a missing one."""
        subject = Subject(id=case_id, output=output, fingerprint=dict(fingerprint or {}), create_with=create_with)
        attempt = Attempt(case_id, None, time.perf_counter(), kind=getattr(output, "kind", None))
        own = OwnThresholds(dict(thresholds or {}))
        return self._captured(attempt, lambda: self._judge(subject, own, None, None, None))

    def _judge(self, subject: Subject, case: Owned, result: RunResult | None, started: float | None,
               prefetched: Future[tuple[Any, str, Output | None]] | None, *, notes: tuple[str, ...] = ()) -> CaseRun:
        t0 = time.perf_counter() if started is None else started
        attempt = self._attempt or Attempt(subject.id, subject.model, t0)  # (outside _captured: nobody reads it)
        attempt.result, attempt.output = result, subject.output
        platform, o = self.platform, self.options  # (resolved once per session: regress.context)
        golden_output: Output | None = None
        try:
            attempt.step = "reading the golden"
            loaded = prefetched.result() if prefetched is not None else load_golden(self.store, subject.id, platform)
            path = None  # (a compiled or parallel case without a golden of its own: its twin's, across a path)
            if loaded[0] is None:
                loaded, subject, path = self.eager_golden(case, subject, loaded)
            identity = self.identity if loaded[0] is not None else None  # (the probe: only for a golden)
            attempt.step = "computing the metrics"
            evidence, thresholds, golden_output = gather(
                subject, loaded, case=case, suite=self.suite, store=self.store, platform=platform, device=self.device,
                identity=identity, exact=o.exact, on_device=self.golden_on_device, path=path)
        except RegressError as exc:
            verdict = Verdict(id=subject.id, platform=platform, status=ERROR, reasons=[str(exc)],
                              kind=subject.output.kind, model=subject.model)
            verdict.duration_s = time.perf_counter() - t0  # made here, not judged: nothing final yet
            verdict.warnings += list(notes)
            return CaseRun(verdict, result, None)
        finally:  # judged: no device memory goes on to the report, staging or the media writer
            for judged in (subject.output, golden_output):
                if judged is not None and judged.on_device is not None:
                    judged.keep_on_device()
        attempt.step = "judging"
        verdict = judge(subject, evidence, thresholds, platform=platform, suite=self.suite, strict=o.strict)
        if evidence.numerics is not None and evidence.numerics.regime != EXACT and evidence.golden is not None:
            from .references import judge_reference

            attempt.step = "judging against the machine's reference"
            verdict = judge_reference(self, verdict, subject, case, evidence.golden)
        attempt.step = "staging the golden"
        update = stage_update(verdict, subject, evidence.golden, platform=platform,
                              policy=UpdatePolicy(o.update, o.force, o.replace_other_machine),
                              drift_cap=self.suite.drift_cap,  # the meta is made only where a golden is staged:
                              make_meta=lambda: record_maker(self, subject, case)())
        verdict = update.applied(verdict)  # a new record where staging changed the outcome; the judged one stays
        self.staged.extend([update.staged] if update.staged else [])
        self.gate_refusals.extend([update.refusal] if update.refusal else [])
        if o.record_dir is not None or o.baseline_dir is not None:
            from .ab import record_and_judge

            attempt.step = "the A/B record"
            verdict = record_and_judge(self, verdict, subject, case)
        verdict = dataclasses.replace(verdict, duration_s=time.perf_counter() - t0,
                                      warnings=[*verdict.warnings, *notes])
        attempt.step = "recording the verdict"
        return CaseRun(verdict, result, golden_output, subject.output, update=update)

    # ------------------------------------------------------------------ goldens

    def take_staged(self) -> list[StagedGolden]:
        """The goldens staged so far, handed over (``refresh --stage DIR`` writes them elsewhere)."""
        staged, self.staged = self.staged, []
        return staged

    def publish(self) -> str | None:
        """Publish staged goldens as one change (file store: files + lock, all or nothing)."""
        if not self.staged:
            return None
        ids = ", ".join(sorted({g.case_id for g in self.staged}))
        platforms = ", ".join(sorted({g.platform for g in self.staged}))  # staged ones may come from other runners
        revision = self.store.publish(self.staged, message=f"regress: goldens for {ids} on {platforms}")
        self.staged = []
        self.published.append(revision)
        return revision

    # ------------------------------------------------------------------ reporting

    def media_of(self, verdict: Verdict) -> Any:
        """The media records written for a verdict so far (see :meth:`regress.media.MediaQueue.of`)."""
        return self.media.of(verdict)

    def record_skip(self, case: Case, reason: str) -> Verdict:
        """A case the suite skips on this platform: recorded, so that a merged report can tell
        a deliberate skip from a case that never ran."""
        verdict = Verdict(id=case.id, platform=self.platform, status=SKIPPED, warnings=[reason])
        self.verdicts.append(verdict)
        return verdict

    def record_xfail(self, verdict: Verdict, reason: str) -> Verdict:
        """pytest reported the test of a failing verdict as xfailed: the record says
        ``xfailed`` (a new verdict in its place; the judged one is left as it was)."""
        if not verdict.failed:
            return verdict
        from dataclasses import replace

        why = f"expected to fail: {reason}" if reason else "expected to fail (xfail)"
        marked = replace(verdict, status=XFAILED, warnings=[*verdict.warnings, why])
        self.verdicts = [marked if v is verdict else v for v in self.verdicts]
        return marked

    def results_doc(self, *, media: bool = True) -> dict[str, Any]:
        """This run as a results.json document (see :mod:`regress.run_results`); without
        ``media``, its records only (the media writer failed: the records still go out)."""
        from .run_results import results_of

        return results_of(self, self.verdicts, media=self.media if media else None, selected=self.selected)

    def close(self) -> None:
        """Finish the I/O threads' work and stop them (a long-lived process keeps no idle threads)."""
        self.golden_on_device.release()
        self._reads.close()
        self.media.close()

    def write_report(self) -> Path | None:
        from .run_results import write_report

        return write_report(self.options.report_dir, self.results_doc)
