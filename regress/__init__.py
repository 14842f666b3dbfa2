"""regress: golden-output regression testing for diffusion pipelines.

This module stays light (no torch, diffusers or lpips): the pytest plugin imports it in
every pytest run of an environment. Heavy imports happen where a golden case runs.
"""

from __future__ import annotations

__version__ = "0.1.0"

from typing import TYPE_CHECKING, Any  # noqa: E402

from .errors import RegressError, SuiteError  # noqa: E402

if TYPE_CHECKING:
    from .suite import Case, Suite, load_suite

__all__ = ["__version__", "Case", "Suite", "load_suite", "RegressError", "SuiteError", "register_runner"]

_FROM_SUITE = ("Case", "Suite", "load_suite")


def __getattr__(name: str) -> Any:
    """``regress.Case``, ``regress.Suite``, ``regress.load_suite`` on first use: the suite module
    (TOML parser, hashing, four dataclasses) was 10 of the plugin's 11 ms import (bytecode
    cached; 2-core CPU machine), which every pytest run of the environment pays, golden suite
    or not."""
    if name in _FROM_SUITE:
        from . import suite

        return getattr(suite, name)
    raise AttributeError(f"module 'regress' has no attribute {name!r}")


def register_runner(name: str, runner: object) -> None:
    """Register a runner for ``pipeline = name`` (see :mod:`regress.runners.base`)."""
    from .runners import register_runner as _register

    _register(name, runner)
