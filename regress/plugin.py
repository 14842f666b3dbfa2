"""pytest plugin (entry point ``pytest11``): the suite's cases as test items.

Thin by design: options are parsed here, everything else is :class:`regress.session.GoldenSession`.
This module is imported in every pytest run of the environment, so it imports nothing heavy;
torch and diffusers load when the suite file is collected.
"""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import Any

import pytest

from .env import in_ci
from .errors import RegressError
from .modes import PUBLISH_TARGETS, UPDATE_MODES

_SESSIONS = pytest.StashKey[dict]()
_DEFAULT_SUITE = "goldens/suite.toml"


def pytest_addoption(parser: pytest.Parser) -> None:
    g = parser.getgroup("regress", "golden-output regression tests (regress)")
    g.addoption("--golden-suite", default=_DEFAULT_SUITE, metavar="PATH",
                help="suite file whose cases become test items (default: goldens/suite.toml)")
    g.addoption("--golden-update", default="none", choices=UPDATE_MODES,
                help="write goldens for missing / failed / all selected cases into the store and bump the lock")
    g.addoption("--golden-report", default=None, metavar="DIR", help="write results.json and index.html here")
    g.addoption("--golden-platform", default=None, metavar="KEY",
                help="file and look up goldens under this platform key instead of the detected one")
    g.addoption("--golden-precision", action="append", default=[], metavar="COMPONENT=DTYPE",
                help="override a component's dtype for this run (repeatable), e.g. vae=fp32")
    g.addoption("--golden-strict", action="store_true", default=None,
                help="a missing golden fails (default when the CI environment variable is set)")
    g.addoption("--golden-device", default=None, metavar="DEVICE", help="run pipelines on this torch device")
    g.addoption("--golden-force", action="store_true", default=False,
                help="with --golden-update: write goldens that fail the quality gate")
    g.addoption("--golden-bisect", action="store_true", default=False,
                help="at session end, bisect each failing case: revert each difference from its golden (dtypes, "
                     "backend settings) to name the cause (`regress bisect CASE` does one)")
    g.addoption("--golden-replace-other-machine", action="store_true", default=False,
                help="with --golden-update: replace goldens of this platform key that another machine made")
    g.addoption("--golden-shard", default=None, metavar="I/N",
                help="run shard I of N (1-based), balanced by the durations recorded in the goldens; "
                     "the same split on every machine (`regress shard N` prints it)")
    g.addoption("--golden-publish", default=None, choices=PUBLISH_TARGETS,
                help="with --golden-update and a Hub store: commit through the Hub API or git (default: store kind)")
    g.addoption("--golden-create-pr", action="store_true", default=False,
                help="with --golden-update and a Hub store: publish as a Hub pull request")
    g.addoption("--golden-record", default=None, metavar="DIR",
                help="A/B: write every case's run (output and meta) into DIR, to be the baseline of another "
                     "revision on this machine")
    g.addoption("--golden-adopt", action="store_true", default=False,
                help="keep each case that passes against its reviewed golden in the drift regime as this machine's "
                     "reference (published at the end, one commit): later runs here are judged exactly")
    g.addoption("--golden-baseline", default=None, metavar="DIR",
                help="A/B: judge every case exactly against the run --golden-record wrote into DIR too, and "
                     "write the change's impact table (impact.md beside the report)")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "golden: a golden-output case of the regress suite")
    config.stash[_SESSIONS] = {}
    from .precision import parse_override

    for text in config.getoption("--golden-precision"):
        try:
            parse_override(text)
        except ValueError as exc:
            raise pytest.UsageError(f"--golden-precision: {exc}") from None
    platform = config.getoption("--golden-platform")
    if platform:
        from .platform import require_key

        try:
            require_key(platform, what="--golden-platform")
        except RegressError as exc:
            raise pytest.UsageError(str(exc)) from None
    if config.getoption("--golden-shard"):
        from .shard import parse_shard

        try:
            parse_shard(config.getoption("--golden-shard"))
        except RegressError as exc:
            raise pytest.UsageError(str(exc)) from None
    if config.getoption("--golden-adopt"):
        from .references import refuse_dirty

        try:
            refuse_dirty(config.invocation_params.dir)
        except RegressError as exc:
            raise pytest.UsageError(f"--golden-adopt: {exc}") from None
    baseline = _dir_option(config, "--golden-baseline")
    if baseline is not None and not (baseline / "cases").is_dir():
        raise pytest.UsageError(f"--golden-baseline: {baseline}: no recorded run there (expected "
                                "cases/<id>/<platform>/ written by --golden-record)")
    from . import workers

    workers.configure(config)


def _suite_path(config: pytest.Config) -> Path:
    p = Path(config.getoption("--golden-suite"))
    if p.is_absolute():
        return p.resolve()
    for base in (config.invocation_params.dir, config.rootpath):
        if (base / p).exists():
            return (base / p).resolve()
    return (config.invocation_params.dir / p).resolve()


def pytest_collect_file(file_path: Path, parent: pytest.Collector) -> pytest.Collector | None:
    if file_path.name.endswith(".toml") and file_path.resolve() == _suite_path(parent.config):
        return SuiteFile.from_parent(parent, path=file_path)
    return None


def _session_for(config: pytest.Config, suite: Any) -> Any:
    from . import workers
    from .precision import parse_override
    from .session import GoldenSession, Options

    sessions: dict = config.stash[_SESSIONS]
    if suite.path not in sessions:
        strict = config.getoption("--golden-strict")
        report = config.getoption("--golden-report")
        worker = workers.worker_id(config)
        if report and worker:
            report = str(workers.worker_report_dir(Path(report), worker))
        opts = Options(
            platform=config.getoption("--golden-platform"), device=config.getoption("--golden-device"),
            strict=in_ci() if strict is None else strict, update=config.getoption("--golden-update"),
            precision=dict(parse_override(t) for t in config.getoption("--golden-precision")),
            report_dir=Path(report).resolve() if report else None, force=config.getoption("--golden-force"),
            shard=config.getoption("--golden-shard"), worker=worker,
            publish=config.getoption("--golden-publish"), create_pr=config.getoption("--golden-create-pr"),
            freeze_heap=True, replace_other_machine=config.getoption("--golden-replace-other-machine"),
            record_dir=_dir_option(config, "--golden-record"), baseline_dir=_dir_option(config, "--golden-baseline"),
            adopt=config.getoption("--golden-adopt"))
        sessions[suite.path] = GoldenSession(suite, opts)
    return sessions[suite.path]


def _dir_option(config: pytest.Config, name: str) -> Path | None:
    value = config.getoption(name)
    if not value:
        return None
    return (config.invocation_params.dir / value).resolve()


class SuiteFile(pytest.File):
    def collect(self):  # type: ignore[override]
        from .suite import load_suite

        try:
            suite = load_suite(self.path)
            session = _session_for(self.config, suite)
            platform = session.platform
            _ = session.store  # open and verify the pin now: a bad store is a collection error
        except RegressError as exc:
            raise self.CollectError(str(exc)) from None
        for case in suite.cases:
            item = GoldenItem.from_parent(self, name=f"{case.id}[{platform}]", case=case, golden_session=session)
            item.add_marker(pytest.mark.golden)
            for m in case.marks:
                self.config.addinivalue_line("markers", f"{m}: declared by the regress suite")
                item.add_marker(getattr(pytest.mark, m))
            rule = case.rule_for(platform)
            if rule and rule[0] == "xfail":  # skip rules are applied in runtest, where they are recorded
                item.add_marker(pytest.mark.xfail(reason=f"{platform}: {rule[1]}", strict=False))
            yield item


class GoldenFailure(Exception):
    """A case failed its golden check; the message is the whole story."""


_JUDGED = pytest.StashKey[list]()


def _judged(item: pytest.Item) -> list:
    """(session, verdict) of each judgement made during a test item (a suite case, or each
    ``golden.check`` of a hand-written test): pytest's own outcome of the item may still
    turn them into ``xfailed`` (see pytest_runtest_makereport)."""
    return item.stash.setdefault(_JUDGED, [])


def _conclude(v: Any) -> None:
    """Turn a verdict into the test's outcome: a failure fails (regress.status decides what
    is one), a missing golden outside strict runs skips."""
    from .status import Status

    if v.failed:
        raise GoldenFailure(v.message())
    if v.status == Status.MISSING:
        pytest.skip(v.message())


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    """A failing judgement of a test that pytest reports as xfailed (a suite ``xfail`` rule,
    an ``xfail`` mark, however it was added) is recorded as ``xfailed``, so that results.json,
    ``report merge`` and the GitHub summary agree with pytest's ``1 xfailed``."""
    rep = yield
    if rep.when == "call" and rep.skipped and hasattr(rep, "wasxfail"):
        for gs, v in item.stash.get(_JUDGED, []):
            gs.record_xfail(v, rep.wasxfail)
    return rep


class GoldenItem(pytest.Item):
    def __init__(self, *, case: Any, golden_session: Any, **kw: Any) -> None:
        super().__init__(**kw)
        self.case = case
        self.golden_session = golden_session

    def runtest(self) -> None:
        rule = self.case.rule_for(self.golden_session.platform)
        if rule and rule[0] == "skip":
            reason = f"{self.golden_session.platform}: {rule[1]}"
            self.golden_session.record_skip(self.case, reason)
            pytest.skip(reason)
        v = self.golden_session.check(self.case).verdict
        _judged(self).append((self.golden_session, v))
        _conclude(v)

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> str:  # type: ignore[override]
        if isinstance(excinfo.value, (GoldenFailure, RegressError)):
            return str(excinfo.value)
        return super().repr_failure(excinfo)

    def reportinfo(self) -> tuple[Path, int, str]:
        return self.path, 0, f"golden {self.name}"


def pytest_collection_finish(session: pytest.Session) -> None:
    """Golden cases selected: freeze the heap now (torch is imported by platform detection) so
    that the garbage collector's full passes during the run skip it (see regress.pipelines.freeze_heap).
    A run that collected no suite file returns at once, without walking its items."""
    if session.config.stash.get(_SESSIONS, {}) and any(isinstance(item, GoldenItem) for item in session.items):
        from .pipelines import freeze_heap

        freeze_heap()


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(session: pytest.Session, config: pytest.Config, items: list[pytest.Item]) -> None:
    """After -k / -m selection: note what each suite was asked to run (for coverage), then keep
    only this shard's cases under --golden-shard."""
    by_session: dict[int, tuple[Any, list[GoldenItem]]] = {}
    for item in items:
        if isinstance(item, GoldenItem):
            by_session.setdefault(id(item.golden_session), (item.golden_session, []))[1].append(item)
    shard = config.getoption("--golden-shard")
    deselected: list[pytest.Item] = []
    for gs, golden_items in by_session.values():
        gs.selected = [it.case.id for it in golden_items]
        gs.expected = list(gs.selected)
        if shard:
            from .shard import parse_shard, select_shard

            index, n = parse_shard(shard)
            keep = select_shard(gs.selected, gs.store, index, n)
            deselected += [it for it in golden_items if it.case.id not in keep]
            gs.expected = [cid for cid in gs.selected if cid in keep]
    if deselected:
        dropped = {id(it) for it in deselected}
        config.hook.pytest_deselected(items=deselected)
        items[:] = [it for it in items if id(it) not in dropped]


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """The end of a golden run: bisect, publish, references, report, GitHub output. Each step
    is guarded on its own (:func:`_step`): one that fails says so in one line and fails the
    run, and the others still happen (a bisection that raises must not lose the report)."""
    from . import workers

    sessions: dict = session.config.stash.get(_SESSIONS, {})
    tr = session.config.pluginmanager.get_plugin("terminalreporter")
    worker = workers.worker_id(session.config)
    if tr and sessions:
        _end_progress_line(tr)
    docs: list = []
    if session.config.getoption("--golden-bisect"):
        from .bisect import bisect_failures

        for gs in sessions.values():
            _step(session, tr, "bisecting the failed cases", lambda gs=gs: bisect_failures(gs))
    for gs in sessions.values():
        _step(session, tr, "publishing goldens", lambda gs=gs: _publish(gs, tr, session), nothing_changed=True)
        _step(session, tr, "publishing references", lambda gs=gs: _publish_references(gs, tr), nothing_changed=True)
        for msg in gs.gate_refusals:
            if tr:
                tr.write_line(f"regress: {msg}", yellow=True)
        if gs.options.report_dir is None and worker is None and not gs.verdicts:
            continue
        doc = _step(session, tr, "writing the report", lambda gs=gs: _results_doc(gs, tr, session))
        if doc is None:
            continue
        if gs.options.report_dir is not None:
            path = _step(session, tr, "writing the report", lambda gs=gs, doc=doc: _write_report(gs, doc))
            if path is not None and tr and not worker:
                tr.write_line(f"regress: report written to {path}")
        docs.append(doc)
        if worker is None:
            from .report.github import emit

            _step(session, tr, "writing the GitHub annotations and job summary",
                  lambda doc=doc: emit(doc, write=tr.write_line if tr else print))
    for gs in sessions.values():
        _step(session, tr, "closing the session", gs.close)
    if worker is not None:
        _step(session, tr, "handing the results to the controller", lambda: workers.hand_over(session.config, docs))


def _step(session: pytest.Session, tr: Any, what: str, fn: Any, *, nothing_changed: bool = False) -> Any:
    """Run one end-of-session step; what it raises (KeyboardInterrupt and SystemExit aside) is
    one red line and a failed run, never the loss of the steps after it. Returns ``fn()``, or
    None when it raised."""
    from .session import raised_line

    try:
        return fn()
    except Exception as exc:  # noqa: BLE001 - see the docstring
        kept = ", nothing changed" if nothing_changed and isinstance(exc, RegressError) else ""
        line = f"regress: {what} failed{kept}: {raised_line(what, exc)}"
        if tr:
            tr.write_line(line, red=True)
        else:
            import sys

            print(line, file=sys.stderr)
        if session.exitstatus == pytest.ExitCode.OK:
            session.exitstatus = pytest.ExitCode.TESTS_FAILED
        return None


def _publish(gs: Any, tr: Any, session: pytest.Session) -> None:
    """Publish the staged goldens under the one publish rule (:func:`regress.staging.publish_refusal`):
    every case this run was asked for ran and passed the quality gate, or nothing is published,
    and the terminal says why."""
    from .staging import publish_refusal

    if not gs.staged:
        return
    refusal = publish_refusal(verdicts=gs.verdicts, gate_refusals=gs.gate_refusals, expected=gs.expected or ())
    if refusal:
        dropped = len(gs.take_staged())
        if tr:
            tr.write_line(f"regress: {dropped} staged golden(s) not written: {refusal}", red=True)
        if session.exitstatus == pytest.ExitCode.OK:
            session.exitstatus = pytest.ExitCode.TESTS_FAILED
        return
    revision = gs.publish()
    if revision and tr:
        tr.write_line(f"regress: wrote goldens; {gs.suite.lock_path} now pins {revision}")
        last = gs.store.last_publish
        if last is not None and last.url:
            tr.write_line(f"regress: review the new goldens at {last.url}")


def _publish_references(gs: Any, tr: Any) -> None:
    adopted, revision = gs.publish_references()
    if adopted and tr:
        tr.write_line(f"regress: adopted {len(adopted)} reference(s) for this machine; "
                      f"{gs.suite.lock_path} now pins {revision}" + _commit_hint(gs))
    elif gs.options.adopt and tr:
        tr.write_line("regress: nothing to adopt (every case is judged exactly here, has a reference, "
                      "leaned on [fallback] guesses, or failed)")


def _results_doc(gs: Any, tr: Any, session: pytest.Session) -> Any:
    """The run's results document; where the media writer failed, the document without media
    (the records matter more than their pictures), said in one line, and the run fails."""
    try:
        return gs.results_doc()
    except RegressError as exc:
        if tr:
            tr.write_line(f"regress: the report's media were not written: {exc}", red=True)
        if session.exitstatus == pytest.ExitCode.OK:
            session.exitstatus = pytest.ExitCode.TESTS_FAILED
        return gs.results_doc(media=False)


def _write_report(gs: Any, doc: Any) -> Any:
    from .report import write_doc_report

    return write_doc_report(gs.options.report_dir, doc)


def _commit_hint(gs: Any) -> str:
    from .references import commit_hint

    return commit_hint(gs.suite)


def _end_progress_line(tr: Any) -> None:
    """Finish pytest's progress line before regress writes: under ``-q`` it has no newline
    yet at session end, and GitHub reads a workflow command (``::error``) only at the start
    of a line."""
    tr.ensure_newline()
    if getattr(tr._tw, "width_of_current_line", 0):
        tr._tw.line()


def pytest_terminal_summary(terminalreporter: Any) -> None:
    from .report.summary import write_drift_lines

    sessions: dict = terminalreporter.config.stash.get(_SESSIONS, {})
    _write_missing(terminalreporter, sessions)
    write_drift_lines(terminalreporter, [v.to_json() for gs in sessions.values() for v in gs.verdicts])
    judged = [v.to_json() for gs in sessions.values() for v in gs.verdicts if v.ab]
    if judged:
        from .report.impact import markdown

        terminalreporter.write_sep("-", "regress: impact against the base (A/B on this machine)")
        for line in markdown({"cases": judged, "platform": judged[0]["platform"]}).splitlines()[2:]:
            terminalreporter.write_line(line)
    bisected = [v for gs in sessions.values() for v in gs.verdicts if v.bisect]
    if bisected:
        from .bisect import table_lines_of

        terminalreporter.write_sep("-", f"regress: {len(bisected)} failing case(s) bisected")
        for v in bisected:
            for line in table_lines_of(v.bisect):
                terminalreporter.write_line(line)


def fixture_case_id(node: Any) -> str:
    """The case id a ``golden.check`` files its golden under when given no ``name``:
    ``<module stem>.<test name>``, reduced to the characters a case id allows. Also how the
    CLI (``regress check --unused``) knows a fixture test's golden."""
    import re

    raw = f"{Path(str(node.path)).stem}.{node.name}"
    return re.sub(r"[^A-Za-z0-9._-]+", "-", raw).strip("-.")[:128]


def _suite_given(config: pytest.Config) -> bool:
    """Whether the user named a suite file (then a missing one is an error, not the default)."""
    return config.getoption("--golden-suite") != _DEFAULT_SUITE


def uses_golden_fixture(item: pytest.Item) -> bool:
    """Whether a test requests this plugin's ``golden`` fixture (not merely an argument of
    that name, e.g. a parametrized one)."""
    if "golden" not in getattr(item, "fixturenames", ()):
        return False
    callspec = getattr(item, "callspec", None)
    return callspec is None or "golden" not in callspec.params


def pytest_itemcollected(item: pytest.Item) -> None:
    """A test that uses the ``golden`` fixture is a golden test: ``pytest -m golden`` runs it
    with the suite's cases."""
    if uses_golden_fixture(item):
        item.add_marker(pytest.mark.golden)


def _write_missing(terminalreporter: Any, sessions: dict) -> None:
    """Say which goldens are missing and the one command that makes them, without ``-rs``:
    a first run otherwise ends in a bare "2 skipped"."""
    from .status import Status

    missing = [v for gs in sessions.values() for v in gs.verdicts if v.status == Status.MISSING]
    if not missing or terminalreporter.config.getoption("--golden-update") != "none":
        return
    terminalreporter.write_sep("-", f"regress: {len(missing)} golden(s) missing")
    for v in missing:
        terminalreporter.write_line(f"  {v.id} [{v.platform}]: no golden on this platform (nor one of the same "
                                    "backend)")
    config = terminalreporter.config
    suite = f" --golden-suite {shlex.quote(config.getoption('--golden-suite'))}" if _suite_given(config) else ""
    terminalreporter.write_line(f"make them with: pytest -m golden{suite} --golden-update=missing")


class GoldenCheck:
    """What the ``golden`` fixture hands a test: ``golden.check(output)``.

    The output is judged exactly like a suite case's (same store, platform fallback,
    thresholds, update modes and report), filed under a case id derived from the test's
    name unless ``name`` is given. Each call of one test has a golden of its own: the first
    unnamed call files under the test's id (so goldens made before keep matching), the
    second and later ones under ``<id>.2``, ``<id>.3``...; a ``name`` given twice in one test
    is refused (two outputs under one golden: under ``--golden-update`` the second would
    silently replace the first).
    """

    def __init__(self, request: pytest.FixtureRequest) -> None:
        self.request = request
        self._unnamed = 0
        self._used: set[str] = set()

    def default_name(self) -> str:
        return fixture_case_id(self.request.node)

    def _case_id(self, name: str | None) -> str:
        """The id this call files its golden under (see the class docstring)."""
        if name is not None:
            return name
        self._unnamed += 1
        base = self.default_name()
        if self._unnamed == 1:
            return base
        suffix = f".{self._unnamed}"
        return base[:128 - len(suffix)] + suffix

    def check(self, output: Any, *, name: str | None = None, thresholds: dict[str, float] | None = None,
              fingerprint: dict[str, str] | None = None) -> Any:
        """Compare ``output`` (an :class:`~regress.outputs.Output`, or a uint8 HxWx3 array)
        with its golden; fails the test with the verdict's message, skips when the golden is
        missing and the run is not strict. Returns the verdict."""
        import numpy as np

        from .outputs import Output
        from .suite import CASE_ID_RE

        if isinstance(output, np.ndarray):
            output = Output(image=output)
        case_id = self._case_id(name)
        if not CASE_ID_RE.match(case_id):
            pytest.fail(f"golden fixture: golden name {case_id!r} must be letters, digits, '.', '_' or '-'",
                        pytrace=False)
        if case_id in self._used:
            pytest.fail(f"golden fixture: {self.request.node.nodeid} checks two outputs under the golden "
                        f"{case_id!r}: give each golden.check(...) call its own name=", pytrace=False)
        self._used.add(case_id)
        session, problem = self._session()
        if problem:  # failed outside the except block: one message, no "During handling of ..." chain
            pytest.fail(f"golden fixture: {problem}", pytrace=False)
        make = f"pytest {shlex.quote(self.request.node.nodeid)} --golden-update=missing"
        v = session.judge_output(case_id=case_id, output=output, thresholds=thresholds, fingerprint=fingerprint,
                                 create_with=make).verdict
        _judged(self.request.node).append((session, v))
        if v.failed:
            pytest.fail(v.message(), pytrace=False)
        _conclude(v)
        return v

    def _session(self) -> tuple[Any, str | None]:
        """(the session of the suite this test's goldens belong to, None), or (None, why not)."""
        from .suite import implicit_suite, load_suite

        config = self.request.config
        try:
            path = _suite_path(config)
            suite = load_suite(path) if path.exists() or _suite_given(config) else implicit_suite(path)
            return _session_for(config, suite), None
        except RegressError as exc:
            return None, str(exc)


@pytest.fixture
def golden(request: pytest.FixtureRequest) -> GoldenCheck:
    """Check any output of a hand-written test against a golden: ``golden.check(output)``."""
    return GoldenCheck(request)


def pytest_unconfigure(config: pytest.Config) -> None:
    """After a golden run, freeze the heap before pytest's exit-time garbage collection.

    pytest ends every session with several full ``gc.collect()`` passes (to surface
    unraisable exceptions). With torch, diffusers and transformers loaded that is millions of
    objects: measured 1.35 s on the CPU machine, longer than the eight tiny cases themselves.
    Nothing golden runs after this point, so the objects alive now are moved to the
    permanent generation and those passes only walk what the teardown frees. Runs that
    collected no golden case are left alone.
    """
    sessions = config.stash.get(_SESSIONS, {})
    if sessions:
        import gc

        gc.freeze()
