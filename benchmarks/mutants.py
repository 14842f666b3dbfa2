"""A corpus of realistic regressions that change no component dtype (issue 22, item 4).

Why: a dtype flip is what regress's precision fingerprint catches by construction. The changes
that slip through code review are smaller: a scheduler constant, a norm's epsilon, an attention
scale, the prompt a wrapper edits, a process-wide precision flag. Each *mutant* here is one such
change, written as a small patch of diffusers / torch at the class or function level, the way
an engine PR would introduce it silently. ``benchmarks/bench_mutants.py`` runs the golden suite
under each one and asks whether regress's verdict catches it.

Use::

    import mutants                          # with benchmarks/ on sys.path
    undo = mutants.apply("attn-scale")      # before the pipelines are built
    ...                                     # build and run fresh pipelines
    undo()                                  # everything patched is restored

    with mutants.mutated("rope-theta") as targets:   # the same, as a context manager
        ...

``apply`` imports diffusers (and the eight built-in families' modules) itself. Patches that
act when a module is *constructed* (norm epsilons, GELU's approximation, RoPE's theta, the
scheduler's shift) only reach pipelines built after ``apply``; ``undo`` restores the classes
and functions, not modules built meanwhile: build fresh pipelines per mutant. Where a patch is
scoped to "built by diffusers" (``_within``), a module counts when it is constructed inside
the ``__init__`` of a diffusers class (the tiny families' text encoders are transformers'
and are left alone: the regression is the engine's).

Every mutant leaves the weights, the dtypes and the case spec alone; ``MUTANTS`` lists them
with a one-line description, in the order of the issue.
"""

from __future__ import annotations

import contextlib
import functools
import importlib
import inspect
import math
import sys
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

__all__ = ["MUTANTS", "Applied", "Mutant", "apply", "mutated", "names", "precision_state"]

# The pipelines, denoisers, VAEs and rotary embeddings of the built-in families, as
# "module:attribute" (a name this diffusers lacks is skipped, and the mutant's targets say so).
PIPELINES = ("diffusers:FluxPipeline", "diffusers:QwenImagePipeline", "diffusers:WanPipeline",
             "diffusers:ZImagePipeline", "diffusers:LTXPipeline", "diffusers:LTX2Pipeline",
             "diffusers:StableDiffusionPipeline", "diffusers:StableAudioPipeline")
DENOISERS = ("diffusers:FluxTransformer2DModel", "diffusers:QwenImageTransformer2DModel",
             "diffusers:WanTransformer3DModel", "diffusers:ZImageTransformer2DModel",
             "diffusers:LTXVideoTransformer3DModel", "diffusers:LTX2VideoTransformer3DModel",
             "diffusers:UNet2DConditionModel", "diffusers:StableAudioDiTModel")
VAES = ("diffusers:AutoencoderKL", "diffusers:AutoencoderKLQwenImage", "diffusers:AutoencoderKLWan",
        "diffusers:AutoencoderKLLTXVideo", "diffusers:AutoencoderKLLTX2Video", "diffusers:AutoencoderKLLTX2Audio",
        "diffusers:AutoencoderOobleck")
ROPES = ("diffusers.models.transformers.transformer_flux:FluxPosEmbed",
         "diffusers.models.transformers.transformer_qwenimage:QwenEmbedRope",
         "diffusers.models.transformers.transformer_qwenimage:QwenEmbedLayer3DRope",
         "diffusers.models.transformers.transformer_wan:WanRotaryPosEmbed",
         "diffusers.models.transformers.transformer_z_image:RopeEmbedder",
         "diffusers.models.transformers.transformer_ltx:LTXVideoRotaryPosEmbed",
         "diffusers.models.transformers.transformer_ltx2:LTX2AudioVideoRotaryPosEmbed",
         "diffusers.pipelines.ltx2.connectors:LTX2RotaryPosEmbed1d")
TIMESTEP_ARGS = ("timestep", "t", "audio_timestep")  # what the denoisers call their timestep input
GUIDANCE_ARGS = ("guidance_scale", "true_cfg_scale", "audio_guidance_scale")


# --------------------------------------------------------------------------- patching


class Applied:
    """A mutant in effect: call it (or :meth:`undo`) to restore everything it patched, in
    reverse order; ``targets`` names what was patched ('torch.nn.LayerNorm.__init__', ...)."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.targets: list[str] = []
        self._undo: list[Callable[[], None]] = []

    def setattr(self, owner: Any, attr: str, value: Any) -> None:
        """``owner.attr = value``, undone by restoring the old value, or deleting the attribute
        where ``owner`` only inherited it."""
        own = vars(owner)
        present, old = attr in own, own.get(attr)
        setattr(owner, attr, value)

        def undo() -> None:
            if present:
                setattr(owner, attr, old)
            else:
                delattr(owner, attr)

        self._undo.append(undo)
        self.targets.append(f"{_qualname(owner)}.{attr}")

    def wrap(self, owner: Any, attr: str, make: Callable[[Any], Callable[..., Any]]) -> None:
        """Replace ``owner.attr`` by ``make(original)`` (with the original's name, docstring and
        signature: ``inspect.signature`` sees through it)."""
        orig = getattr(owner, attr)
        self.setattr(owner, attr, functools.wraps(orig)(make(orig)))

    def on_undo(self, fn: Callable[[], None], target: str) -> None:
        self._undo.append(fn)
        self.targets.append(target)

    def undo(self) -> None:
        while self._undo:
            self._undo.pop()()

    __call__ = undo


@dataclass(frozen=True)
class Mutant:
    name: str
    what: str  # one line: the change, as a PR would make it
    patch: Callable[[Applied], None]


MUTANTS: dict[str, Mutant] = {}


def _mutant(name: str, what: str) -> Callable[[Callable[[Applied], None]], Callable[[Applied], None]]:
    def register(fn: Callable[[Applied], None]) -> Callable[[Applied], None]:
        MUTANTS[name] = Mutant(name, what, fn)
        return fn

    return register


def names() -> list[str]:
    return list(MUTANTS)


def apply(name: str) -> Applied:
    """Apply mutant ``name``; returns the callable that undoes it. A patch that fails half-way
    is undone before the error propagates."""
    if name not in MUTANTS:
        raise KeyError(f"unknown mutant {name!r} (known: {', '.join(MUTANTS)})")
    applied = Applied(name)
    try:
        MUTANTS[name].patch(applied)
    except BaseException:
        applied.undo()
        raise
    return applied


@contextlib.contextmanager
def mutated(name: str) -> Iterator[list[str]]:
    """``with mutated(name) as targets:``: the mutant in effect inside the block."""
    applied = apply(name)
    try:
        yield list(applied.targets)
    finally:
        applied.undo()


def precision_state() -> dict[str, str]:
    """torch's process-wide precision flags, as text: a mutant's undo must leave them exactly
    as they were (``set_float32_matmul_precision`` moves the per-backend ``fp32_precision``)."""
    import torch

    out = {"float32_matmul_precision": torch.get_float32_matmul_precision()}
    for path, obj in _precision_owners(torch):
        out[f"{path}.fp32_precision"] = str(getattr(obj, "fp32_precision", None))
    return out


def _precision_owners(torch: Any) -> list[tuple[str, Any]]:
    """The torch.backends objects with an ``fp32_precision``, parents before children."""
    found = []
    for path in ("backends", "backends.mkldnn", "backends.mkldnn.matmul", "backends.mkldnn.conv",
                 "backends.mkldnn.rnn", "backends.cuda", "backends.cuda.matmul", "backends.cudnn",
                 "backends.cudnn.conv", "backends.cudnn.rnn"):
        obj: Any = torch
        try:
            for part in path.split("."):
                obj = getattr(obj, part)
            _ = obj.fp32_precision
        except (AttributeError, RuntimeError):
            continue
        found.append((path, obj))
    return found


# --------------------------------------------------------------------------- helpers


def _qualname(owner: Any) -> str:
    if isinstance(owner, type):
        return f"{owner.__module__}.{owner.__qualname__}"
    return getattr(owner, "__name__", type(owner).__name__)


def _load(spec: str) -> Any | None:
    module, _, attr = spec.partition(":")
    try:
        return getattr(importlib.import_module(module), attr)
    except (ImportError, AttributeError):
        return None


def _classes(specs: Iterable[str]) -> list[type]:
    return [c for c in (_load(s) for s in specs) if isinstance(c, type)]


def _within(prefix: str, *, depth: int = 64) -> bool:
    """Whether the caller runs inside a method of a class defined under module ``prefix``
    (a constructor of a diffusers model, say): some frame up the stack has a ``self`` whose
    class's module starts with it."""
    frame = sys._getframe(2)
    for _ in range(depth):
        if frame is None:
            return False
        owner = frame.f_locals.get("self")
        if owner is not None and type(owner).__module__.startswith(prefix):
            return True
        frame = frame.f_back
    return False


def _after_init(applied: Applied, cls: type, edit: Callable[[Any], None], *, within: str | None = None) -> None:
    """Run ``edit(module)`` after ``cls.__init__`` (of ``cls`` and its subclasses), for modules
    built inside a class under ``within`` when that is given."""

    def make(orig: Any) -> Callable[..., None]:
        def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
            orig(self, *args, **kwargs)
            if within is None or _within(within):
                edit(self)

        return __init__

    applied.wrap(cls, "__init__", make)


def _scale_attr(attr: str, factor: float) -> Callable[[Any], None]:
    def edit(module: Any) -> None:
        value = getattr(module, attr, None)
        if isinstance(value, (int, float)) and not isinstance(value, bool):  # eps=None: torch's default, left
            setattr(module, attr, value * factor)

    return edit


def _scale_init_arg(applied: Applied, cls: type, arg: str, factor: float) -> None:
    """``cls(..., arg=x)`` builds as ``cls(..., arg=x * factor)`` (default included)."""

    def make(orig: Any) -> Callable[..., None]:
        sig = inspect.signature(orig)

        def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
            bound = sig.bind(self, *args, **kwargs)
            bound.apply_defaults()
            if isinstance(bound.arguments.get(arg), (int, float)):
                bound.arguments[arg] = bound.arguments[arg] * factor
            orig(*bound.args, **bound.kwargs)

        return __init__

    applied.wrap(cls, "__init__", make)


def _edit_call_kwargs(applied: Applied, edit: Callable[[dict[str, Any]], None]) -> None:
    """Every family pipeline's ``__call__`` sees its keyword arguments through ``edit`` (what
    a wrapper around the engine's entry point does); regress passes them all by keyword."""

    def make(orig: Any) -> Callable[..., Any]:
        def __call__(self: Any, *args: Any, **kwargs: Any) -> Any:
            edit(kwargs)
            return orig(self, *args, **kwargs)

        return __call__

    for cls in _classes(PIPELINES):
        applied.wrap(cls, "__call__", make)


def _wrap_sdpa(applied: Applied, edit: Callable[[Any, Any, float | None], tuple[Any, float | None]]) -> None:
    """``torch.nn.functional.scaled_dot_product_attention`` with (attn_mask, scale) passed
    through ``edit(query, attn_mask, scale)``. Callers that look it up at call time (diffusers'
    attention dispatch, transformers' sdpa attention) get the wrapper."""
    import torch.nn.functional as F

    def make(orig: Any) -> Callable[..., Any]:
        def scaled_dot_product_attention(query: Any, key: Any, value: Any, attn_mask: Any = None,
                                         dropout_p: float = 0.0, is_causal: bool = False, scale: float | None = None,
                                         **kwargs: Any) -> Any:
            attn_mask, scale = edit(query, attn_mask, scale)
            return orig(query, key, value, attn_mask=attn_mask, dropout_p=dropout_p, is_causal=is_causal,
                        scale=scale, **kwargs)

        return scaled_dot_product_attention

    applied.wrap(F, "scaled_dot_product_attention", make)


class _Depth:
    """How deep the process is inside some wrapped call (a VAE's decode)."""

    def __init__(self) -> None:
        self.n = 0


def _count_inside(applied: Applied, classes: Iterable[type], method: str, depth: _Depth) -> None:
    def make(orig: Any) -> Callable[..., Any]:
        def inner(self: Any, *args: Any, **kwargs: Any) -> Any:
            depth.n += 1
            try:
                return orig(self, *args, **kwargs)
            finally:
                depth.n -= 1

        return inner

    for cls in classes:
        applied.wrap(cls, method, make)


# --------------------------------------------------------------------------- the mutants


@_mutant("sigma-shift", "scheduler: flow-matching shift x1.02; DDIM / cosine-DPM sigmas x1.002")
def _sigma_shift(applied: Applied) -> None:
    import torch
    from diffusers import CosineDPMSolverMultistepScheduler, DDIMScheduler, FlowMatchEulerDiscreteScheduler

    def flow(s: Any) -> None:  # sigma' = shift*s / (1 + (shift-1)*s): every family on flow matching
        s._shift = s._shift * 1.02

    def ddim(s: Any) -> None:  # sigma = sqrt((1 - abar) / abar), x1.002 -> abar' = 1 / (1 + sigma'^2)
        sigma = ((1 - s.alphas_cumprod) / s.alphas_cumprod).sqrt() * 1.002
        s.alphas_cumprod = 1.0 / (1.0 + sigma * sigma)
        if not s.config.set_alpha_to_one:
            s.final_alpha_cumprod = s.alphas_cumprod[0]

    def cosine(orig: Any) -> Callable[..., None]:
        def set_timesteps(self: Any, *args: Any, **kwargs: Any) -> None:
            orig(self, *args, **kwargs)
            sigmas = self.sigmas.clone()
            sigmas[:-1] *= 1.002  # the final sigma (0) stays
            self.sigmas = sigmas
            self.timesteps = self.precondition_noise(sigmas[:-1].to(torch.float32))

        return set_timesteps

    _after_init(applied, FlowMatchEulerDiscreteScheduler, flow)
    _after_init(applied, DDIMScheduler, ddim)
    applied.wrap(CosineDPMSolverMultistepScheduler, "set_timesteps", cosine)


@_mutant("extra-step", "one more inference step than asked (num_inference_steps + 1 at the pipeline call)")
def _extra_step(applied: Applied) -> None:
    def edit(kw: dict[str, Any]) -> None:
        if isinstance(kw.get("num_inference_steps"), int):
            kw["num_inference_steps"] += 1

    _edit_call_kwargs(applied, edit)


@_mutant("guidance-0.98", "guidance scale x0.98 (guidance_scale / true_cfg_scale / audio_guidance_scale)")
def _guidance(applied: Applied) -> None:
    def edit(kw: dict[str, Any]) -> None:
        for k in GUIDANCE_ARGS:
            if isinstance(kw.get(k), (int, float)):
                kw[k] = kw[k] * 0.98

    _edit_call_kwargs(applied, edit)


@_mutant("attn-scale", "scaled_dot_product_attention called with scale = default x1.002")
def _attn_scale(applied: Applied) -> None:
    def edit(query: Any, mask: Any, scale: float | None) -> tuple[Any, float | None]:
        base = scale if scale is not None else 1.0 / math.sqrt(query.size(-1))
        return mask, base * 1.002

    _wrap_sdpa(applied, edit)


@_mutant("attn-mask-dropped", "scaled_dot_product_attention called without the attention mask it was given")
def _attn_mask(applied: Applied) -> None:
    _wrap_sdpa(applied, lambda query, mask, scale: (None, scale))


@_mutant("rmsnorm-eps", "RMSNorm eps x100 (diffusers' RMSNorm, and torch.nn.RMSNorm built by diffusers)")
def _rmsnorm(applied: Applied) -> None:
    import torch
    from diffusers.models.normalization import RMSNorm

    _after_init(applied, RMSNorm, _scale_attr("eps", 100.0))
    _after_init(applied, torch.nn.RMSNorm, _scale_attr("eps", 100.0), within="diffusers.")


@_mutant("layernorm-eps", "LayerNorm eps x100 (torch.nn.LayerNorm and subclasses, built by diffusers)")
def _layernorm(applied: Applied) -> None:
    import torch

    _after_init(applied, torch.nn.LayerNorm, _scale_attr("eps", 100.0), within="diffusers.")


@_mutant("groupnorm-eps", "GroupNorm eps x100 in the VAEs (torch.nn.GroupNorm built by a diffusers autoencoder)")
def _groupnorm(applied: Applied) -> None:
    import torch

    _after_init(applied, torch.nn.GroupNorm, _scale_attr("eps", 100.0), within="diffusers.models.autoencoders")


@_mutant("gelu-approx", "GELU approximation swapped, tanh <-> none (diffusers' GELU; torch.nn.GELU built by diffusers)")
def _gelu(applied: Applied) -> None:
    import torch
    from diffusers.models.activations import GELU

    def swap(module: Any) -> None:
        module.approximate = "none" if module.approximate == "tanh" else "tanh"

    _after_init(applied, GELU, swap)
    _after_init(applied, torch.nn.GELU, swap, within="diffusers.")


@_mutant("timestep-bf16", "the denoiser's timestep input rounded through bf16")
def _timestep(applied: Applied) -> None:
    import torch

    def rounded(v: Any) -> Any:
        if torch.is_tensor(v):
            return v.to(torch.bfloat16).to(v.dtype)
        if isinstance(v, float):
            return float(torch.tensor(v, dtype=torch.bfloat16))
        return v

    def make(orig: Any) -> Callable[..., Any]:
        sig = inspect.signature(orig)
        args = [a for a in TIMESTEP_ARGS if a in sig.parameters]

        def forward(self: Any, *a: Any, **kw: Any) -> Any:
            bound = sig.bind(self, *a, **kw)
            for name in args:
                if bound.arguments.get(name) is not None:
                    bound.arguments[name] = rounded(bound.arguments[name])
            return orig(*bound.args, **bound.kwargs)

        return forward

    for cls in _classes(DENOISERS):
        applied.wrap(cls, "forward", make)


@_mutant("vae-latent-scale", "latents x1.002 on entry to the VAE's decode")
def _latent_scale(applied: Applied) -> None:
    def make(orig: Any) -> Callable[..., Any]:
        def decode(self: Any, z: Any, *args: Any, **kwargs: Any) -> Any:
            return orig(self, z * 1.002, *args, **kwargs)

        return decode

    for cls in _classes(VAES):
        applied.wrap(cls, "decode", make)


@_mutant("noise-fp16", "initial noise drawn in fp16, then cast to the dtype asked for (randn_tensor)")
def _noise(applied: Applied) -> None:
    import torch
    import diffusers.utils.torch_utils as tu

    _classes(PIPELINES)  # import the family pipelines: each imported randn_tensor by name
    orig = tu.randn_tensor

    def randn_tensor(shape: Any, generator: Any = None, device: Any = None, dtype: Any = None,
                     layout: Any = None) -> Any:
        x = orig(shape, generator=generator, device=device, dtype=torch.float16, layout=layout)
        return x.to(dtype if dtype is not None else torch.float32)

    wrapped = functools.wraps(orig)(randn_tensor)
    for mod_name, module in sorted(sys.modules.items()):
        if mod_name.startswith("diffusers") and vars(module).get("randn_tensor") is orig:
            applied.setattr(module, "randn_tensor", wrapped)


@_mutant("rope-theta", "RoPE theta x1.01 (each family's rotary embedding; Stable Audio's pipeline call)")
def _rope(applied: Applied) -> None:
    for cls in _classes(ROPES):
        _scale_init_arg(applied, cls, "theta", 1.01)
    module = importlib.import_module("diffusers.pipelines.stable_audio.pipeline_stable_audio")

    def make(orig: Any) -> Callable[..., Any]:
        sig = inspect.signature(orig)

        def get_1d_rotary_pos_embed(*args: Any, **kwargs: Any) -> Any:
            bound = sig.bind(*args, **kwargs)
            bound.apply_defaults()
            bound.arguments["theta"] = bound.arguments["theta"] * 1.01
            return orig(*bound.args, **bound.kwargs)

        return get_1d_rotary_pos_embed

    applied.wrap(module, "get_1d_rotary_pos_embed", make)


@_mutant("upsample-bilinear", "VAE decoder upsampling nearest -> (bi/tri)linear (F.interpolate inside vae.decode)")
def _upsample(applied: Applied) -> None:
    import torch.nn.functional as F

    decoding = _Depth()
    _count_inside(applied, _classes(VAES), "decode", decoding)
    linear = {3: "linear", 4: "bilinear", 5: "trilinear"}

    def make(orig: Any) -> Callable[..., Any]:
        def interpolate(input: Any, size: Any = None, scale_factor: Any = None, mode: str = "nearest",
                        align_corners: bool | None = None, recompute_scale_factor: bool | None = None,
                        antialias: bool = False) -> Any:
            if decoding.n and mode in ("nearest", "nearest-exact") and input.dim() in linear:
                mode, align_corners = linear[input.dim()], False
            return orig(input, size, scale_factor, mode, align_corners, recompute_scale_factor, antialias)

        return interpolate

    applied.wrap(F, "interpolate", make)


@_mutant("prompt-suffix", "a '.' appended to the prompt by the engine's call wrapper")
def _prompt(applied: Applied) -> None:
    def edit(kw: dict[str, Any]) -> None:
        p = kw.get("prompt")
        if isinstance(p, str):
            kw["prompt"] = p + "."
        elif isinstance(p, list):
            kw["prompt"] = [x + "." for x in p]

    _edit_call_kwargs(applied, edit)


@_mutant("matmul-precision", "torch.set_float32_matmul_precision('medium') set by the code under test")
def _matmul_precision(applied: Applied) -> None:
    import torch

    before = torch.get_float32_matmul_precision()
    owners = [(obj, obj.fp32_precision) for _, obj in _precision_owners(torch)]

    def restore() -> None:
        torch.set_float32_matmul_precision(before)
        for obj, value in owners:  # set_float32_matmul_precision('highest') leaves 'ieee', not 'none'
            obj.fp32_precision = value

    torch.set_float32_matmul_precision("medium")
    applied.on_undo(restore, "torch.set_float32_matmul_precision")


@_mutant("silu-bf16", "SiLU modules compute x*sigmoid(x) in bf16 and cast back (torch.nn.SiLU.forward)")
def _silu(applied: Applied) -> None:
    import torch

    def make(orig: Any) -> Callable[..., Any]:
        def forward(self: Any, x: Any) -> Any:
            y = x.to(torch.bfloat16)
            return (y * torch.sigmoid(y)).to(x.dtype)

        return forward

    applied.wrap(torch.nn.SiLU, "forward", make)


@_mutant("max-seq-len", "text sequence length one token shorter (max_sequence_length - 1 at the pipeline call)")
def _seq_len(applied: Applied) -> None:
    def edit(kw: dict[str, Any]) -> None:
        if isinstance(kw.get("max_sequence_length"), int):
            kw["max_sequence_length"] -= 1

    _edit_call_kwargs(applied, edit)
