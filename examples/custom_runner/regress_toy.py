"""The adapter that puts ``toy_engine`` under regress: a runner.

A runner is any object (or class) with ``name``, ``output_kind``, ``default_precision``,
``build(case, precision, device)`` and ``run(pipe, case, device) -> RunResult``; see
``regress.runners.base.Runner``. regress calls ``build`` once per (model, precision, device)
and caches what it returns, then ``run`` once per case. The run result carries the output,
the *observed* dtype of every component (the precision fingerprint) and the timings.

Register it from a ``conftest.py`` (``regress.register_runner("toy-euler", ToyEulerRunner)``)
or, for an installed package, through the ``regress.runners`` entry point group (see
``pyproject.toml`` here); then a suite names it with ``pipeline = "toy-euler"``.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

import numpy as np

from regress.outputs import Output, to_uint8
from regress.precision import dtype_name, observed_dtype, resolve_precision, to_torch_dtype
from regress.runners import Perf, RunResult
from regress.suite import Case


class ToyEulerRunner:
    name = "toy-euler"
    output_kind = "image"
    default_precision: Mapping[str, str] = {"denoiser": "fp32"}

    def build(self, case: Case, precision: Mapping[str, str], device: str) -> Any:
        import toy_engine

        table = resolve_precision(self.default_precision, precision)
        return toy_engine.build_model().to(device=device, dtype=to_torch_dtype(table["denoiser"]))

    def run(self, pipe: Any, case: Case, device: str) -> RunResult:
        import torch

        import toy_engine

        start = time.perf_counter()
        image, stages = toy_engine.sample(pipe, case.prompt, seed=case.seed, steps=case.steps,
                                          height=case.height or 32, width=case.width or 32, device=device)
        pixels, nonfinite = to_uint8(np.asarray(image))  # NaN/Inf are counted before quantisation
        fingerprint = {"denoiser": observed_dtype(p.dtype for p in pipe.parameters())}
        perf = Perf(wall_s=time.perf_counter() - start, stages=stages)
        return RunResult(output=Output(image=pixels, nonfinite=nonfinite), fingerprint=fingerprint, perf=perf,
                         versions={"torch": torch.__version__, "engine": "toy_engine 0.1",
                                   "dtype": dtype_name(next(pipe.parameters()).dtype)})
