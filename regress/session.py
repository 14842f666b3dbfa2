"""The one API behind the pytest plugin and the CLI: run cases, judge them, write goldens.

A :class:`GoldenSession` holds what lives for one run: the suite, the pinned store, the
platform, a cache of built pipelines (one per family, model, precision and device), the
verdicts so far, and the goldens waiting to be published (``--golden-update`` / refresh).
"""

from __future__ import annotations

import datetime as _dt
import subprocess
import time
from collections.abc import Mapping
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import __version__
from .background import Background
from .errors import RegressError, RunnerError
from .gate import drift_problems, quality_problems
from .outputs import Output
from .precision import resolve_precision
from .runners import RunResult, check_result, get_runner
from .runners.checkpoint import check_model_pin
from .stores import StagedGolden, Store, open_store
from .modes import UPDATE_MODES
from .stores.base import lookup
from .suite import Case, Suite
from .verdict import (ERROR, FAILED, MISSING, PASSED, SKIPPED, WRITTEN, XFAILED, Verdict, perf_diff, precision_diff,
                      resolve_thresholds)



@dataclass
class Options:
    """Per-run choices (CLI flags / pytest options)."""

    platform: str | None = None  # file goldens under this key instead of the detected one
    device: str | None = None  # 'cpu', 'cuda', 'cuda:1'; default: cuda when available
    strict: bool = False  # a missing golden fails (default under CI)
    update: str = "none"  # none | missing | failed | all
    precision: Mapping[str, str] = field(default_factory=dict)  # COMPONENT -> dtype, for this run only
    report_dir: Path | None = None
    force: bool = False  # publish goldens that fail the quality gate
    shard: str | None = None  # 'I/N' when this run is one shard of the suite (recorded in results.json)
    worker: str | None = None  # pytest-xdist worker id ('gw0') when this run is one worker of several
    publish: str | None = None  # Hub stores: commit new goldens through 'hub' (HfApi) or 'git'
    create_pr: bool = False  # Hub stores: publish as a Hub pull request
    freeze_heap: bool = False  # gc.freeze() after the first build (a process that exists for this run)
    replace_other_machine: bool = False  # updates may replace a golden that another machine made
    exact: bool = False  # judge in the exact regime even where the kernel probe differs (bisect --exact)


@dataclass
class CaseRun:
    """A case's run plus its judgement, kept for the report."""

    verdict: Verdict
    result: RunResult | None
    golden_output: Output | None


class GoldenSession:
    def __init__(self, suite: Suite, options: Options | None = None, *, store: Store | None = None) -> None:
        self.suite = suite
        self.options = options or Options()
        if self.options.update not in UPDATE_MODES:
            raise RegressError(f"--golden-update must be one of {', '.join(UPDATE_MODES)}, got "
                               f"'{self.options.update}'")
        if self.options.platform is not None:  # every entry point (plugin, refresh, calibrate, API)
            from .platform import require_key

            require_key(self.options.platform)
        self._store = store
        self._platform_info: Any = None
        self._pipes: dict[tuple, tuple[Any, float]] = {}  # key -> (what runner.build returned, seconds)
        self._heap_frozen = False
        # Off the critical path: golden reads (one thread) and report media (another, so that a
        # case's golden is never queued behind the previous case's media).
        self._reads = Background()
        self._writes = Background()
        # A case's media wait here until the next case's pipeline starts (see _release_media).
        self._media: list[CaseRun] = []
        # What the I/O thread wrote for each case, by (case id, platform): the report reads these
        # (regress.report.assets returns them; no verdict is written to after judging).
        self._media_written: dict[tuple[str, str], Future[Any]] = {}
        self.verdicts: list[Verdict] = []
        self.staged: list[StagedGolden] = []
        self.gate_refusals: list[str] = []
        self.selected: list[str] | None = None  # case ids asked for before sharding (for coverage)

    # ------------------------------------------------------------------ environment

    @property
    def store(self) -> Store:
        if self._store is None:
            o = self.options
            self._store = open_store(self.suite, strict=o.strict, publish=o.publish, create_pr=o.create_pr)
        return self._store

    @property
    def platform_info(self) -> Any:
        if self._platform_info is None:
            from . import kernels
            from .platform import detect

            kernels.apply_env()  # REGRESS_KERNELS: before anything computes
            self._platform_info = detect(self.options.device)
        return self._platform_info

    @property
    def identity(self) -> Any:
        """This machine's numerics identity (regress.numerics): installed versions and the kernel
        probe, run once per session on the run's device (again only if a kernel setting changed).
        First asked for when the first case is judged, after its pipeline ran: on a GPU the
        cuBLAS / cuDNN start-up is then paid already, not charged to the probe."""
        from .probe import identity

        return identity(self.device)

    @property
    def platform(self) -> str:
        return self.options.platform or self.platform_info.key

    @property
    def device(self) -> str:
        return self.platform_info.device

    # ------------------------------------------------------------------ running

    def precision_for(self, case: Case, override: Mapping[str, str] | None = None) -> dict[str, str]:
        """Family default < case ``precision`` < ``--golden-precision`` (or ``override``, as a
        sweep passes); unknown components are an error naming the case and field."""
        runner = get_runner(case.pipeline)
        known = set(runner.default_precision)
        run_layer = self.options.precision if override is None else override
        for where, layer in (("precision", case.precision), ("--golden-precision", run_layer)):
            for comp in layer:
                if comp not in known:
                    raise RunnerError(f"unknown component '{comp}' for pipeline '{case.pipeline}' (components: "
                                      f"{', '.join(sorted(known))})", file=self.suite.path, case=case.id,
                                      field=f"{where}.{comp}" if where == "precision" else where)
        return resolve_precision(runner.default_precision, case.precision, run_layer)

    def release(self) -> None:
        """Drop every cached pipeline (and the CUDA cache): a sweep measures one at a time."""
        self._pipes.clear()
        import gc

        gc.collect()
        import sys

        torch = sys.modules.get("torch")
        if torch is not None and torch.cuda.is_available():
            torch.cuda.empty_cache()

    def run(self, case: Case, *, precision: Mapping[str, str] | None = None) -> RunResult:
        """Run a case, building (or reusing) its pipeline; ``precision`` replaces the run's
        ``--golden-precision`` layer."""
        runner = get_runner(case.pipeline)
        precision = self.precision_for(case, precision)
        key = (case.pipeline, case.model, case.model_revision, tuple(sorted(precision.items())), self.device)
        if key not in self._pipes:
            t0 = time.perf_counter()
            built = runner.build(case, precision, self.device)
            self._pipes[key] = (built, time.perf_counter() - t0)
            if self.options.freeze_heap and not self._heap_frozen:
                freeze_heap()  # after the first build: diffusers and transformers are imported
                self._heap_frozen = True
        built, build_s = self._pipes[key]
        result = runner.run(built, case, self.device)
        check_result(runner, case, result, file=self.suite.path)
        result.perf.build_s = build_s  # the session times every runner's build, and owns the figure
        return result

    def check(self, case: Case) -> CaseRun:
        """Run a case and judge it against its golden; stage a new golden if the update mode
        says so. Never raises for a regression: the verdict says what happened."""
        t0 = time.perf_counter()
        try:
            pin_warning = check_model_pin(case, strict=self.options.strict, file=self.suite.path)
            golden = self._prefetch(case)
            self._release_media()
            result = self.run(case)
        except Exception as exc:  # noqa: BLE001 - whatever a runner raises, the case keeps its record
            verdict = Verdict(id=case.id, platform=self.platform, status=ERROR, reasons=[one_line(exc)],
                              model=_model_of(case))
            verdict.duration_s = time.perf_counter() - t0
            return self._record(CaseRun(verdict, None, None))
        run = self.judge(case, result, started=t0, prefetched=golden)
        if pin_warning:  # a Hub model on a branch (allowed outside --golden-strict)
            run.verdict.warnings.append(pin_warning)
        return run

    def _prefetch(self, case: Case) -> Future[tuple[Any, str, Output | None]] | None:
        """Start reading the case's golden on the I/O thread while the case runs. The store and
        platform are resolved here, on this thread; if the store cannot open, :meth:`judge`
        reports why."""
        try:
            store, platform = self.store, self.platform
        except RegressError:
            return None
        return self._reads.submit(_load_golden, store, case.id, platform)

    def judge(self, case: Case, result: RunResult, *, started: float | None = None,
              prefetched: Future[tuple[Any, str, Output | None]] | None = None,
              create_with: str | None = None) -> CaseRun:
        """Judge an output that is already there (from a runner, or from a hand-written test
        through the ``golden`` fixture) against its golden, and stage it if asked to.
        ``prefetched``: the golden being read already (:meth:`_prefetch`). ``create_with``: the
        command that makes a missing golden (default: ``regress refresh -k <case>``)."""
        t0 = time.perf_counter() if started is None else started
        platform = self.platform
        verdict = Verdict(id=case.id, platform=platform, status=PASSED, model=_model_of(case))
        out = result.output
        verdict.kind = out.kind
        verdict.precision = precision_diff(None, result.fingerprint)
        verdict.perf = perf_diff(None, result.perf.to_json())

        golden_output: Output | None = None
        try:
            golden, match, golden_output = (prefetched.result() if prefetched is not None
                                            else _load_golden(self.store, case.id, platform))
            if match == "nearest":  # a stand-in: prefer one whose kernel probe equals this machine's
                better, _ = lookup(self.store, case.id, platform, identity=self.identity)
                if better is not None and better.platform != golden.platform:
                    golden, golden_output = better, better.output()
        except RegressError as exc:
            verdict.status, verdict.reasons = ERROR, [str(exc)]
            verdict.duration_s = time.perf_counter() - t0
            return self._record(CaseRun(verdict, result, None))

        if out.nonfinite:
            verdict.reasons.append(f"output holds {out.nonfinite} NaN/Inf values")
        if golden is None:
            verdict.status = MISSING
            verdict.golden = {"platform": None, "match": "missing", "revision": self.store.revision}
            make = create_with or f"regress refresh -k {case.id}"
            note = f"no golden for platform {platform} (nor one of the same backend); create it with `{make}`"
            (verdict.reasons if self.options.strict else verdict.warnings).append(note)
        else:
            assert golden_output is not None
            verdict.golden = {"platform": golden.platform, "match": match, "revision": golden.revision,
                              "path": str(golden.directory)}
            self._judge(case, verdict, golden, golden_output, result, match)
        if verdict.reasons and verdict.status == PASSED:
            verdict.status = FAILED
        self._maybe_stage(case, verdict, result, golden)
        verdict.duration_s = time.perf_counter() - t0
        return self._record(CaseRun(verdict, result, golden_output))

    def _judge(self, case: Case, verdict: Verdict, golden: Any, golden_output: Output, result: RunResult,
               match: str) -> None:
        """Gather the evidence (numerics regime, metrics) and hand it to the one judging step."""
        from .judge import Evidence, judge, thresholds_for
        from .metrics.compare import compare_outputs
        from .metrics.lpips import lpips_setup, lpips_verdict
        from .metrics.stages import stage_evidence
        from .numerics import compare as compare_numerics

        numerics = compare_numerics(golden.meta.get("identity"), self.identity,
                                    same_key=golden.platform == verdict.platform, golden_platform=golden.platform)
        if self.options.exact and not numerics.exact:  # bisect --exact: what moved the output at all
            import dataclasses

            numerics = dataclasses.replace(numerics, regime="exact", notes=("judged exactly on request: the kernel "
                                                                             "probe differs",))
        thresholds = thresholds_for(self.suite, case, verdict.platform, golden_platform=golden.platform,
                                    golden_meta=golden.meta, regime=numerics.regime)
        lp = lpips_setup(self.suite, self.store, thresholds)
        comp = compare_outputs(golden_output, result.output, device=self.device, lpips=lp and lp.request)
        if lp is not None:
            lpips_verdict(lp, verdict, comp, thresholds, golden.meta, strict=self.options.strict)
        stages, stage_values = stage_evidence(golden_output, result.output)
        values = {**comp.values, **stage_values}
        evidence = Evidence(case=case, platform=verdict.platform, golden_platform=golden.platform,
                            golden_meta=golden.meta, numerics=numerics, values=values, mismatch=comp.mismatch,
                            worst_frame=comp.worst_frame, worst_frames=comp.worst_frames, per_frame=comp.per_frame,
                            fingerprint=result.fingerprint, perf=result.perf.to_json(), versions=result.versions,
                            stages=stages)
        judge(verdict, evidence, thresholds, suite=self.suite)

    # ------------------------------------------------------------------ goldens

    def _wants_update(self, verdict: Verdict) -> bool:
        """``missing`` means no golden for this exact platform: a golden borrowed from a
        neighbouring arch is not this platform's golden."""
        mode = self.options.update
        missing = verdict.status == MISSING or verdict.golden.get("match") != "exact"
        return mode == "all" or (mode == "missing" and missing) or (
            mode == "failed" and (missing or verdict.status == FAILED))

    def _maybe_stage(self, case: Case, verdict: Verdict, result: RunResult, golden: Any = None) -> None:
        if not self._wants_update(verdict):
            return
        problems = quality_problems(result.output)
        if self.suite.drift_cap and golden is not None and verdict.golden.get("match") == "exact" \
                and golden.meta.get("spec_hash") in (None, case.spec_hash()):
            # Only against the golden this one replaces, made from the same inputs: a changed spec
            # or another platform's golden is expected to differ.
            problems += drift_problems({k: m.value for k, m in verdict.metrics.items()}, self.suite.drift_cap)
        if problems and not self.options.force:
            msg = f"{case.id}: not written as a golden: {'; '.join(problems)} (use --force to write it anyway)"
            self.gate_refusals.append(msg)
            verdict.reasons.append(msg)
            verdict.status = FAILED
            return
        replaced = golden if golden is not None and verdict.golden.get("match") == "exact" else None
        meta = self.golden_meta(case, result)
        if replaced is not None:
            other = other_machine(replaced.meta, meta)
            if other and not self.options.replace_other_machine:
                msg = (f"{case.id}: not replaced: its {replaced.platform} golden was made on {other[0]} (this machine: "
                       f"{other[1]}); replacing it loses that machine's numerics. Refresh it there, or pass "
                       "--replace-other-machine")
                self.gate_refusals.append(msg)
                verdict.reasons.append(msg)
                verdict.status = FAILED
                return
            if not other and same_output(replaced.meta, result.output) \
                    and replaced.meta.get("precision") == result.fingerprint:
                from .outputs import STAGES_FILE

                unchanged = ((replaced.meta.get("identity") or {}).get("digest") == meta["identity"]["digest"]
                             and (replaced.meta.get("platform") or {}).get("versions") == meta["platform"]["versions"]
                             and (STAGES_FILE in (replaced.meta.get("files") or {})) == bool(result.output.stages))
                if unchanged:
                    verdict.warnings.append("bit-identical to its golden: nothing to publish (its calibration and "
                                            "drift bounds are kept)")
                    return
                # Same bytes, new provenance (an identity, versions, settings, stage checkpoints):
                # keep what was measured against these very bytes.
                for block in ("noise_floor", "drift"):
                    if replaced.meta.get(block) is not None:
                        meta[block] = replaced.meta[block]
        self.staged.append(StagedGolden(case.id, self.platform, result.output, meta))
        verdict.warnings.append(f"golden {'re' if verdict.status != MISSING else ''}written (was {verdict.status}"
                                + (": " + "; ".join(verdict.reasons) if verdict.reasons else "") + ")")
        verdict.reasons = []
        verdict.status = WRITTEN

    def golden_meta(self, case: Case, result: RunResult) -> dict[str, Any]:
        info = self.platform_info.to_json()
        info["key"] = self.platform
        info["versions"] = {**info.get("versions", {}), **result.versions}
        return {
            "case": case.id,
            "spec_hash": case.spec_hash(),
            "spec": case.spec(),
            "platform": info,
            "identity": self.identity.to_json(),
            "precision": result.fingerprint,
            "kind": result.output.kind,
            "shapes": result.output.shapes(),
            "fps": result.output.fps,
            "sample_rate": result.output.sample_rate,
            "perf": result.perf.to_json(),
            "noise_floor": None,
            "lpips_weights": self.lpips_record(case),
            "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
            "regress_version": __version__,
            "source_commit": source_commit(self.suite.path.parent),
        }

    def lpips_record(self, case: Case) -> dict[str, str] | None:
        """The LPIPS weights this case is judged with (recorded in its golden's meta), when the
        suite gates LPIPS and weights are available."""
        from .metrics.lpips import lpips_setup

        thresholds = resolve_thresholds(self.suite, case, self.platform)
        lp = lpips_setup(self.suite, self.store, thresholds)
        return lp.weights.to_json() if lp is not None and lp.weights is not None else None

    def publish(self) -> str | None:
        """Publish staged goldens as one change (file store: files + lock, all or nothing)."""
        if not self.staged:
            return None
        ids = ", ".join(sorted({g.case_id for g in self.staged}))
        platforms = ", ".join(sorted({g.platform for g in self.staged}))  # staged ones may come from other runners
        revision = self.store.publish(self.staged, message=f"regress: goldens for {ids} on {platforms}")
        self.staged = []
        return revision

    # ------------------------------------------------------------------ reporting

    def _record(self, run: CaseRun) -> CaseRun:
        self.verdicts.append(run.verdict)
        if self.options.report_dir is not None:
            self._media.append(run)
        return run

    def _release_media(self) -> None:
        """Hand the recorded cases' media to the I/O thread, which writes them and returns
        each case's media records; results_doc() waits for them.

        Called when the next pipeline starts rather than when a case is judged: the writer's
        file calls each release the GIL and wait to take it back, and while the main thread is
        in pytest's own per-test work (capture, reports: system calls of its own) each of those
        hand-offs can land on it; during a pipeline's build and call the writer only gets the
        interpreter's periodic switches. Measured on the 2-core CPU machine, the time outside
        the pipelines per 8-case run went from 20.0-22.7 to 17.3-18.5 ms."""
        if not self._media:
            return
        from .report.assets import write_case_assets

        runs, self._media = self._media, []
        for run in runs:
            v = run.verdict
            self._media_written[(v.id, v.platform)] = self._writes.submit(
                write_case_assets, self.options.report_dir, v, run.result.output if run.result else None,
                run.golden_output)

    def media_of(self, verdict: Verdict) -> Any:
        """The media records (regress.report.assets.CaseMedia) written for a verdict so far,
        waiting for them; None when none were handed to the writer yet."""
        fut = self._media_written.get((verdict.id, verdict.platform))
        return fut.result() if fut is not None else None

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

    def results_doc(self) -> dict[str, Any]:
        """This run as a results.json document (see :mod:`regress.report.results`)."""
        from .report.results import results_doc

        try:
            self._release_media()
            self._writes.drain()
            media = {key: fut.result() for key, fut in self._media_written.items()}  # raises a writer's error
        except OSError as exc:
            raise RegressError(f"writing the report's media failed: {exc}") from None
        revision, entries = None, None
        try:  # a store that failed to open was a collection error; the report still says what ran
            revision = self.store.revision
            entries = self.store.entries()
        except RegressError:
            pass
        return results_doc(self.verdicts, suite=self.suite, platform=self.platform, revision=revision,
                           selected=self.selected, shard=self.options.shard, worker=self.options.worker,
                           store_entries=entries, media=media)

    def close(self) -> None:
        """End of the run: wait for the I/O thread's work and stop the thread (a long-lived
        process running many sessions keeps no idle threads)."""
        self._reads.close()
        self._release_media()
        self._writes.close()

    def write_report(self) -> Path | None:
        if self.options.report_dir is None:
            return None
        from .report import write_doc_report

        return write_doc_report(self.options.report_dir, self.results_doc())


def _model_of(case: Case) -> str | None:
    """The model a verdict names: none for a hand-written test's output (the golden fixture)."""
    return None if case.pipeline == "fixture" else case.model


def other_machine(old_meta: Mapping[str, Any], new_meta: Mapping[str, Any]) -> tuple[str, str] | None:
    """(the golden's machine, this machine) when a golden was made on another machine: another
    CPU model or GPU name in its identity (or, for a golden from before identities, the device
    its provenance names); None when it is this machine's, or nothing says otherwise."""
    def machine(meta: Mapping[str, Any]) -> str | None:
        inst = (meta.get("identity") or {}).get("installed") or {}
        name = inst.get("gpu.name") or inst.get("cpu.model")
        if name:
            return str(name)
        dev = ((meta.get("platform") or {}).get("versions") or {}).get("device")
        return str(dev) if dev else None

    old, new = machine(old_meta), machine(new_meta)
    if old and new and old != new and not (new.startswith(old) or old.startswith(new)):
        return old, new
    return None


def same_output(meta: Mapping[str, Any], output: Output) -> bool:
    """Whether ``output`` encodes to exactly the files a golden's meta lists."""
    import hashlib

    from .outputs import OUTPUT_FILES

    files = {k: v for k, v in (meta.get("files") or {}).items() if k in OUTPUT_FILES}
    encoded = {k: v for k, v in output.encode().items() if k in OUTPUT_FILES}
    return bool(files) and set(files) == set(encoded) and all(
        hashlib.sha256(data).hexdigest() == files[name] for name, data in encoded.items())


def one_line(exc: BaseException) -> str:
    """A case's error as one line: regress's own message, or the exception's type and first
    line (a runner's traceback belongs in its own logs, not in results.json)."""
    if isinstance(exc, RegressError):
        return str(exc)
    first = (str(exc).strip().splitlines() or [""])[0][:300]
    return f"the runner raised {type(exc).__name__}" + (f": {first}" if first else "")


def freeze_heap() -> None:
    """Move every object alive now to the garbage collector's permanent generation.

    Without it each automatic full collection during a run walks the millions of objects of
    torch, diffusers and transformers. Measured in a fresh `pytest -m golden` process on the
    2-core CPU machine, eight tiny cases: full collections took 626 ms during the run; frozen
    after collection (torch imported) and after the first build (diffusers imported), 89-126
    ms (on the H100 host: 564-674 ms, frozen 148-208 ms; benchmarks/RESULTS.md).
    Only for processes that exist for the run (the plugin, the CLI): frozen objects are never
    collected, so a library caller's heap is left alone (``Options.freeze_heap``). A
    ``gc.freeze()`` is a constant-time list splice, so calling it twice costs nothing.
    """
    import gc

    gc.freeze()


def _load_golden(store: Store, case_id: str, platform: str) -> tuple[Any, str, Output | None]:
    """(golden, how it matched, its verified output) for a case on a platform; no golden:
    (None, 'missing', None)."""
    golden, match = lookup(store, case_id, platform)
    return golden, match, (golden.output() if golden is not None else None)


def source_commit(directory: Path) -> str | None:
    """The git commit of the code that produced a golden (provenance), if in a git checkout."""
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=directory, capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.TimeoutExpired):
        return None
    sha = out.stdout.strip()
    return sha if out.returncode == 0 and len(sha) == 40 else None
