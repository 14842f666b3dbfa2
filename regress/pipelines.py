"""The session's built pipelines: one per :class:`BuildKey` (everything that changes what is built).

A build is expensive (seconds for a tiny family, minutes for a checkpoint), so a run builds each
pipeline once and every case that shares it reuses it. The cache times each build itself, for
every runner alike, and is the one owner of ``Perf.build_s``: every case run on a pipeline
reports the time its build took.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, kw_only=True)
class BuildKey:
    """What a runner's ``build(case, precision, device)`` depends on, and nothing else.

    Why each part: the runner class (a project may register its own runner for a name), the
    family (``pipeline``), where the weights come from (``model`` and ``model_revision``, or
    ``weights = "random"``: the released architecture instead of the tiny one -- left out, a
    tiny case and a shape-true case of one family shared one build), the resolved dtype table,
    the device, and the ``torch.compile`` mode (None: eager; a compiled build is another object,
    and an eager case must never run on one). Fields a case only passes to the *call* (prompt, sizes, steps, seed) are
    not part of it: cases that differ only there share one build, which is the point.
    """

    runner: str
    family: str
    model: str
    model_revision: str | None
    weights: str | None
    precision: tuple[tuple[str, str], ...]
    device: str
    compile: str | None = None

    @classmethod
    def of(cls, runner: Any, case: Any, precision: Mapping[str, str], device: str) -> BuildKey:
        kind = type(runner)
        return cls(runner=f"{kind.__module__}.{kind.__qualname__}", family=case.pipeline, model=case.model,
                   model_revision=case.model_revision, weights=case.weights,
                   precision=tuple(sorted(precision.items())), device=device,
                   compile=getattr(case, "compile", None))


class PipelineCache:
    """What ``runner.build`` returned, with its build time, by key.

    ``freeze_heap``: after the first build, move every object alive to the garbage collector's
    permanent generation (:func:`freeze_heap`), for processes that exist for this run.
    """

    def __init__(self, *, freeze_heap: bool = False) -> None:
        self._built: dict[BuildKey, tuple[Any, float]] = {}
        self._freeze = self._freeze_option = freeze_heap

    def get(self, runner: Any, case: Any, precision: Mapping[str, str], device: str) -> tuple[Any, float]:
        """(the built pipeline, seconds its build took), building it on first use."""
        key = BuildKey.of(runner, case, precision, device)
        if key not in self._built:
            if case.is_shape_true and self._built:
                self.release()  # production-size pipelines are not cached side by side: 20-65 GB each
            t0 = time.perf_counter()
            built = runner.build(case, precision, device)
            self._built[key] = (built, time.perf_counter() - t0)
            if self._freeze:
                freeze_heap()  # after the first build: diffusers and transformers are imported
                self._freeze = False
        return self._built[key]

    def __len__(self) -> int:
        """How many pipelines are built (a benchmark asks whether a case built one)."""
        return len(self._built)

    def clear(self) -> None:
        """Forget every pipeline: the next case builds afresh, as a new process would."""
        self._built.clear()

    def release(self) -> None:
        """Drop every pipeline and return the memory they held (the CUDA cache too): a sweep
        measures one pipeline at a time."""
        self.clear()
        import gc
        import sys

        # A frozen heap (see freeze_heap) is never collected, and a built pipeline holds
        # reference cycles (its stage wrappers): unfreeze, or its weights stay allocated.
        gc.unfreeze()
        self._freeze = self._freeze_option  # frozen again after the next build
        gc.collect()
        torch = sys.modules.get("torch")
        if torch is not None and torch.cuda.is_available():
            torch.cuda.empty_cache()


def run_precision(runner: Any, case: Any, run_layer: Mapping[str, str], *, file: Any = None) -> dict[str, str]:
    """Family default < case ``precision`` < ``--golden-precision`` (``run_layer``); unknown
    components are an error naming the case and field."""
    from .errors import RunnerError
    from .precision import resolve_precision

    known = set(runner.default_precision)
    for where, layer in (("precision", case.precision), ("--golden-precision", run_layer)):
        for comp in layer:
            if comp not in known:
                raise RunnerError(f"unknown component '{comp}' for pipeline '{case.pipeline}' (components: "
                                  f"{', '.join(sorted(known))})", file=file, case=case.id,
                                  field=f"{where}.{comp}" if where == "precision" else where)
    return resolve_precision(runner.default_precision, case.precision, run_layer)


def freeze_heap() -> None:
    """Move every object alive now to the garbage collector's permanent generation.

    Without it each automatic full collection during a run walks the millions of objects of
    torch, diffusers and transformers. Measured in a fresh `pytest -m golden` process on the
    2-core CPU machine, eight tiny cases: full collections took 626 ms during the run; frozen
    after collection (torch imported) and after the first build (diffusers imported), 89-126
    ms (on the H100 host: 564-674 ms, frozen 148-208 ms; benchmarks/RESULTS.md).
    Only for processes that exist for the run (the plugin, the CLI): frozen objects are never
    collected, so a library caller's heap is left alone (``Options.freeze_heap``). A
    ``gc.freeze()`` is a constant-time list splice, so calling it twice costs nothing.
    """
    import gc

    gc.freeze()
