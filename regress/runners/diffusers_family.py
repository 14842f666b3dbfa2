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
- perf: wall time and peak memory per stage (see :class:`~regress.runners.measurement.StageMeter`).

The parts live in small modules: :mod:`.casting`, :mod:`.environment`, :mod:`.measurement`
(with :mod:`.torch_profiler`), :mod:`.observation`, :mod:`.recording`, :mod:`.tiny`, and the
built pipeline the session caches in :mod:`.built`.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any, ClassVar

import torch

from ..errors import RunnerError
from ..outputs import Output
from ..precision import resolve_precision
from ..suite import Case
from .base import RunResult
from .built import BuiltPipeline
from .call_args import call_parameters, check_kwargs
from .compiling import DENOISERS, compile_components, compile_label
from .casting import cast_at_boundaries, pixels_to_uint8, place, to_float32_audio
from .environment import quiet_libraries, seed_defaults, warm_up_device
from .measurement import StageMeter
from .observation import fingerprint, precision_settings, versions
from .recording import StageRecorder, instrument
from .shape_true import build_shape_true

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
    # Components run under torch.compile where a case sets ``compile`` (regress.runners.compiling):
    # the denoiser, as engines compile it.
    compiled_components: ClassVar[tuple[str, ...]] = DENOISERS
    # Extra from_pretrained kwargs for checkpoints (e.g. SD's safety checker left out).
    checkpoint_kwargs: ClassVar[Mapping[str, Any]] = MappingProxyType({})
    # CPU peak memory needs the profiler: ~0-5% inside the call, plus 8-20 ms after it to
    # read the allocation events on these tiny pipelines. Off -> memory_source 'none'.
    profile_cpu_memory: bool = True

    # ---- what subclasses provide

    def build_tiny(self, case: Case) -> Any:
        """A pipeline with random weights from a config, seeded per module, all in fp32."""
        raise NotImplementedError

    def adapt(self, pipe: Any) -> None:
        """Fix-ups a pipeline needs once built (e.g. for the offline tokenizer); the tiny build
        and the shape-true build both call it."""

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

    def output_type(self, device: str) -> str:
        """Frames made on a GPU are quantised there (:func:`~.casting.quantise_on_device`, bit for
        bit the numpy path): the host gets uint8, not 4x the bytes in float32, and the device
        keeps the uint8 frames for the metrics.

        Not where a pipeline decodes audio after its video ("video+audio", LTX-2): it would
        hold the float video on the device through the audio decode, a real peak-memory rise
        (the tiny ltx2 case's audio_decode peak went 0.46 -> 0.49 MiB on the H100, +6.4%; a
        121-frame 720p video is 1.3 GB of float32), so that video leaves the device as before."""
        if torch.device(device).type != "cuda" or "audio" in self.output_kind:
            return "np"
        return "pt"

    def to_output(self, result: Any, case: Case, pipe: Any = None) -> Output:
        """The pipeline's output -> :class:`Output`: float [0, 1] pixels to uint8, waveforms to
        float32 channels x samples (lossless), NaN/Inf counted in every track; frames made on
        a GPU keep their device copy (:class:`~regress.outputs.DeviceFrames`)."""
        kw: dict[str, Any] = {}
        on_gpu: dict[str, Any] = {}
        bad = 0
        if self.output_kind == "image":
            kw["image"], on_gpu["image"], bad = pixels_to_uint8(result.images[0])
        if "video" in self.output_kind:
            kw["video"], on_gpu["video"], bad = pixels_to_uint8(result.frames[0])
            kw["fps"] = float(case.fps or self.default_fps)
        if "audio" in self.output_kind:
            kw["audio"], bad_audio = to_float32_audio(self.audio_of(result))
            kw["sample_rate"] = self.sample_rate(pipe)
            bad += bad_audio
        if not kw:
            raise NotImplementedError(f"{type(self).__name__} must implement to_output for '{self.output_kind}'")
        return Output(nonfinite=bad, **kw).keep_on_device(**on_gpu)

    # ---- the Runner protocol

    def build(self, case: Case, precision: Mapping[str, str], device: str) -> BuiltPipeline:
        """Build once per key (:class:`regress.pipelines.BuildKey`); the session caches the result
        (and times it: ``Perf.build_s`` is the session's).

        ``precision`` may be the full table or only overrides: it is resolved against the
        family's defaults either way.
        """
        table = self.resolve_precision(precision, case)
        quiet_libraries()
        if case.is_shape_true:
            pipe, commit = build_shape_true(self, case, table, device), None
        elif case.is_tiny:
            pipe, commit = self.build_tiny(case), None
            self.adapt(pipe)
        else:
            pipe, commit = self.load_checkpoint(case, table)
        place(pipe, table, device)
        casts = cast_at_boundaries(pipe, table, self.default_precision,
                                   skip=("vae", *self.audio_decoders))  # the decoders cast their own input
        if case.compile is not None:  # after the dtypes and the device are set: what is compiled is what runs
            compile_components(pipe, mode=case.compile, names=self.compiled_components, case_id=case.id)
        warm_up_device(device)
        pipe.set_progress_bar_config(disable=True)
        built = BuiltPipeline(pipe, boundary_casts=casts, model_commit=commit)
        instrument(built, decode_stage=self.decode_stage, audio_decoders=self.audio_decoders)
        if torch.device(device).type == "cuda":
            # Casts and copies queued by place() belong to the build: without this wait they
            # would land in the first call's time (and its meter's start-up).
            torch.cuda.synchronize(device)
        return built

    def run(self, built: BuiltPipeline, case: Case, device: str) -> RunResult:
        """One seeded call. The noise comes from a CPU generator so that a golden made on one
        device is reproducible on another; pixels are taken as float (numpy, or the device's
        tensor on a GPU) so that NaN/Inf are counted before quantisation could hide them."""
        pipe = built.pipe
        kwargs = self.call_kwargs(case)
        check_kwargs(pipe, kwargs, case)
        generator = torch.Generator(device="cpu").manual_seed(case.seed)
        seed_defaults(case.seed, device)
        recorder = StageRecorder(steps=case.steps, every_step=case.is_tiny)
        accepted, _ = call_parameters(type(pipe))
        if "callback_on_step_end" in accepted and "callback_on_step_end" not in kwargs:
            kwargs["callback_on_step_end"] = recorder.on_step_end
        elif "callback" in accepted and "callback" not in kwargs:  # Stable Audio's older hook
            kwargs["callback"] = lambda i, _t, latents: recorder.step(i, latents)
            kwargs["callback_steps"] = 1
        built.recorder = recorder
        settings = precision_settings(device)  # as the call starts: what the engine left set
        with StageMeter(built, device, cpu_memory=self.profile_cpu_memory) as meter:
            try:
                result = pipe(**kwargs, generator=generator, output_type=self.output_type(device), return_dict=True)
            except torch.OutOfMemoryError as exc:
                # at production size this is an answer, not a crash: which stage, on what weights
                raise RunnerError(f"out of {device} memory in stage '{meter.stage}' with "
                                  f"{built.resident_bytes() / 2**30:.1f} GiB of weights resident: "
                                  f"{str(exc).splitlines()[0]}", case=case.id, field="precision") from None
            except RuntimeError as exc:
                if "pack_vnni2" in str(exc):
                    # torch's CPU attention under ATEN_CPU_CAPABILITY below avx512 while oneDNN still
                    # offers AMX (an emulated path, never a real CPU): say how to emulate it whole
                    raise RunnerError(f"torch cannot run this kernel path: {str(exc).splitlines()[0]} (ATen's "
                                      "capability is capped below AVX-512 while oneDNN still uses AMX; cap oneDNN "
                                      "too, e.g. ONEDNN_MAX_CPU_ISA=AVX2)", case=case.id) from None
                if "dtype" not in str(exc):
                    raise
                # a per-component override the pipeline cannot run (e.g. an fp32 text encoder
                # feeding a bf16 transformer): say which precision, not where it broke inside
                raise RunnerError(f"{type(pipe).__name__} cannot run with precision {fingerprint(pipe)}: "
                                  f"{str(exc).splitlines()[0]}", case=case.id, field="precision") from None
            finally:
                built.recorder = None
        output = self.to_output(result, case, pipe)
        output.stages = recorder.finish() or None
        provenance = versions(device)
        if built.model_commit:
            provenance["model_commit"] = built.model_commit  # the snapshot a checkpoint came from
        fp, _ = built.observe()  # also refreshes the resident bytes the next call's meter starts from
        for name in built.boundary_casts:
            fp[name] = f"{fp[name]} (cast at its boundaries)"
        perf = meter.perf()
        perf.weights = dict(built.weights)
        settings = meter.settings(settings)
        if case.compile is not None:  # part of the fingerprint: a compiled golden says how it was compiled
            settings["compile"] = compile_label(case.compile)
        return RunResult(output=output, fingerprint=fp, perf=perf, versions=provenance, settings=settings)

    # ---- helpers subclasses rarely touch

    def resolve_precision(self, precision: Mapping[str, str], case: Case | None = None) -> dict[str, str]:
        """The family's table with ``precision`` applied; unknown component names are refused."""
        unknown = sorted(set(precision) - set(self.default_precision))
        if unknown:
            raise RunnerError(f"'{self.name}' has no component {', '.join(repr(u) for u in unknown)} "
                              f"(known: {', '.join(self.default_precision)})",
                              case=case.id if case else None, field="precision")
        return resolve_precision(self.default_precision, precision)

    def load_checkpoint(self, case: Case, table: Mapping[str, str]) -> tuple[Any, str]:
        """A real checkpoint (``model = "org/name"``) at its pinned revision, each component
        loaded straight into its dtype (no fp32 copy of a 20B model); :func:`place` still
        casts afterwards, as the single source of truth. Returns the pipeline and the
        snapshot's commit. See :mod:`regress.runners.checkpoint`."""
        from .checkpoint import load_pipeline

        return load_pipeline(self.pipeline_class, case, table, extra=self.checkpoint_kwargs)
