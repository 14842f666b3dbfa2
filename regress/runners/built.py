"""A built diffusers pipeline together with what regress knows about it.

regress keeps its own state next to the pipeline, never on it: a diffusers object carries
only what diffusers put there, and the session caches this object (one per family, model,
precision and device) instead of the bare pipeline.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .observation import TensorWalk, observe


@dataclass(eq=False)
class BuiltPipeline:
    """``pipe`` plus the build's facts and the state of the call in progress.

    ``boundary_casts``: components whose dtype differs from the family's default and that take
    their inputs cast (:func:`regress.runners.casting.cast_at_boundaries`). ``model_commit``:
    the snapshot a checkpoint came from (None for a tiny model). ``meter`` and ``recorder``
    are set only during a call: the stage wrappers report to them (see
    :mod:`regress.runners.recording`).
    """

    pipe: Any
    boundary_casts: tuple[str, ...] = ()
    model_commit: str | None = None
    meter: Any = None
    recorder: Any = None
    _walk: TensorWalk = field(default_factory=TensorWalk, repr=False)
    _resident: int | None = field(default=None, repr=False)
    weights: dict[str, int] = field(default_factory=dict)  # resident bytes per component, last observed

    def observe(self) -> tuple[dict[str, str], int]:
        """Fingerprint and resident bytes now (the tensor lists are kept between calls)."""
        self.weights = {}
        fp, self._resident = observe(self.pipe, self._walk, self.weights)
        return fp, self._resident

    def resident_bytes(self) -> int:
        """Bytes held by the components' parameters and buffers (the memory baseline), from
        the last :meth:`observe` (after the build or the previous call: weights change only
        inside a call, which the runner observes afterwards)."""
        return self._resident if self._resident is not None else self.observe()[1]
