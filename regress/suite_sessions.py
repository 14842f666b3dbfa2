"""The GoldenSessions of one pytest run: one per suite file, kept on the pytest config.

The suite's items and the ``golden`` fixture of hand-written tests share them (one store,
one lock, one report per suite), and the end of the session publishes and reports each once.
Also the run's options (:class:`regress.plugin_options.PluginChoices`), read once in
``pytest_configure``.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from .plugin_options import PluginChoices, resolve

if TYPE_CHECKING:
    from .session import GoldenSession
    from .suite import Suite

_SESSIONS = pytest.StashKey[dict]()
_CHOICES = pytest.StashKey[PluginChoices]()


def configure(config: pytest.Config) -> PluginChoices:
    """Read and check the run's options (a bad one is a ``pytest.UsageError``) and start the
    run with no session: sessions open when a suite is collected or a fixture first checks."""
    config.stash[_SESSIONS] = {}
    config.stash[_CHOICES] = choices = resolve(config)
    return choices


def choices(config: pytest.Config) -> PluginChoices:
    return config.stash[_CHOICES]


def sessions(config: pytest.Config) -> dict[Path, GoldenSession]:
    """The sessions opened so far, by suite path; empty when the run touched no golden (or
    pytest_configure stopped before regress's part)."""
    return config.stash.get(_SESSIONS, {})


def session_for(config: pytest.Config, suite: Suite) -> GoldenSession:
    """The session of ``suite`` in this run, opened on first use."""
    from . import workers
    from .session import GoldenSession, Options

    opened = config.stash[_SESSIONS]
    if suite.path not in opened:
        c = choices(config)
        worker = workers.worker_id(config)
        report = c.report_dir
        if report is not None and worker:
            report = workers.worker_report_dir(report, worker)
        opts = Options(
            platform=c.platform, device=c.device, strict=c.strict, update=c.update, precision=dict(c.precision),
            report_dir=report, force=c.force, shard=c.shard, worker=worker, publish=c.publish,
            create_pr=c.create_pr, freeze_heap=True, replace_other_machine=c.replace_other_machine,
            record_dir=c.record_dir, baseline_dir=c.baseline_dir, adopt=c.adopt, compile=c.compile)
        opened[suite.path] = GoldenSession(suite, opts)
    return opened[suite.path]


def fixture_session(config: pytest.Config) -> GoldenSession:
    """The session a hand-written test's goldens belong to: the run's suite file, or, when
    the project has none and named none, the implicit suite beside where it would be."""
    from .suite import implicit_suite, load_suite

    c = choices(config)
    suite = load_suite(c.suite) if c.suite.exists() or c.suite_given else implicit_suite(c.suite)
    return session_for(config, suite)

