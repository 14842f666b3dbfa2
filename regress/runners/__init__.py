"""Runner registry: built-in diffusers families, entry points, and runners registered in code.

Lookup order for a case's ``pipeline`` name: runners registered with :func:`register_runner`
(e.g. from a ``conftest.py``), then the ``regress.runners`` entry point group, then the
built-in families. Modules are imported only when a case needs them.
"""

from __future__ import annotations

import importlib
import sys
from functools import cache
from importlib.metadata import entry_points
from typing import Any

from ..errors import RunnerError
from ..outputs import Output
from .base import Perf, Runner, RunResult

__all__ = ["Perf", "Runner", "RunResult", "register_runner", "get_runner", "known_runners", "check_result",
           "guarded_load", "load_object", "BUILTIN"]

# family name -> "module:attribute" of a Runner instance (or class, instantiated on load)
BUILTIN: dict[str, str] = {
    "flux": "regress.runners.flux:RUNNER",
    "qwen-image": "regress.runners.qwen_image:RUNNER",
    "wan": "regress.runners.wan:RUNNER",
    "z-image": "regress.runners.z_image:RUNNER",
    "ltx": "regress.runners.ltx:RUNNER",
    "ltx2": "regress.runners.ltx2:RUNNER",
    "sd": "regress.runners.sd:RUNNER",
    "stable-audio": "regress.runners.stable_audio:RUNNER",
    "mova": "regress.runners.mova:RUNNER",
    "shape3d": "regress.runners.shape3d:RUNNER",
}

_registered: dict[str, Any] = {}
_loaded: dict[str, Runner] = {}


def register_runner(name: str, runner: Any) -> None:
    """Register a runner (an object with the :class:`Runner` attributes, or a class of one)."""
    _registered[name] = runner
    _loaded.pop(name, None)


def _entry_points() -> tuple[Any, ...]:
    """The ``regress.runners`` entry points, read once per import path: the scan walks every
    installed distribution's metadata (5.4 ms on the 2-core Xeon, benchmarks/bench_meta_check.py)
    and was paid again by each family's first case. A changed ``sys.path`` (a plugin's directory
    added at run time) is scanned again."""
    return _scan(tuple(sys.path))


@cache
def _scan(path: tuple[str, ...]) -> tuple[Any, ...]:
    return tuple(entry_points(group="regress.runners"))


def known_runners() -> list[str]:
    names = set(BUILTIN) | set(_registered)
    names |= {ep.name for ep in _entry_points()}
    return sorted(names)


def import_failure(exc: BaseException) -> str:
    """A user module's import failure in one line: the exception's type and the first line of
    its message (a ``SyntaxError`` names its file and line; ``sys.exit()`` says so)."""
    if isinstance(exc, SystemExit):
        return f"it called sys.exit({exc.code!r}) while being imported"
    first = (str(exc).strip().splitlines() or [""])[0][:300]
    return f"{type(exc).__name__}: {first}" if first else type(exc).__name__


def guarded_load(load: Any, *, what: str) -> Any:
    """``load()`` (an import of a user's module or object), with whatever it raises, a
    ``sys.exit()`` in it included, turned into one :class:`RunnerError` naming ``what``.

    Why SystemExit too: a module that exits while it is imported would end regress with that
    exit code (``sys.exit(0)``: success, with nothing run). KeyboardInterrupt still stops."""
    try:
        return load()
    except (Exception, SystemExit) as exc:  # noqa: BLE001 - see the docstring
        raise RunnerError(f"{what}: {import_failure(exc)}") from None


def load_object(ref: str, *, what: str) -> Any:
    """The object ``module:attr`` names, imported (see :func:`guarded_load`)."""
    mod, _, attr = ref.partition(":")
    return guarded_load(lambda: getattr(importlib.import_module(mod), attr), what=what)


def _load_ref(ref: str) -> Any:
    return load_object(ref, what=f"loading runner {ref}")


def get_runner(name: str) -> Runner:
    if name in _loaded:
        return _loaded[name]
    obj: Any = None
    source = name
    if name in _registered:
        obj, source = _registered[name], "register_runner"
    else:
        eps = [ep for ep in _entry_points() if ep.name == name]
        if eps:
            source = f"entry point {eps[0].value}"
            obj = guarded_load(eps[0].load, what=f"runner '{name}' from {source}")
        elif name in BUILTIN:
            obj, source = _load_ref(BUILTIN[name]), BUILTIN[name]
    if obj is None:
        raise RunnerError(f"unknown pipeline '{name}' (known: {', '.join(known_runners())}; a custom engine "
                          "registers one with regress.register_runner or the 'regress.runners' entry point)")
    if isinstance(obj, type):
        cls = obj
        obj = guarded_load(cls, what=f"runner '{name}' from {source}: creating {cls.__name__}()")
    for attr in ("name", "output_kind", "default_precision", "build", "run"):
        if not hasattr(obj, attr):
            raise RunnerError(f"runner '{name}' from {source} has no '{attr}' (see regress.runners.base.Runner)")
    _loaded[name] = obj
    return obj


def check_result(runner: Any, case: Any, result: Any, *, file: Any = None) -> None:
    """Refuse a run result the rest of regress cannot trust, in one line naming the runner and
    the case: not a :class:`RunResult`, an output that is not an :class:`Output`, an output of
    another kind than the runner declares (a golden filed as 'image' must never be compared
    with a video), a fingerprint that is not ``{component: dtype}``, or no :class:`Perf`.
    Custom runners are the main audience: a built-in family cannot get this wrong."""
    name = case.pipeline if getattr(runner, "name", case.pipeline) == case.pipeline else \
        f"{case.pipeline}' ('{runner.name}')"
    who = f"runner '{name}'"

    def fail(what: str) -> None:
        raise RunnerError(f"{who} {what}", file=file, case=case.id, field="pipeline")

    if not isinstance(result, RunResult):
        fail(f"returned {type(result).__name__}, not a regress.runners.RunResult")
    if not isinstance(result.output, Output):
        fail(f"returned an output of type {type(result.output).__name__}, not a regress.outputs.Output")
    declared, got = getattr(runner, "output_kind", None), result.output.kind
    if declared != got:
        fail(f"declares output_kind '{declared}' but returned {'an' if got[0] in 'aeiou' else 'a'} '{got}' output")
    fp = result.fingerprint
    if not isinstance(fp, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in fp.items()):
        fail(f"returned a precision fingerprint of type {type(fp).__name__}, not a dict of component -> dtype name")
    if not isinstance(result.perf, Perf):
        fail(f"returned perf of type {type(result.perf).__name__}, not a regress.runners.Perf")
    if getattr(case, "compile", None) is not None and "compile" not in (result.settings or {}):
        # an eager run filed as compiled would make a compiled golden that never compiled
        raise RunnerError(f"{who} ran with compile = {case.compile!r} but did not record compiling (a custom runner "
                          "compiles with regress.runners.compiling.compile_components and records "
                          "settings['compile'])", file=file, case=case.id, field="compile")
