"""pytest plugin (entry point ``pytest11``): the suite's cases as test items.

Only the hooks live here, each a thin shell over the module that does the work: options
(:mod:`regress.plugin_options`), the run's sessions (:mod:`regress.suite_sessions`), the suite's
items and the shard's selection (:mod:`regress.items`), verdicts to outcomes
(:mod:`regress.outcome`), the ``golden`` fixture (:mod:`regress.fixture`), the end of the session
(:mod:`regress.session_end`) and the terminal summary (:mod:`regress.terminal_summary`); the
judging itself is :class:`regress.session.GoldenSession`. This module is imported in every pytest
run of the environment, so it and those modules import nothing heavy at module level; torch and
diffusers load when the suite file is collected.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from . import suite_sessions
from .fixture import GoldenCheck, golden  # noqa: F401 - pytest finds a plugin's fixtures in its namespace; GoldenCheck types the fixture in user code
from .kernels import cap_onednn_beside_aten
from .items import GoldenItem, SuiteFile, is_suite_file, select
from .naming import uses_golden_fixture
from .outcome import record_xfails
from .plugin_options import add_options
from .session_end import finish
from .terminal_summary import write as write_summary


def pytest_addoption(parser: pytest.Parser) -> None:
    add_options(parser)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "golden: a golden-output case of the regress suite")
    cap_onednn_beside_aten()  # before torch's first op: an emulated CPU path is made whole
    choices = suite_sessions.configure(config)
    from . import workers

    workers.configure(config, report_dir=choices.report_dir)


def pytest_collect_file(file_path: Path, parent: pytest.Collector) -> pytest.Collector | None:
    if is_suite_file(file_path, parent.config):
        return SuiteFile.from_parent(parent, path=file_path)
    return None


def pytest_itemcollected(item: pytest.Item) -> None:
    """A test that uses the ``golden`` fixture is a golden test: ``pytest -m golden`` runs it
    with the suite's cases."""
    if uses_golden_fixture(item):
        item.add_marker(pytest.mark.golden)


def pytest_collection_finish(session: pytest.Session) -> None:
    """Golden cases selected: freeze the heap now (torch is imported by platform detection) so
    that the garbage collector's full passes during the run skip it (see regress.pipelines.freeze_heap).
    A run that collected no suite file returns at once, without walking its items."""
    if suite_sessions.sessions(session.config) and any(isinstance(item, GoldenItem) for item in session.items):
        from .pipelines import freeze_heap

        freeze_heap()


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(session: pytest.Session, config: pytest.Config, items: list[pytest.Item]) -> None:
    """After -k / -m selection: note what each suite was asked to run, keep this shard's cases."""
    select(config, items)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    """A failing judgement of a test that pytest reports as xfailed is recorded as ``xfailed``,
    so that results.json, ``report merge`` and the GitHub summary agree with pytest."""
    rep = yield
    record_xfails(item, rep)
    return rep


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """The end of a golden run: bisect, publish, references, report, GitHub output, each step
    guarded on its own (see regress.session_end)."""
    finish(session)


def pytest_terminal_summary(terminalreporter: Any) -> None:
    write_summary(terminalreporter)


def pytest_unconfigure(config: pytest.Config) -> None:
    """After a golden run, freeze the heap before pytest's exit-time garbage collection.

    pytest ends every session with several full ``gc.collect()`` passes (to surface
    unraisable exceptions). With torch, diffusers and transformers loaded that is millions of
    objects: measured 1.35 s on the CPU machine, longer than the eight tiny cases themselves.
    Nothing golden runs after this point, so the objects alive now are moved to the
    permanent generation and those passes only walk what the teardown frees. Runs that
    collected no golden case are left alone.
    """
    if suite_sessions.sessions(config):
        import gc

        gc.freeze()
