"""What pytest sees, for the CLI: the project's runners and its ``golden`` fixture tests.

A team registers its engine's runner in a ``conftest.py`` (``regress.register_runner``), and
checks hand-written outputs through the ``golden`` fixture. pytest sees both; a ``regress``
command must too, or the commands regress itself prints (``regress refresh -k my-engine``)
fail with "unknown pipeline". So the commands that run or list cases call
:func:`load_runners` first: it imports the ``conftest.py`` files pytest would load for the
suite's items (the suite's directory and its parents up to the project root) and any explicit
``--runner module:object``. :func:`fixture_tests` collects the tests that use the fixture,
through pytest itself, so that their goldens are known by the same names the fixture files
them under.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from .errors import RegressError

# A directory holding one of these is a project root: pytest's rootdir markers, and git's.
_ROOT_MARKERS = ("pytest.ini", "pyproject.toml", "tox.ini", "setup.cfg", ".git")
_loaded: set[Path] = set()


def project_root(suite_path: Path, *, cwd: Path | None = None) -> Path:
    """The nearest ancestor of the suite's directory that is a project root (pytest's markers
    or ``.git``); else the working directory when it holds the suite; else the suite's parent."""
    start = suite_path.resolve().parent
    for d in (start, *start.parents):
        if any((d / m).exists() for m in _ROOT_MARKERS):
            return d
    here = (cwd or Path.cwd()).resolve()
    return here if here in (start, *start.parents) else start.parent


def conftest_files(suite_path: Path, *, cwd: Path | None = None) -> list[Path]:
    """The ``conftest.py`` files pytest applies to the suite's items, outermost first."""
    start = suite_path.resolve().parent
    root = project_root(suite_path, cwd=cwd)
    dirs = [start]
    for d in start.parents:
        if root not in (d, *d.parents):
            break
        dirs.append(d)
    return [d / "conftest.py" for d in reversed(dirs) if (d / "conftest.py").is_file()]


def _import_conftest(path: Path) -> None:
    """Import a conftest as pytest's default ``prepend`` mode does: its directory first on
    ``sys.path``, so that its own imports (``from my_runner import MyRunner``) resolve."""
    if path in _loaded:
        return
    folder = str(path.parent)
    if folder not in sys.path:
        sys.path.insert(0, folder)
    name = f"_regress_conftest_{len(_loaded)}"
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except (Exception, SystemExit) as exc:  # a user's file: say which, in one line (sys.exit() too)
        from .runners import import_failure

        sys.modules.pop(name, None)
        raise RegressError(f"importing it failed: {import_failure(exc)}", file=path) from None
    _loaded.add(path)


def _import_runner(ref: str) -> None:
    """``--runner module:object``: import it (the working directory on ``sys.path``, as for
    ``python -m``) and register the object under its ``name``."""
    from .runners import register_runner

    mod, sep, attr = ref.partition(":")
    if not sep or not mod or not attr:
        raise RegressError(f"--runner {ref!r}: expected module:object, e.g. my_runner:MyRunner")
    if "" not in sys.path and str(Path.cwd()) not in sys.path:
        sys.path.insert(0, str(Path.cwd()))
    from .runners import load_object

    obj = load_object(ref, what=f"--runner {ref!r}")
    name = getattr(obj, "name", None)
    if not isinstance(name, str) or not name:
        raise RegressError(f"--runner {ref!r}: the runner has no 'name' (the pipeline name a suite uses)")
    register_runner(name, obj)


def load_runners(*, suite_path: Path, runner_refs: Sequence[str] = ()) -> list[Path]:
    """Register what pytest would for this suite: its conftests' runners, then ``--runner``s
    (so that an explicit one wins). Returns the conftest files imported."""
    files = conftest_files(suite_path)
    for path in files:
        _import_conftest(path)
    for ref in runner_refs:
        _import_runner(ref)
    return files


@dataclass(frozen=True)
class FixtureTest:
    """A test that uses the ``golden`` fixture, and the case id it files its golden under
    when it passes no ``name=``."""

    nodeid: str
    case_id: str


def fixture_tests(*, suite_path: Path) -> list[FixtureTest]:
    """The project's tests that use the ``golden`` fixture, as pytest collects them (from the
    project root, its ini file's ``testpaths`` included), without running any."""
    import contextlib
    import io

    import pytest

    from .naming import fixture_case_id, uses_golden_fixture

    found: list[FixtureTest] = []

    class _Collector:
        @pytest.hookimpl(trylast=True)
        def pytest_collection_modifyitems(self, items: list[pytest.Item]) -> None:
            for item in items:
                if uses_golden_fixture(item):
                    found.append(FixtureTest(nodeid=item.nodeid, case_id=fixture_case_id(item)))

    root = project_root(suite_path)
    args = ["--collect-only", "-q", "-p", "no:cacheprovider", f"--rootdir={root}",
            f"--golden-suite={suite_path.resolve()}"]
    here, before = Path.cwd(), set(sys.modules)
    try:
        os.chdir(root)
        with contextlib.redirect_stdout(io.StringIO()):
            code = pytest.main(args, plugins=[_Collector()])
    finally:
        os.chdir(here)
        _forget_modules_under(root, keep=before)
    if code not in (pytest.ExitCode.OK, pytest.ExitCode.NO_TESTS_COLLECTED):
        # A test that failed to collect might be the one that uses a golden: saying "unused"
        # then would be a guess.
        raise RegressError(f"collecting the project's tests failed (pytest exit {int(code)}), so the goldens of "
                           f"tests using the golden fixture are unknown; see `pytest --collect-only -q` in {root}")
    return found


def _forget_modules_under(root: Path, *, keep: set[str]) -> None:
    """Drop the project's test modules the collection imported: a later collection (of this
    or another project with a same-named test file) must import them afresh, as pytest
    would in a new process. Library modules stay (torch cannot import twice)."""
    for name in set(sys.modules) - keep:
        file = getattr(sys.modules.get(name), "__file__", None)
        if file and Path(file).resolve().is_relative_to(root):
            del sys.modules[name]
