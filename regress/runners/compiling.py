"""Compiled runs: a built pipeline's denoiser under ``torch.compile``, and a compile failure in
one line that names the component.

Why regress compiles at all: engines in this field (SGLang among them) run their DiTs under
``torch.compile``, and compiled kernels compute other bits than eager ones (fused reductions,
other tilings). A golden made eager says nothing exact about a compiled engine; a compiled case
has its own goldens, and is also judged against the eager golden of the same case in the drift
regime (see docs/suite.md, "Compiled runs").

Why the failure needs care: a dynamo or inductor error is dozens of lines (the backend's name,
the FX node, the user frames, a C++ compiler's command line, advice on ``TORCH_LOGS``) and its
first line is rarely the cause. The verdict line names the component and the *first meaningful*
line (:func:`first_error_line`): a compiler's ``error:`` line where there is one, else the
innermost exception's first line that is not boilerplate. A platform that cannot compile a
component (the HIP ``uint32_t`` error in ``Snake1d.forward`` on AMD CI) is then one ``error``
record a suite's ``xfail`` rule can name, never a crash.

Compilation is lazy (the first call compiles), so the failure surfaces inside the pipeline's
call: each compiled component is wrapped so that whatever its compiled call raises is a
:class:`CompileFailure` naming it. torch is imported only when a case compiles.
"""

from __future__ import annotations

import operator
import os
import re
from collections.abc import Iterable
from typing import Any

from ..case import COMPILE_MODES
from ..env import REGRESS_COMPILE_BACKEND
from ..errors import RunnerError
# The components compiled, where a pipeline has them: the denoiser, which engines compile
# (the VAE and text encoders run once per call; compiling them costs more than it measures).
DENOISERS = ("transformer", "unet")
# The torch.compile backend comes from REGRESS_COMPILE_BACKEND (default inductor: on a CPU it builds
# C++ with the system compiler). "aot_eager" traces and partitions like inductor without generating
# code: seconds instead of 75 s for the tiny sd UNet on a 2-core machine (the tests use it).

# Lines of a dynamo / inductor message that are framing, not the cause.
_BOILERPLATE = re.compile(
    r"^(backend=.* raised:|Set TORCH_LOGS|TORCHDYNAMO_VERBOSE|You can suppress this exception|"
    r"For even more developer context|from user code:|Traceback|File \"|  File |Command:|Output:|"
    r"While executing|Original traceback|Developer debug context|For more information|"
    r"Explanation:|Hint:|\s*$|-+$|=+$)")
_COMPILER_ERROR = re.compile(r"(?<![\w])(fatal )?error(\s*\([^)]*\))?:\s*\S", re.IGNORECASE)
_CHAIN_PREFIX = re.compile(r"^(?:[A-Za-z_][\w.]*(?:Error|Exception|Failed|Unsupported)\s*:\s*)+")


class CompileFailure(RunnerError):
    """``torch.compile`` of a named component failed (tracing, lowering or building its kernels)."""


def compile_backend() -> str:
    """The torch.compile backend of this run (``REGRESS_COMPILE_BACKEND``, default inductor)."""
    return os.environ.get(REGRESS_COMPILE_BACKEND, "").strip() or "inductor"


def compile_label(mode: str, backend: str | None = None) -> str:
    """What a run records under the ``compile`` setting: ``default`` (inductor), or
    ``default/aot_eager`` where another backend compiled (it computes other bits)."""
    backend = backend or compile_backend()
    return mode if backend == "inductor" else f"{mode}/{backend}"


def first_error_line(exc: BaseException) -> str:
    """The first meaningful line of a compiler failure (see the module docstring).

    Walks the exception chain to its innermost cause; in every message, a C/C++/HIP compiler's
    ``error:`` line wins; else the innermost message's first line that is not framing, with the
    exception-class prefixes dynamo stacks up (``BackendCompilerFailed: ... InductorError: ...``)
    dropped."""
    chain: list[BaseException] = []
    seen: set[int] = set()
    e: BaseException | None = exc
    while e is not None and id(e) not in seen:
        seen.add(id(e))
        chain.append(e)
        e = e.__cause__ or (None if e.__suppress_context__ else e.__context__)
    texts = [str(x) for x in chain]
    for text in texts:  # a compiler's own "error: ..." (C++, HIP, Triton), wherever dynamo quoted it
        for line in text.splitlines():
            found = _COMPILER_ERROR.search(line)
            if found and not _BOILERPLATE.match(line):
                cause, quote = line[found.start():].strip(), line[found.start() - 1:found.start()]
                if quote in ("'", '"') and cause.endswith(quote + ")"):  # dynamo quotes it: got RuntimeError("...")
                    cause = cause[:-2]
                return _clip(cause)
    for x, text in zip(reversed(chain), reversed(texts), strict=True):
        lines = text.splitlines()
        first = next((ln for ln in lines if not _BOILERPLATE.match(ln)), None)
        if first is None:
            continue
        line = f"{type(x).__name__}: {_CHAIN_PREFIX.sub('', first.strip()) or first.strip()}"
        why = next((ln.strip()[len("Explanation:"):].strip() for ln in lines
                    if ln.strip().startswith("Explanation:")), None)
        return _clip(f"{line} ({why})" if why else line)
    return type(exc).__name__


def _clip(line: str, most: int = 300) -> str:
    return line if len(line) <= most else line[:most - 3] + "..."


def compile_components(pipe: Any, *, mode: str, names: Iterable[str] = DENOISERS, case_id: str | None = None,
                       ) -> tuple[str, ...]:
    """Compile each ``nn.Module`` component of ``pipe`` among ``names`` in place
    (``module.compile``: the pipeline keeps the same objects, so the precision fingerprint and
    the stage wrappers see them as before), after its dtype and device are set; a dotted name
    reaches a submodule (``audio_vae.decoder``: a VAE is called through ``.decode()``, which a
    module's compile does not cover). Returns the
    components compiled; none found is an error (a compiled case that compiles nothing would
    be an eager run filed as compiled)."""
    import torch

    if mode not in COMPILE_MODES:
        raise RunnerError(f"unknown compile mode {mode!r} (one of {', '.join(COMPILE_MODES)})", case=case_id,
                          field="compile")
    backend = compile_backend()
    done = []
    for name in names:
        try:  # a dotted name reaches a submodule: "audio_vae.decoder" (the VAE is called by .decode())
            module = operator.attrgetter(name)(pipe)
        except AttributeError:
            module = None
        if not isinstance(module, torch.nn.Module):
            continue
        kw = {"backend": backend} if backend != "inductor" else {"backend": backend, "mode": mode}
        compiled = torch.compile(module._call_impl, **kw)
        module._compiled_call_impl = _named(compiled, name=name, mode=mode, backend=backend, case_id=case_id)
        done.append(name)
    if not done:
        raise RunnerError(f"compile = {mode!r}: the pipeline has none of the components regress compiles "
                          f"({', '.join(names)})", case=case_id, field="compile")
    return tuple(done)


def _named(compiled: Any, *, name: str, mode: str, backend: str, case_id: str | None) -> Any:
    """``compiled`` with whatever its call raises re-raised as one :class:`CompileFailure` line.

    Everything raised inside a compiled call counts: dynamo runs the forward on fake tensors
    first, so a runtime error of the module itself also surfaces here, and says so as the
    compiler's line. Out-of-memory stays itself (the runner reports it by stage)."""
    import torch

    def call(*args: Any, **kwargs: Any) -> Any:
        try:
            return compiled(*args, **kwargs)
        except torch.OutOfMemoryError:
            raise
        except Exception as exc:  # noqa: BLE001 - the point: one line instead of a dynamo traceback
            raise CompileFailure(f"torch.compile (mode {mode}, backend {backend}) of component '{name}' failed: "
                                 f"{first_error_line(exc)}", case=case_id, field="compile") from None

    return call
