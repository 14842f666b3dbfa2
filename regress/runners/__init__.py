"""Runner registry: built-in diffusers families, entry points, and runners registered in code.

Lookup order for a case's ``pipeline`` name: runners registered with :func:`register_runner`
(e.g. from a ``conftest.py``), then the ``regress.runners`` entry point group, then the
built-in families. Modules are imported only when a case needs them.
"""

from __future__ import annotations

import importlib
from importlib.metadata import entry_points
from typing import Any

from ..errors import RunnerError
from .base import Perf, Runner, RunResult

__all__ = ["Perf", "Runner", "RunResult", "register_runner", "get_runner", "known_runners", "BUILTIN"]

# family name -> "module:attribute" of a Runner instance (or class, instantiated on load)
BUILTIN: dict[str, str] = {
    "flux": "regress.runners.flux:RUNNER",
    "qwen-image": "regress.runners.qwen_image:RUNNER",
    "wan": "regress.runners.wan:RUNNER",
}

_registered: dict[str, Any] = {}
_loaded: dict[str, Runner] = {}


def register_runner(name: str, runner: Any) -> None:
    """Register a runner (an object with the :class:`Runner` attributes, or a class of one)."""
    _registered[name] = runner
    _loaded.pop(name, None)


def known_runners() -> list[str]:
    names = set(BUILTIN) | set(_registered)
    names |= {ep.name for ep in entry_points(group="regress.runners")}
    return sorted(names)


def _load_ref(ref: str) -> Any:
    mod, _, attr = ref.partition(":")
    return getattr(importlib.import_module(mod), attr)


def get_runner(name: str) -> Runner:
    if name in _loaded:
        return _loaded[name]
    obj: Any = None
    source = name
    if name in _registered:
        obj, source = _registered[name], "register_runner"
    else:
        eps = [ep for ep in entry_points(group="regress.runners") if ep.name == name]
        if eps:
            obj, source = eps[0].load(), f"entry point {eps[0].value}"
        elif name in BUILTIN:
            obj, source = _load_ref(BUILTIN[name]), BUILTIN[name]
    if obj is None:
        raise RunnerError(f"unknown pipeline '{name}' (known: {', '.join(known_runners())}; a custom engine "
                          "registers one with regress.register_runner or the 'regress.runners' entry point)")
    if isinstance(obj, type):
        obj = obj()
    for attr in ("name", "output_kind", "default_precision", "build", "run"):
        if not hasattr(obj, attr):
            raise RunnerError(f"runner '{name}' from {source} has no '{attr}' (see regress.runners.base.Runner)")
    _loaded[name] = obj
    return obj
