"""regress: golden-output regression testing for diffusion pipelines.

This module stays light (no torch, diffusers or lpips): the pytest plugin imports it in
every pytest run of an environment. Heavy imports happen where a golden case runs.
"""

from __future__ import annotations

__version__ = "0.1.0"

from .errors import RegressError, SuiteError  # noqa: E402
from .suite import Case, Suite, load_suite  # noqa: E402

__all__ = ["__version__", "Case", "Suite", "load_suite", "RegressError", "SuiteError", "register_runner"]


def register_runner(name: str, runner: object) -> None:
    """Register a runner for ``pipeline = name`` (see :mod:`regress.runners.base`)."""
    from .runners import register_runner as _register

    _register(name, runner)
