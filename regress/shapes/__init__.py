"""Shape-true models: the released architectures with seeded random weights.

Peak memory and time depend on shapes and dtypes, not on weight values. So a case with
``weights = "random"`` builds every component of its family at the released size
(``released.toml`` names each config's source), in the case's precision table, directly on the
target device, and measures what production would, without downloading a byte.

Why not ``module.to(device, dtype)`` after an ordinary build: a 20 B model built in fp32 on the
host needs 82 GB of host memory before the cast. Here parameters are created on the meta device
(buffers, e.g. rotary tables, are computed for real on the target device, as in a normal build),
then each parameter is allocated once on the target, in its final dtype, and filled from a
seeded generator on that device. The fill is variance-preserving (``N(0, 1/fan_in)`` for
matrices, ones for norm scales, zeros for biases), so activations stay finite through dozens
of layers and a run is deterministic, like any other case, and can have goldens.

Importing this module does not import torch; :mod:`regress.shapes.build` does.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from typing import Any

from ..errors import RunnerError

__all__ = ["Spec", "families", "specs"]


@dataclass(frozen=True, kw_only=True)
class Spec:
    """One released component: how to build it at its released shape, and what it should count."""

    family: str
    component: str
    cls: str  # "library:Name", e.g. "diffusers:QwenImageTransformer2DModel"
    config: Mapping[str, Any] = field(default_factory=dict)
    config_class: str | None = None  # transformers models take a config object
    source: str = ""
    params: int = 0  # the released parameter count; tests/test_shapes.py pins the build to it


@cache
def _catalog() -> dict[str, tuple[Spec, ...]]:
    text = resources.files(__package__).joinpath("released.toml").read_text(encoding="utf-8")
    raw = tomllib.loads(text)
    out: dict[str, tuple[Spec, ...]] = {}
    for family, components in raw.items():
        out[family] = tuple(
            Spec(family=family, component=name, cls=entry["class"], config=entry.get("config", {}),
                 config_class=entry.get("config_class"), source=entry.get("source", ""),
                 params=int(entry.get("params", 0)))
            for name, entry in components.items())
    return out


def families() -> tuple[str, ...]:
    """Families that have a shape-true build."""
    return tuple(_catalog())


def specs(family: str) -> tuple[Spec, ...]:
    """The released components of ``family``; a family without a catalog entry is refused."""
    try:
        return _catalog()[family]
    except KeyError:
        raise RunnerError(f"no released shapes for pipeline '{family}' (known: {', '.join(families())})",
                          field="weights") from None
