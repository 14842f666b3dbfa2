"""What every diffusers family shares: build, cast, run deterministically, measure.

A family module (flux, qwen-image, wan, ...) supplies only what differs between families:
its tiny config (:meth:`DiffusersFamily.build_tiny`), its default precision table and the
defaults for case fields that a suite leaves out. Everything that must behave identically
across families lives here, so that a golden made by one family's runner is produced the
same way as another's:

- precision: each component is cast to its dtype from the resolved table; names outside the
  family's table are an error (a typo would otherwise silently test the default);
- determinism: ``torch.manual_seed`` plus a CPU generator, so the initial noise does not
  depend on the device;
- decode: latents are cast to the VAE's dtype before ``vae.decode`` (FluxPipeline does not do
  it, and a bf16/fp32 mismatch is exactly the configuration regress exists to test); the
  audio decoders (ltx2's audio VAE and vocoder) get the same cast, so that
  ``--golden-precision audio_vae=fp32`` runs and is judged instead of crashing;
- the precision fingerprint is *observed* from the parameters after the build, for every
  ``nn.Module`` component, so that a default flipping inside diffusers shows up;
- perf: wall time and peak memory per stage (see :class:`StageMeter`).
"""

from __future__ import annotations

import functools
import inspect
import platform
import time
from collections.abc import Mapping
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, ClassVar

import torch

from ..errors import RunnerError
from ..outputs import Output, to_uint8
from ..precision import observed_dtype, resolve_precision, to_torch_dtype
from ..suite import Case
from .base import Perf, RunResult

if TYPE_CHECKING:
    from typing_extensions import Self

STAGES = ("text_encode", "denoise", "decode", "audio_decode")
DECODE_STAGES = ("decode", "audio_decode")  # what follows the first of these is post-processing
_RANGE_PREFIX = "regress::"  # record_function names that mark stage boundaries for the profiler
_RESERVED_KWARGS = ("generator", "output_type", "return_dict")


_WARM: set[str] = set()


def warm_up_device(device: str) -> None:
    """Create the GPU libraries' lazily allocated state before anything is measured.

    cuBLAS / cuBLASLt allocate a persistent workspace per handle on their first call, through
    the caching allocator. Without this, whichever case runs first in a process has its peak
    memory inflated by tens of MiB, so a golden made with one case order fails the memory gate
    under another (``-k``, shards). One tiny matmul, linear and convolution per dtype does it.
    """
    dev = torch.device(device)
    if dev.type != "cuda" or str(dev) in _WARM:
        return
    import torch.nn.functional as F

    with torch.no_grad():
        for dtype in (torch.float32, torch.bfloat16, torch.float16):
            x = torch.ones(64, 64, device=dev, dtype=dtype)
            _ = x @ x
            _ = F.linear(x, x, x[0])
            img = torch.ones(1, 8, 16, 16, device=dev, dtype=dtype)
            _ = F.conv2d(img, torch.ones(8, 8, 3, 3, device=dev, dtype=dtype), padding=1)
            _ = F.scaled_dot_product_attention(img[:, :2], img[:, :2], img[:, :2])
            vol = torch.ones(1, 4, 4, 8, 8, device=dev, dtype=dtype)
            _ = F.conv3d(vol, torch.ones(4, 4, 3, 3, 3, device=dev, dtype=dtype), padding=1)
    torch.cuda.synchronize(dev)
    _WARM.add(str(dev))


def quiet_libraries() -> None:
    """diffusers and transformers log advice on every cast and call ("modules that should be
    kept in float32", "negative_prompt is passed but..."); in a golden run it is noise that
    buries the verdict. Errors still show. Progress bars (checkpoint downloads, component
    loading) go too: they interleave with pytest's output and say nothing a verdict needs."""
    from diffusers.utils import logging as dlog
    from huggingface_hub.utils import disable_progress_bars
    from transformers.utils import logging as tlog

    dlog.set_verbosity_error()
    tlog.set_verbosity_error()
    dlog.disable_progress_bar()
    tlog.disable_progress_bar()
    disable_progress_bars()


# --------------------------------------------------------------------------- family base

class DiffusersFamily:
    """Base of the built-in diffusers runners (implements :class:`regress.runners.base.Runner`).

    Subclasses set ``name``, ``output_kind``, ``default_precision``, ``pipeline_class`` (the
    diffusers class name, for checkpoints) and ``tiny_defaults`` (pipeline kwargs used when a
    tiny case leaves a field out), and implement :meth:`build_tiny`. ``guidance_kwarg`` names
    the pipeline argument that ``Case.guidance`` feeds (Qwen-Image's CFG is ``true_cfg_scale``).
    """

    name: ClassVar[str]
    output_kind: ClassVar[str]
    default_precision: ClassVar[Mapping[str, str]]
    pipeline_class: ClassVar[str]
    tiny_defaults: ClassVar[Mapping[str, Any]] = MappingProxyType({})
    guidance_kwarg: ClassVar[str] = "guidance_scale"
    default_fps: ClassVar[float] = 16.0
    # The pipeline argument that Case.fps also feeds (LTX conditions its RoPE on frame_rate);
    # None: fps only labels the output.
    fps_kwarg: ClassVar[str | None] = None
    # Stage name of ``vae.decode``: 'audio_decode' where the VAE makes a waveform (Stable Audio).
    decode_stage: ClassVar[str] = "decode"
    # Components that turn audio latents into a waveform after the video decode (ltx2's audio
    # VAE and vocoder): timed as 'audio_decode', their inputs cast to their dtype.
    audio_decoders: ClassVar[tuple[str, ...]] = ()
    # Extra from_pretrained kwargs for checkpoints (e.g. SD's safety checker left out).
    checkpoint_kwargs: ClassVar[Mapping[str, Any]] = MappingProxyType({})
    # CPU peak memory needs the profiler: ~0-5% inside the call, plus 8-20 ms after it to
    # read the allocation events on these tiny pipelines. Off -> memory_source 'none'.
    profile_cpu_memory: bool = True

    # ---- what subclasses provide

    def build_tiny(self, case: Case) -> Any:
        """A pipeline with random weights from a config, seeded per module, all in fp32."""
        raise NotImplementedError

    def call_kwargs(self, case: Case) -> dict[str, Any]:
        """Case fields -> pipeline kwargs. A field left as None falls back to the family's
        tiny default (tiny models) or is left out so the pipeline's own default applies
        (checkpoints); ``case.args`` is applied last and wins."""
        defaults = dict(self.tiny_defaults) if case.is_tiny else {}
        kw: dict[str, Any] = {"prompt": case.prompt, "num_inference_steps": case.steps}
        fields = {"negative_prompt": case.negative_prompt, "height": case.height, "width": case.width,
                  self.guidance_kwarg: case.guidance, "max_sequence_length": case.max_sequence_length}
        if "video" in self.output_kind:
            fields["num_frames"] = case.frames
            if self.fps_kwarg:
                fields[self.fps_kwarg] = case.fps
        elif case.frames is not None:
            raise RunnerError(f"'{self.name}' makes {self.output_kind}; 'frames' does not apply", case=case.id,
                              field="frames")
        if self.output_kind == "audio":
            for name in ("height", "width", "max_sequence_length"):
                if getattr(case, name) is not None:
                    raise RunnerError(f"'{self.name}' makes audio; '{name}' does not apply (set the length with "
                                      "args.audio_end_in_s)", case=case.id, field=name)
                del fields[name]
        for key, value in fields.items():
            if value is not None:
                kw[key] = value
            elif key in defaults:
                kw[key] = defaults[key]
        for key, value in defaults.items():  # family-only knobs (e.g. a cfg switch) not tied to a field
            kw.setdefault(key, value)
        kw.update(case.args)
        return kw

    def audio_of(self, result: Any) -> Any:
        """The first waveform of a pipeline result, channels x samples (tensor or array)."""
        raise NotImplementedError(f"{type(self).__name__} must implement audio_of for '{self.output_kind}'")

    def sample_rate(self, pipe: Any) -> int:
        """The rate of the waveforms ``pipe`` makes, read from its own config."""
        raise NotImplementedError(f"{type(self).__name__} must implement sample_rate for '{self.output_kind}'")

    def to_output(self, result: Any, case: Case, pipe: Any = None) -> Output:
        """The pipeline's output -> :class:`Output`: float [0, 1] pixels to uint8, waveforms to
        float32 channels x samples (lossless), NaN/Inf counted in every track."""
        kw: dict[str, Any] = {}
        bad = 0
        if self.output_kind == "image":
            kw["image"], bad = to_uint8(result.images[0])
        if "video" in self.output_kind:
            kw["video"], bad = to_uint8(result.frames[0])
            kw["fps"] = float(case.fps or self.default_fps)
        if "audio" in self.output_kind:
            kw["audio"], bad_audio = to_float32_audio(self.audio_of(result))
            kw["sample_rate"] = self.sample_rate(pipe)
            bad += bad_audio
        if not kw:
            raise NotImplementedError(f"{type(self).__name__} must implement to_output for '{self.output_kind}'")
        return Output(nonfinite=bad, **kw)

    # ---- the Runner protocol

    def build(self, case: Case, precision: Mapping[str, str], device: str) -> Any:
        """Build once per (model, revision, precision, device); the session caches the result.

        ``precision`` may be the full table or only overrides: it is resolved against the
        family's defaults either way.
        """
        table = self.resolve_precision(precision, case)
        quiet_libraries()
        start = time.perf_counter()
        pipe = self.build_tiny(case) if case.is_tiny else self.load_checkpoint(case, table)
        place(pipe, table, device)
        cast_at_boundaries(pipe, table, self.default_precision,
                           skip=("vae", *self.audio_decoders))  # the decoders cast their own input
        warm_up_device(device)
        pipe.set_progress_bar_config(disable=True)
        instrument(pipe, decode_stage=self.decode_stage, audio_decoders=self.audio_decoders)
        if torch.device(device).type == "cuda":
            # Casts and copies queued by place() belong to the build: without this wait they
            # would land in the first call's time (and its meter's start-up).
            torch.cuda.synchronize(device)
        pipe._regress_build_s = time.perf_counter() - start
        return pipe

    def run(self, pipe: Any, case: Case, device: str) -> RunResult:
        """One seeded call. The noise comes from a CPU generator so that a golden made on one
        device is reproducible on another; pixels are taken as float numpy so that NaN/Inf are
        counted before quantisation could hide them."""
        kwargs = self.call_kwargs(case)
        _check_kwargs(pipe, kwargs, case)
        generator = torch.Generator(device="cpu").manual_seed(case.seed)
        seed_defaults(case.seed, device)
        recorder = StageRecorder(steps=case.steps, every_step=case.is_tiny)
        accepted, _ = _call_parameters(type(pipe))
        if "callback_on_step_end" in accepted and "callback_on_step_end" not in kwargs:
            kwargs["callback_on_step_end"] = recorder.on_step_end
        elif "callback" in accepted and "callback" not in kwargs:  # Stable Audio's older hook
            kwargs["callback"] = lambda i, _t, latents: recorder.step(i, latents)
            kwargs["callback_steps"] = 1
        pipe._regress_recorder = recorder
        with StageMeter(pipe, device, cpu_memory=self.profile_cpu_memory) as meter:
            try:
                result = pipe(**kwargs, generator=generator, output_type="np", return_dict=True)
            except RuntimeError as exc:
                if "dtype" not in str(exc):
                    raise
                # a per-component override the pipeline cannot run (e.g. an fp32 text encoder
                # feeding a bf16 transformer): say which precision, not where it broke inside
                raise RunnerError(f"{type(pipe).__name__} cannot run with precision {fingerprint(pipe)}: "
                                  f"{str(exc).splitlines()[0]}", case=case.id, field="precision") from None
            finally:
                pipe._regress_recorder = None
        output = self.to_output(result, case, pipe)
        output.stages = recorder.tensors or None
        perf = meter.perf()
        perf.build_s = getattr(pipe, "_regress_build_s", None)
        provenance = versions(device)
        if getattr(pipe, "_regress_model_commit", None):
            provenance["model_commit"] = pipe._regress_model_commit  # the snapshot a checkpoint came from
        fp, _ = observe(pipe)  # also refreshes the resident bytes the next call's meter starts from
        for name in getattr(pipe, "_regress_boundary_casts", ()):
            fp[name] = f"{fp[name]} (cast at its boundaries)"
        return RunResult(output=output, fingerprint=fp, perf=perf, versions=provenance)

    # ---- helpers subclasses rarely touch

    def resolve_precision(self, precision: Mapping[str, str], case: Case | None = None) -> dict[str, str]:
        """The family's table with ``precision`` applied; unknown component names are refused."""
        unknown = sorted(set(precision) - set(self.default_precision))
        if unknown:
            raise RunnerError(f"'{self.name}' has no component {', '.join(repr(u) for u in unknown)} "
                              f"(known: {', '.join(self.default_precision)})",
                              case=case.id if case else None, field="precision")
        return resolve_precision(self.default_precision, precision)

    def load_checkpoint(self, case: Case, table: Mapping[str, str]) -> Any:
        """A real checkpoint (``model = "org/name"``) at its pinned revision, each component
        loaded straight into its dtype (no fp32 copy of a 20B model); :func:`place` still
        casts afterwards, as the single source of truth. See :mod:`regress.runners.checkpoint`."""
        from .checkpoint import load_pipeline

        return load_pipeline(self.pipeline_class, case, table, extra=self.checkpoint_kwargs)


def seed_defaults(seed: int, device: str) -> None:
    """Seed the default generators a call can draw from without the case's generator: the
    CPU's and the run device's. What ``torch.manual_seed`` gives a single-device run, without
    its walk over every backend (all CUDA devices, MPS, XPU, custom devices): 0.26 ms per
    case on the 2-core CPU machine, a visible share of the per-case overhead."""
    torch.default_generator.manual_seed(seed)
    dev = torch.device(device)
    if dev.type == "cuda":
        index = dev.index if dev.index is not None else torch.cuda.current_device()
        torch.cuda.default_generators[index].manual_seed(seed)  # ROCm too (same API)
    elif dev.type != "cpu":
        torch.manual_seed(seed)  # another backend: every default generator, as torch does it


# --------------------------------------------------------------------------- build helpers

def place(pipe: Any, table: Mapping[str, str], device: str) -> None:
    """Cast each tabled component to its dtype and move every module to ``device``."""
    for name, component in nn_components(pipe).items():
        dtype = to_torch_dtype(table[name]) if name in table else None
        component.to(device=device, dtype=dtype)


def cast_at_boundaries(pipe: Any, table: Mapping[str, str], defaults: Mapping[str, str], *,
                       skip: tuple[str, ...] = ()) -> list[str]:
    """Let a component run in a dtype its neighbours do not produce or expect, as an engine with
    per-component precision does: once any component's dtype differs from the family's
    default, every component takes its floating-point inputs in its own dtype (a forward
    pre-hook), so what a stage hands on is cast to what the next stage expects where that stage
    begins, whether the tensor comes from a module or from the pipeline's own code (which also
    casts between stages, e.g. ``prompt_embeds.to(self.text_encoder.dtype)``). Outputs are not
    cast: an all-fp32 assignment stays fp32 end to end. A default run gets no hooks and is
    exactly what it was. Without this, 30 of the 58 single-component flips of the tiny
    families stop with "mat1 and mat2 must have the same dtype" and are never judged.
    Returns (and records on the pipeline) the components whose dtype was changed."""
    cast: list[str] = []
    components = nn_components(pipe)
    flipped = {n for n, d in table.items() if d != defaults.get(n) and n in components and n not in skip}
    if not flipped:
        pipe._regress_boundary_casts = ()
        return cast
    for name, dtype_name in table.items():
        module = components.get(name)
        if module is None or name in skip:
            continue
        # Every component takes its inputs in its own dtype: pipelines also cast between the
        # stages themselves (``prompt_embeds.to(self.text_encoder.dtype)``), so the neighbours
        # of a flipped component see its dtype, not the default one.
        inner = to_torch_dtype(dtype_name)
        module.register_forward_pre_hook(
            lambda _m, args, kwargs, dt=inner: (_cast_tree(args, dt), _cast_tree(kwargs, dt)), with_kwargs=True)
        if name in flipped:
            cast.append(name)
    pipe._regress_boundary_casts = tuple(cast)
    return cast


def _cast_tree(x: Any, dtype: Any) -> Any:
    """``x`` with every floating-point tensor in it (tuples, lists, dicts, model outputs) cast."""
    if torch.is_tensor(x):
        return x.to(dtype) if x.is_floating_point() and x.dtype != dtype else x
    if isinstance(x, tuple) and not hasattr(x, "_fields"):
        return tuple(_cast_tree(v, dtype) for v in x)
    if isinstance(x, list):
        return [_cast_tree(v, dtype) for v in x]
    if isinstance(x, dict):  # plain dicts and transformers' / diffusers' ModelOutput (an OrderedDict)
        for k in list(x.keys()):
            x[k] = _cast_tree(x[k], dtype)
        return x
    return x


def float32_copy(t: Any) -> Any:
    """A float32 numpy copy of a tensor, made by numpy: on the CPU no torch allocation happens,
    so the profiler's peak memory (the memory gate) does not see the recording."""
    import numpy as np

    t = t.detach()
    if t.device.type != "cpu":
        t = t.cpu()  # host memory; the CUDA peak is the device allocator's
    if t.dtype == torch.bfloat16:  # numpy has no bf16: widen its bits (bf16 is float32's top half)
        bits = t.contiguous().view(torch.int16).numpy().astype(np.int32)
        return (bits << 16).view(np.float32).reshape(tuple(t.shape)).copy()
    return np.array(t.contiguous().numpy(), dtype=np.float32, copy=True)


class StageRecorder:
    """Copies of the tensors that pass between a pipeline's stages during one call: what each
    ``encode_prompt`` call returned (``text_encode/call1/out0``), the latents after denoising
    steps (``denoise/step01``; every step of a tiny case, the first, middle and last of a real
    one), and what each decoder was given (``decode/vae/input``). Float32 copies on the CPU:
    recording changes no value the pipeline computes."""

    def __init__(self, *, steps: int, every_step: bool) -> None:
        self.tensors: dict[str, Any] = {}
        self.calls = 0
        keep = range(1, steps + 1) if every_step else {1, (steps + 1) // 2, steps}
        self.steps = set(keep)

    def add(self, name: str, t: Any) -> None:
        if torch.is_tensor(t) and t.is_floating_point():
            self.tensors[name] = float32_copy(t)

    def text(self, returned: Any) -> None:
        self.calls += 1
        items = returned if isinstance(returned, (tuple, list)) else (returned,)
        for j, t in enumerate(items):
            if isinstance(t, (tuple, list)):  # per-prompt lists (Z-Image)
                for k, u in enumerate(t):
                    self.add(f"text_encode/call{self.calls}/out{j}.{k}", u)
            else:
                self.add(f"text_encode/call{self.calls}/out{j}", t)

    def step(self, index: int, latents: Any) -> None:
        if index + 1 in self.steps:
            self.add(f"denoise/step{index + 1:03d}", latents)

    def on_step_end(self, _pipe: Any, index: int, _timestep: Any, kwargs: dict[str, Any]) -> dict[str, Any]:
        self.step(index, kwargs.get("latents"))
        return kwargs  # the same objects: the pipeline continues exactly as without us


def instrument(pipe: Any, *, decode_stage: str = "decode", audio_decoders: tuple[str, ...] = ()) -> None:
    """Wrap ``pipe.encode_prompt``, ``pipe.vae.decode`` and the audio decoders once, so that
    :class:`StageMeter` sees the stage boundaries without knowing each pipeline's ``__call__``.
    The decode wrappers also cast their input to the module's dtype (a no-op where the
    pipeline already does): FluxPipeline hands bf16 latents to any VAE, and LTX2 hands the
    audio VAE's mel spectrogram to the vocoder in whatever dtype the audio VAE has."""
    if getattr(pipe, "_regress_instrumented", False):
        return
    encode = pipe.encode_prompt

    def encode_prompt(*args: Any, **kwargs: Any) -> Any:
        with _Stage(pipe, "text_encode"):
            returned = encode(*args, **kwargs)
        recorder = getattr(pipe, "_regress_recorder", None)
        if recorder is not None:
            recorder.text(returned)
        return returned

    pipe.encode_prompt = encode_prompt
    _wrap_decode(pipe, pipe.vae, "decode", decode_stage, "vae")
    for name in audio_decoders:
        module = getattr(pipe, name)
        # the vocoder is called as a module (``self.vocoder(mel)``): wrap its forward
        _wrap_decode(pipe, module, "decode" if hasattr(module, "decode") else "forward", "audio_decode", name)
    pipe._regress_instrumented = True


def _wrap_decode(pipe: Any, module: Any, method: str, stage: str, name: str) -> None:
    """Replace ``module.<method>`` by a version that casts its first (latent) argument to the
    module's dtype and runs inside ``stage`` (recording what it was given)."""
    inner = getattr(module, method)

    def wrapped(z: Any, *args: Any, **kwargs: Any) -> Any:
        recorder = getattr(pipe, "_regress_recorder", None)
        if recorder is not None and f"{stage}/{name}/input" not in recorder.tensors:
            recorder.add(f"{stage}/{name}/input", z)  # the first call (a tiled decode calls again)
        if torch.is_tensor(z) and z.is_floating_point():
            z = z.to(module.dtype)
        with _Stage(pipe, stage):
            return inner(z, *args, **kwargs)

    setattr(module, method, wrapped)


def to_float32_audio(x: Any) -> tuple[Any, int]:
    """A waveform (tensor or array, channels x samples) as float32 numpy, counting NaN/Inf.

    Unlike pixels, samples are stored as they are (lossless): NaN stays NaN, so the
    metrics propagate it and the verdict fails on the count."""
    import numpy as np

    if torch.is_tensor(x):
        x = x.detach().float().cpu().numpy()
    a = np.ascontiguousarray(np.asarray(x, dtype=np.float32))
    if a.ndim == 1:
        a = a[None, :]
    bad = int(a.size - np.count_nonzero(np.isfinite(a)))
    return a, bad


def _check_kwargs(pipe: Any, kwargs: Mapping[str, Any], case: Case) -> None:
    """Turn a misspelt ``args`` key into a one-line error instead of a TypeError deep inside."""
    params, takes_any = _call_parameters(type(pipe))
    for key in kwargs:
        if key in _RESERVED_KWARGS:
            raise RunnerError(f"'{key}' is set by regress and cannot be passed", case=case.id, field=f"args.{key}")
        if not takes_any and key not in params:
            raise RunnerError(f"{type(pipe).__name__} takes no argument '{key}'", case=case.id, field=f"args.{key}")


@functools.lru_cache(maxsize=None)
def _call_parameters(cls: type) -> tuple[frozenset[str], bool]:
    """A pipeline class's ``__call__`` argument names and whether it takes ``**kwargs``
    (``inspect.signature`` once per class, not once per case)."""
    params = inspect.signature(cls.__call__).parameters
    return frozenset(params), any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())


# --------------------------------------------------------------------------- observation

def observe(pipe: Any) -> tuple[dict[str, str], int]:
    """The fingerprint and the resident bytes of a pipeline in one walk over its tensors.

    Fingerprint: the observed dtype of each ``nn.Module`` component's floating parameters
    (buffers when it has none): what actually ran, not what was asked for. Resident bytes:
    what the components' parameters and buffers hold (the memory baseline).

    Walking the module trees costs ~1 ms per tiny pipeline on the H100 host, so
    each component's tensor list is kept on the pipeline and walked again only when a
    component is replaced. A cast (``.to(dtype)``, a pipeline upcasting its VAE inside the
    call) changes the dtype of the same parameter objects, so it is always seen; a parameter
    object replaced inside a component after the first call would not be (no pipeline does).
    """
    fp: dict[str, str] = {}
    total = 0
    for name, params, buffers in _component_tensors(pipe):
        total += sum(t.nbytes for t in params) + sum(t.nbytes for t in buffers)
        floats = {d for d in {t.dtype for t in params} if d.is_floating_point}
        if not floats:
            floats = {d for d in {t.dtype for t in buffers} if d.is_floating_point}
        fp[name] = observed_dtype(floats)
    pipe._regress_resident = total
    return fp, total


def _component_tensors(pipe: Any) -> list[tuple[str, list[Any], list[Any]]]:
    """(name, parameters, buffers) per ``nn.Module`` component, cached per component object."""
    modules = nn_components(pipe)
    key = {name: id(c) for name, c in modules.items()}
    cached = getattr(pipe, "_regress_tensors", None)
    if cached is None or cached[0] != key:
        cached = (key, [(name, *_module_tensors(c)) for name, c in modules.items()])
        pipe._regress_tensors = cached
    return cached[1]


def nn_components(pipe: Any) -> dict[str, Any]:
    """The pipeline's ``nn.Module`` components by name.

    Read from the pipeline's registered config keys and its instance attributes rather than
    ``pipe.components``, which inspects the class's ``__init__`` signature on every access
    (~30 us, twice per case) to validate what this reads directly. Not ``getattr``: for a key
    that is plain config (``requires_safety_checker``, ``expand_timesteps``) diffusers'
    ``__getattr__`` answers with a FutureWarning, which pytest would collect on every case."""
    config = getattr(pipe, "config", None)
    if config is None:
        return {n: c for n, c in pipe.components.items() if isinstance(c, torch.nn.Module)}
    attrs = vars(pipe)  # register_modules sets each component as an instance attribute
    out = {}
    for name in config.keys():
        c = attrs.get(name)
        if isinstance(c, torch.nn.Module):
            out[name] = c
    return out


def _module_tensors(root: Any) -> tuple[list[Any], list[Any]]:
    """The distinct parameters and buffers of a module tree: the sets ``parameters()`` and
    ``buffers()`` give, from one iterative pass over ``_modules`` / ``_parameters`` /
    ``_buffers``. Tensors are collected into dicts keyed by ``id`` (a shared tensor is kept
    once, a ``None`` slot falls out at the end), so the loop has no per-tensor branch, and
    modules' empty tensor dicts are skipped: 1.2 ms for the tiny suite's eight pipelines
    against 2.5 ms for a set-checked loop (2-core CPU machine). It runs once per freshly built
    pipeline."""
    params: dict[int, Any] = {}
    buffers: dict[int, Any] = {}
    seen = {id(root), id(None)}  # an unset submodule slot holds None
    stack = [root]
    while stack:
        m = stack.pop()
        if m._parameters:  # most modules hold no tensors of their own: skip the empty dicts
            for t in m._parameters.values():
                params[id(t)] = t
        if m._buffers:
            for t in m._buffers.values():
                buffers[id(t)] = t
        if m._modules:
            for c in m._modules.values():
                if id(c) not in seen:  # a module shared by two parents is walked once
                    seen.add(id(c))
                    stack.append(c)
    params.pop(id(None), None)
    buffers.pop(id(None), None)
    return list(params.values()), list(buffers.values())


def fingerprint(pipe: Any) -> dict[str, str]:
    """Observed dtype of each component (see :func:`observe`)."""
    return observe(pipe)[0]


def versions(device: str) -> dict[str, str]:
    """Library versions, the device name and (GPU) the backend settings, for a golden's provenance."""
    out = dict(_fixed_versions(device))
    if torch.device(device).type == "cuda":
        out.update(backend_flags())  # settings can change within a process: read every time
    return out


@functools.lru_cache(maxsize=None)
def _fixed_versions(device: str) -> tuple[tuple[str, str], ...]:
    """What cannot change within a process (read once per device)."""
    import diffusers
    import transformers

    out = {"torch": torch.__version__, "diffusers": diffusers.__version__,
           "transformers": transformers.__version__, "device": device_name(device)}
    if torch.device(device).type == "cuda" and torch.version.cuda:
        out["cuda"] = str(torch.version.cuda)
    if torch.device(device).type == "cuda" and getattr(torch.version, "hip", None):
        out["hip"] = str(torch.version.hip)
    return tuple(out.items())


def backend_flags() -> dict[str, str]:
    """The torch settings that choose GPU kernels, so pixels and workspace memory: measured on
    an H100, ``cudnn.benchmark=True`` for a whole run moved qwen-image and z-image to SSIM
    0.9994-0.9999 and the decode peak of sd-tiny from 0.26 to 2.56 MiB (autotuning workspace).
    Recorded with each golden so that a verdict can say when a run's settings differ."""
    b = torch.backends
    return {"cudnn.benchmark": str(b.cudnn.benchmark), "cudnn.deterministic": str(b.cudnn.deterministic),
            "cudnn.allow_tf32": str(b.cudnn.allow_tf32), "cuda.matmul.allow_tf32": str(b.cuda.matmul.allow_tf32),
            "float32_matmul_precision": torch.get_float32_matmul_precision()}


def device_name(device: str) -> str:
    dev = torch.device(device)
    if dev.type == "cuda":
        return torch.cuda.get_device_name(dev)
    if dev.type == "cpu":
        try:
            with open("/proc/cpuinfo", encoding="utf-8") as f:
                for line in f:
                    if line.startswith("model name"):
                        return line.split(":", 1)[1].strip()
        except OSError:
            pass
        return platform.processor() or "cpu"
    return dev.type


def resident_bytes(pipe: Any) -> int:
    """Bytes held by the components' parameters and buffers (the memory baseline).

    Taken from the last :func:`observe` of this pipeline (after its build or its previous
    call: weights change only inside a call, which the runner observes afterwards)."""
    cached = getattr(pipe, "_regress_resident", None)
    return int(cached) if cached is not None else observe(pipe)[1]


# --------------------------------------------------------------------------- perf

class _Stage:
    """Context for one wrapped stage: notifies the active meter (if any) on entry and exit."""

    def __init__(self, pipe: Any, stage: str) -> None:
        self.meter: StageMeter | None = getattr(pipe, "_regress_meter", None)
        self.stage = stage

    def __enter__(self) -> None:
        if self.meter is not None:
            self.meter.enter(self.stage)

    def __exit__(self, *exc: object) -> None:
        if self.meter is not None:
            self.meter.exit(self.stage)



class StageMeter:
    """Wall time and peak memory of one pipeline call, per stage.

    The call is cut into segments at the wrappers' boundaries: 'text_encode', 'decode' and
    'audio_decode' are the time inside ``encode_prompt`` / ``vae.decode`` / the audio VAE and
    vocoder; 'denoise' is the rest of the call before the first decode; what follows a decode
    and is not itself a decode (post-processing) counts only in the total. On CUDA/ROCm the
    boundaries are events on the current stream, read after the call's one synchronisation:
    a host wait at every boundary would stall the kernel queue inside the measured call.

    Memory: on CUDA (and ROCm, same API) the allocator's peak is reset at each segment start
    and read at its end, minus what was allocated before the call (other cached pipelines),
    plus this pipeline's resident weights. On CPU torch keeps no allocator statistics, so the profiler records
    allocation events (``profile_memory``); the raw kineto events are read directly (the
    profiler's own event tree costs far more than the call) and the running total gives the
    peak. CPU figures add the components' resident bytes as a baseline, so they mean the
    same as on CUDA: weights plus the largest transient working set.
    """

    def __init__(self, pipe: Any, device: str, *, cpu_memory: bool = True) -> None:
        self.pipe = pipe
        dev = torch.device(device)
        self.mode = "cuda" if dev.type == "cuda" else "profiler" if dev.type == "cpu" and cpu_memory else "none"
        self.dev = dev
        self.times: dict[str, float] = {}
        self.peaks: dict[str, int] = {}
        self.wall_s = 0.0
        self.profile_overhead_s = 0.0
        self._decoded = False
        self._seg: str = "denoise"
        self._seg_start: Any = 0.0
        self._spans: list[tuple[str, Any, Any]] = []  # (stage, start mark, end mark)
        self._prof: bool | None = None
        self._ranges: list[Any] = []
        self._cuda_offset = 0
        self._resident = 0

    # ---- call boundaries

    def __enter__(self) -> Self:
        self.pipe._regress_meter = self
        self._resident = resident_bytes(self.pipe)  # before the call: weights it may cast count after
        if self.mode == "profiler":
            self._prof = _start_memory_profiler()
            if self._prof is None:  # another profiler is active (a user profiling a test run)
                self.mode = "none"
        elif self.mode == "cuda":
            torch.cuda.synchronize(self.dev)  # work queued before the call is not the call's
            torch.cuda.reset_peak_memory_stats(self.dev)
            # Other pipelines cached in this process hold device memory too: count only what
            # this call allocates on top of what was there, plus this pipeline's own weights,
            # so the figure does not depend on which cases ran before.
            self._cuda_offset = self._resident - _cuda_allocated(self.dev)[0]
        self._start = time.perf_counter()
        self._seg_start = self._mark()
        return self

    def __exit__(self, *exc: object) -> None:
        mark = self._mark()
        if self.mode == "cuda":
            torch.cuda.synchronize(self.dev)  # the one wait of the call (diffusers' own .cpu() waits too)
        end = time.perf_counter()
        self._close_segment(mark)
        self.wall_s = end - self._start
        for seg, a, b in self._spans:
            self.times[seg] = self.times.get(seg, 0.0) + self._seconds(a, b)
        self.pipe._regress_meter = None
        if self._prof is not None:
            events = _stop_memory_profiler()
            if exc[0] is None:
                self._cpu_peaks(events)
            self.profile_overhead_s = time.perf_counter() - end

    # ---- stage boundaries (called by the wrappers)

    def enter(self, stage: str) -> None:
        mark = self._mark()
        self._close_segment(mark)
        self._seg, self._seg_start = stage, mark
        if self._prof is not None:
            rf = torch.profiler.record_function(_RANGE_PREFIX + stage)
            rf.__enter__()
            self._ranges.append(rf)

    def exit(self, stage: str) -> None:
        if self._prof is not None and self._ranges:
            self._ranges.pop().__exit__(None, None, None)
        mark = self._mark()
        self._close_segment(mark)
        if stage in DECODE_STAGES:
            self._decoded = True
        self._seg, self._seg_start = ("post" if self._decoded else "denoise"), mark

    def _mark(self) -> Any:
        """A point in time: on CUDA an event recorded on the current stream (no host wait: the
        stage times come from the GPU's timeline once the call has finished), else the clock."""
        if self.mode == "cuda":
            ev = torch.cuda.Event(enable_timing=True)
            ev.record()
            return ev
        return time.perf_counter()

    def _seconds(self, a: Any, b: Any) -> float:
        return a.elapsed_time(b) / 1000.0 if self.mode == "cuda" else b - a

    def _close_segment(self, mark: Any) -> None:
        seg = self._seg
        if seg != "post":
            self._spans.append((seg, self._seg_start, mark))
        if self.mode == "cuda":
            # The caching allocator books allocations when the host enqueues them, so the peak
            # so far is exact at this point of the host's program order without a sync.
            peak = _cuda_allocated(self.dev)[1] + self._cuda_offset
            self.peaks[seg] = max(self.peaks.get(seg, 0), peak)
            torch.cuda.reset_peak_memory_stats(self.dev)

    # ---- CPU memory from the profiler's raw events

    def _cpu_peaks(self, events: list[Any]) -> None:
        """Peak of the running allocation total, overall and within each stage's ranges.

        Allocation events are classified by our ``record_function`` ranges (same clock);
        outside them, before the first decode is 'denoise' and after it 'post' (counted in
        the total only). Vectorised: a call has thousands of allocation events.
        """
        import numpy as np

        times: list[int] = []
        sizes: list[int] = []
        ranges: list[tuple[int, int, str]] = []
        for ev in events:
            name = ev.name()
            if name == "[memory]":
                times.append(ev.start_ns())
                sizes.append(ev.nbytes())
            elif name.startswith(_RANGE_PREFIX):
                ranges.append((ev.start_ns(), ev.end_ns(), name[len(_RANGE_PREFIX):]))
        t = np.asarray(times, dtype=np.int64)
        order = np.argsort(t, kind="stable")
        t = t[order]
        base = self._resident
        # level[i]: bytes held after event i; before[i]: before it
        level = base + np.cumsum(np.asarray(sizes, dtype=np.int64)[order])
        before = np.concatenate(([base], level[:-1])) if len(level) else level

        decode_start = min((a for a, _, st in ranges if st in DECODE_STAGES), default=None)
        segment = np.zeros(len(t), dtype=np.int8)  # 0 denoise, 1 post, 2.. ranges' stages
        if decode_start is not None:
            segment[t > decode_start] = 1
        names = ["denoise", "post"]
        peaks: dict[str, int] = {"denoise": base, "total": int(max(base, level.max(initial=base)))}
        for a, b, stage in ranges:
            if stage not in names:
                names.append(stage)
            segment[(t >= a) & (t <= b)] = names.index(stage)
            # a stage starts at the level its predecessor left, allocating or not
            i = int(np.searchsorted(t, a, side="left"))
            start_level = int(before[i]) if i < len(before) else int(level[-1]) if len(level) else base
            peaks[stage] = max(peaks.get(stage, 0), start_level)
        for k, stage in enumerate(names):
            mask = segment == k
            if mask.any():
                peaks[stage] = max(peaks.get(stage, 0), int(level[mask].max()))
        self.peaks = peaks

    def perf(self) -> Perf:
        stages = {s: self.times[s] for s in STAGES if s in self.times}
        if self.mode == "none":
            return Perf(wall_s=self.wall_s, stages=stages)
        peaks = {k: v for k, v in self.peaks.items() if k != "post"}
        peaks["total"] = max(self.peaks.values(), default=0)
        if self.mode == "cuda":
            return Perf(wall_s=self.wall_s, stages=stages, peak_memory=peaks,
                        memory_source="cuda.max_memory_allocated")
        return Perf(wall_s=self.wall_s, stages=stages, peak_memory=peaks, memory_source="profiler")


def _cuda_allocated(dev: Any) -> tuple[int, int]:
    """(current, peak) bytes allocated on a CUDA/ROCm device, from one read of the allocator's
    statistics (``torch.cuda.max_memory_allocated`` flattens and sorts every statistic on each
    call, which the meter does at every stage boundary)."""
    stats = torch.cuda.memory_stats_as_nested_dict(dev).get("allocated_bytes", {}).get("all", {})
    return int(stats.get("current", 0)), int(stats.get("peak", 0))


def _start_memory_profiler() -> bool | None:
    """Start the profiler for allocation events only; None when it cannot start.

    ``torch.profiler.profile`` records every aten op as well: on these tiny pipelines that is
    ~17k events per call and its stop costs more than the call itself. Restricting the
    record-function scope to USER_SCOPE keeps the allocation events and our own stage ranges
    (``record_function`` is a user scope) and drops the op events.
    """
    from torch._C._profiler import RecordScope, _ExperimentalConfig
    from torch.autograd import (
        ProfilerActivity,
        ProfilerConfig,
        ProfilerState,
        _enable_profiler,
        _prepare_profiler,
    )

    # (state, record_shapes, profile_memory, with_stack, with_flops, with_modules, experimental)
    config = ProfilerConfig(ProfilerState.KINETO, False, True, False, False, False, _ExperimentalConfig())
    activities = {ProfilerActivity.CPU}
    try:
        _prepare_profiler(config, activities)  # initialises kineto; enabling without it crashes
        _enable_profiler(config, activities, {RecordScope.USER_SCOPE})
    except RuntimeError:
        return None
    return True


def _stop_memory_profiler() -> list[Any]:
    from torch.autograd import _disable_profiler

    return list(_disable_profiler().events())


# --------------------------------------------------------------------------- tiny text encoders

def tiny_t5(d_model: int = 32) -> Any:
    """A 2-layer T5 encoder over the byte tokenizer's vocabulary (Flux's second encoder, Wan's)."""
    from transformers import T5Config, T5EncoderModel

    from .tokenizer import VOCAB_SIZE

    torch.manual_seed(0)
    config = T5Config(vocab_size=VOCAB_SIZE, d_model=d_model, d_ff=37, d_kv=8, num_layers=2, num_heads=4,
                      relative_attention_num_buckets=8, dropout_rate=0.0)
    return T5EncoderModel(config).eval()


def tiny_clip(hidden: int = 32, projection: int = 32) -> Any:
    """A 2-layer CLIP text encoder over the byte tokenizer's vocabulary (Flux's pooled embedding)."""
    from transformers import CLIPTextConfig, CLIPTextModel

    from .tokenizer import VOCAB_SIZE

    torch.manual_seed(0)
    config = CLIPTextConfig(bos_token_id=2, eos_token_id=1, pad_token_id=0, hidden_size=hidden,
                            intermediate_size=37, num_attention_heads=4, num_hidden_layers=2,
                            vocab_size=VOCAB_SIZE, projection_dim=projection, max_position_embeddings=77)
    return CLIPTextModel(config).eval()
