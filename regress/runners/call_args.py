"""What a pipeline's ``__call__`` accepts, checked before a case calls it.

A misspelt ``args`` key in a suite would otherwise surface as a TypeError deep inside
diffusers; the three arguments regress sets itself cannot be overridden by a case.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Mapping
from typing import Any

from ..errors import RunnerError
from ..suite import Case

RESERVED_KWARGS = ("generator", "output_type", "return_dict")


def check_kwargs(pipe: Any, kwargs: Mapping[str, Any], case: Case) -> None:
    """Turn a misspelt ``args`` key into a one-line error instead of a TypeError deep inside."""
    params, takes_any = call_parameters(type(pipe))
    for key in kwargs:
        if key in RESERVED_KWARGS:
            raise RunnerError(f"'{key}' is set by regress and cannot be passed", case=case.id, field=f"args.{key}")
        if not takes_any and key not in params:
            raise RunnerError(f"{type(pipe).__name__} takes no argument '{key}'", case=case.id, field=f"args.{key}")


@functools.lru_cache(maxsize=None)
def call_parameters(cls: type) -> tuple[frozenset[str], bool]:
    """A pipeline class's ``__call__`` argument names and whether it takes ``**kwargs``
    (``inspect.signature`` once per class, not once per case)."""
    params = inspect.signature(cls.__call__).parameters
    return frozenset(params), any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())
