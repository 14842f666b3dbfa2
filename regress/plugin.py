"""pytest plugin (entry point ``pytest11``): the suite's cases as test items.

Thin by design: options are parsed here, everything else is :class:`regress.session.GoldenSession`.
This module is imported in every pytest run of the environment, so it imports nothing heavy;
torch and diffusers load when the suite file is collected.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from .env import in_ci
from .errors import RegressError

_SESSIONS = pytest.StashKey[dict]()


def pytest_addoption(parser: pytest.Parser) -> None:
    g = parser.getgroup("regress", "golden-output regression tests (regress)")
    g.addoption("--golden-suite", default="goldens/suite.toml", metavar="PATH",
                help="suite file whose cases become test items (default: goldens/suite.toml)")
    g.addoption("--golden-update", default="none", choices=("none", "missing", "failed", "all"),
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
    g.addoption("--golden-publish", default=None, choices=("hub", "git"),
                help="with --golden-update and a Hub store: commit through the Hub API or git (default: store kind)")
    g.addoption("--golden-create-pr", action="store_true", default=False,
                help="with --golden-update and a Hub store: publish as a Hub pull request")


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
        from .platform import is_valid_key

        if not is_valid_key(platform):
            raise pytest.UsageError(f"--golden-platform: invalid key {platform!r} (e.g. cpu-avx2, cuda-sm90, "
                                    "rocm-gfx942)")


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
    from .precision import parse_override
    from .session import GoldenSession, Options

    sessions: dict = config.stash[_SESSIONS]
    if suite.path not in sessions:
        strict = config.getoption("--golden-strict")
        report = config.getoption("--golden-report")
        opts = Options(
            platform=config.getoption("--golden-platform"), device=config.getoption("--golden-device"),
            strict=in_ci() if strict is None else strict, update=config.getoption("--golden-update"),
            precision=dict(parse_override(t) for t in config.getoption("--golden-precision")),
            report_dir=Path(report).resolve() if report else None, force=config.getoption("--golden-force"),
            publish=config.getoption("--golden-publish"), create_pr=config.getoption("--golden-create-pr"))
        sessions[suite.path] = GoldenSession(suite, opts)
    return sessions[suite.path]


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
            if rule and rule[0] == "skip":
                item.add_marker(pytest.mark.skip(reason=f"{platform}: {rule[1]}"))
            elif rule:
                item.add_marker(pytest.mark.xfail(reason=f"{platform}: {rule[1]}", strict=False))
            yield item


class GoldenFailure(Exception):
    """A case failed its golden check; the message is the whole story."""


class GoldenItem(pytest.Item):
    def __init__(self, *, case: Any, golden_session: Any, **kw: Any) -> None:
        super().__init__(**kw)
        self.case = case
        self.golden_session = golden_session

    def runtest(self) -> None:
        from .verdict import ERROR, FAILED, MISSING

        run = self.golden_session.check(self.case)
        v = run.verdict
        if v.status in (FAILED, ERROR) or (v.status == MISSING and v.reasons):
            raise GoldenFailure(v.message())
        if v.status == MISSING:
            pytest.skip(v.message())

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> str:  # type: ignore[override]
        if isinstance(excinfo.value, (GoldenFailure, RegressError)):
            return str(excinfo.value)
        return super().repr_failure(excinfo)

    def reportinfo(self) -> tuple[Path, int, str]:
        return self.path, 0, f"golden {self.name}"


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    sessions: dict = session.config.stash.get(_SESSIONS, {})
    tr = session.config.pluginmanager.get_plugin("terminalreporter")
    for gs in sessions.values():
        try:
            revision = gs.publish()
            if revision and tr:
                tr.write_line(f"regress: wrote goldens; {gs.suite.lock_path} now pins {revision}")
                last = getattr(gs.store, "last_publish", None)
                if last is not None and last.url:
                    tr.write_line(f"regress: review the new goldens at {last.url}")
        except RegressError as exc:
            if tr:
                tr.write_line(f"regress: publishing goldens failed, nothing changed: {exc}", red=True)
            session.exitstatus = pytest.ExitCode.TESTS_FAILED
        for msg in gs.gate_refusals:
            if tr:
                tr.write_line(f"regress: {msg}", yellow=True)
        path = gs.write_report()
        if path and tr:
            tr.write_line(f"regress: report written to {path}")
