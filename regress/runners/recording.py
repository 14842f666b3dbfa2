"""The stage wrappers around a pipeline, and the copies of what passes between its stages.

:func:`instrument` wraps ``encode_prompt``, ``vae.decode`` and the audio decoders once per
build, so that the meter sees stage boundaries and the recorder sees stage tensors without
knowing each pipeline's ``__call__``. The wrappers find the call in progress on the
:class:`~regress.runners.built.BuiltPipeline`, never on the diffusers object.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import torch

from .casting import float32_copy
from .measurement import Stage

if TYPE_CHECKING:
    from .built import BuiltPipeline


class StageRecorder:
    """Copies of the tensors that pass between a pipeline's stages during one call: what each
    ``encode_prompt`` call returned (``text_encode/call1/out0``), the latents after denoising
    steps (``denoise/step01``; every step of a tiny case, the first, middle and last of a real
    one), and what each decoder was given (``decode/vae/input``). Float32 copies on the CPU:
    recording changes no value the pipeline computes.

    On a GPU a copy is queued into pinned host memory on the pipeline's stream and turned into
    numpy after the call (:meth:`finish`): a ``.cpu()`` per step would make the host wait for
    the step's kernels and leave the GPU idle while the next step's launches refill the queue,
    and a device-side copy would add to the peak memory the gate judges."""

    def __init__(self, *, steps: int, every_step: bool) -> None:
        self.tensors: dict[str, Any] = {}
        self._queued: dict[str, Any] = {}  # name -> pinned host tensor, filled by a queued copy
        self.calls = 0
        keep = range(1, steps + 1) if every_step else {1, (steps + 1) // 2, steps}
        self.steps = set(keep)

    def has(self, name: str) -> bool:
        return name in self.tensors or name in self._queued

    def add(self, name: str, t: Any) -> None:
        if not (torch.is_tensor(t) and t.is_floating_point()):
            return
        if t.device.type == "cuda":  # CUDA and ROCm
            host = torch.empty(t.shape, dtype=t.dtype, pin_memory=True)
            host.copy_(t.detach(), non_blocking=True)
            self._queued[name] = host
        else:
            self.tensors[name] = float32_copy(t)

    def finish(self) -> dict[str, Any]:
        """The recorded tensors as float32 numpy, once the call's work has completed (the
        meter synchronises at the end of the call)."""
        for name, host in self._queued.items():
            self.tensors[name] = float32_copy(host)
        self._queued.clear()
        return self.tensors

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


def instrument(built: BuiltPipeline, *, decode_stage: str = "decode", audio_decoders: tuple[str, ...] = ()) -> None:
    """Wrap ``pipe.encode_prompt``, ``pipe.vae.decode`` and the audio decoders once, so that
    :class:`StageMeter` sees the stage boundaries without knowing each pipeline's ``__call__``.
    The decode wrappers also cast their input to the module's dtype (a no-op where the
    pipeline already does): FluxPipeline hands bf16 latents to any VAE, and LTX2 hands the
    audio VAE's mel spectrogram to the vocoder in whatever dtype the audio VAE has."""
    pipe = built.pipe
    encode = pipe.encode_prompt

    def encode_prompt(*args: Any, **kwargs: Any) -> Any:
        with Stage(built, "text_encode"):
            returned = encode(*args, **kwargs)
        if built.recorder is not None:
            built.recorder.text(returned)
        return returned

    pipe.encode_prompt = encode_prompt
    _wrap_decode(built, pipe.vae, "decode", decode_stage, "vae")
    for name in audio_decoders:
        module = getattr(pipe, name)
        # the vocoder is called as a module (``self.vocoder(mel)``): wrap its forward
        _wrap_decode(built, module, "decode" if hasattr(module, "decode") else "forward", "audio_decode", name)


def _wrap_decode(built: BuiltPipeline, module: Any, method: str, stage: str, name: str) -> None:
    """Replace ``module.<method>`` by a version that casts its first (latent) argument to the
    module's dtype and runs inside ``stage`` (recording what it was given)."""
    inner = getattr(module, method)

    def wrapped(z: Any, *args: Any, **kwargs: Any) -> Any:
        recorder = built.recorder
        if recorder is not None and not recorder.has(f"{stage}/{name}/input"):
            recorder.add(f"{stage}/{name}/input", z)  # the first call (a tiled decode calls again)
        if torch.is_tensor(z) and z.is_floating_point():
            z = z.to(module.dtype)
        with Stage(built, stage):
            return inner(z, *args, **kwargs)

    setattr(module, method, wrapped)
