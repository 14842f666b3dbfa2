"""The parts of the MOVA-like pipeline that no library ships: the pipeline that joins the two
towers, and the bridge that lets the audio tower see the video.

MOVA (OpenMOSS; served by SGLang's multimodal_gen) is a dual-tower DiT: a Wan-style video
transformer over Wan VAE latents and a Wan-style audio transformer over the latents of a DAC
audio VAE (``Snake1d`` activations), denoised together with a bridge between the towers, then
decoded by both VAEs. There is no MOVA pipeline in diffusers, so :class:`MovaPipeline` is
WanPipeline (text encoder, video transformer, Wan VAE, scheduler: diffusers' own code) with the
audio tower stepped in the same denoising loop, through the loop's step-end hook, and a DAC
decode after the video's. Every network is a real library class except the bridge, which is
a small stand-in (see :class:`MovaBridge`).

Importing this module imports diffusers: only :mod:`regress.runners.mova` and the shape-true
build import it, when a case needs it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch
from diffusers import FlowMatchEulerDiscreteScheduler, WanPipeline
from diffusers.configuration_utils import ConfigMixin, register_to_config
from diffusers.models.modeling_utils import ModelMixin
from diffusers.utils import BaseOutput
from diffusers.utils.torch_utils import randn_tensor


class MovaBridge(ModelMixin, ConfigMixin):
    """Video latents -> conditioning tokens for the audio tower: one token per latent frame
    (the frame's latent pooled over space, through a two-layer MLP), appended to the text
    tokens the audio transformer cross-attends to.

    Why a stand-in: MOVA's bridge (per-layer cross-attention between the towers) has no
    library implementation, and the audio tower here is diffusers' WanTransformer3DModel,
    whose blocks cannot be interleaved from outside. What matters for regress is that the
    audio depends on the video through a component of its own dtype, which this gives."""

    @register_to_config
    def __init__(self, video_channels: int = 16, hidden_dim: int = 32, cond_dim: int = 32) -> None:
        super().__init__()
        self.proj_in = torch.nn.Linear(video_channels, hidden_dim)
        self.act = torch.nn.SiLU()
        self.proj_out = torch.nn.Linear(hidden_dim, cond_dim)

    def forward(self, video_latents: torch.Tensor) -> torch.Tensor:
        pooled = video_latents.mean(dim=(3, 4)).transpose(1, 2)  # (B, C, T, H, W) -> (B, T, C)
        return self.proj_out(self.act(self.proj_in(pooled)))


@dataclass
class MovaPipelineOutput(BaseOutput):
    """``frames``: the video (as WanPipeline returns it); ``audio``: mono waveforms, (B, samples)."""

    frames: Any
    audio: Any


class MovaPipeline(WanPipeline):
    """WanPipeline plus an audio tower, a bridge and a DAC audio VAE (see the module docstring).

    The audio tower is stepped inside WanPipeline's loop through ``callback_on_step_end``:
    after the video's scheduler step at timestep ``t``, the bridge turns the current video
    latents into tokens, the audio transformer predicts the audio latents' velocity at the
    same ``t`` (text + video tokens as context) and an Euler scheduler of the same config
    steps them. A caller's own step-end callback (regress's stage recorder) still runs after,
    with the video latents. The audio's noise is drawn from the call's generator before the
    video's, so one seed fixes both tracks.
    """

    _optional_components = ["transformer", "transformer_2"]

    def __init__(self, tokenizer: Any, text_encoder: Any, vae: Any, scheduler: Any, transformer: Any,
                 audio_transformer: Any, bridge: Any, audio_vae: Any, transformer_2: Any = None,
                 boundary_ratio: float | None = None, expand_timesteps: bool = False) -> None:
        super().__init__(tokenizer=tokenizer, text_encoder=text_encoder, vae=vae, scheduler=scheduler,
                         transformer=transformer, transformer_2=transformer_2, boundary_ratio=boundary_ratio,
                         expand_timesteps=expand_timesteps)
        self.register_modules(audio_transformer=audio_transformer, bridge=bridge, audio_vae=audio_vae)

    @property
    def audio_hop(self) -> int:
        """Waveform samples per audio latent (the DAC decoder's total upsampling)."""
        return math.prod(self.audio_vae.config.upsampling_ratios)

    def audio_latent_length(self, num_frames: int, frame_rate: float) -> int:
        """Latents enough for the video's duration at the audio VAE's rate."""
        samples = num_frames / frame_rate * self.audio_vae.config.sampling_rate
        return max(1, math.ceil(samples / self.audio_hop))

    @torch.no_grad()
    def __call__(self, prompt: Any = None, negative_prompt: Any = None, height: int = 480, width: int = 832,
                 num_frames: int = 81, num_inference_steps: int = 50, guidance_scale: float = 5.0,
                 frame_rate: float = 16.0, generator: Any = None, max_sequence_length: int = 512,
                 attention_kwargs: Any = None, output_type: str = "np", return_dict: bool = True,
                 callback_on_step_end: Any = None) -> Any:
        device = self._execution_device
        batch = 1 if isinstance(prompt, str) else len(prompt)
        length = self.audio_latent_length(num_frames, frame_rate)
        channels = self.audio_transformer.config.in_channels
        audio = randn_tensor((batch, channels, length, 1, 1), generator=generator, device=torch.device(device),
                             dtype=torch.float32)
        audio_scheduler = FlowMatchEulerDiscreteScheduler.from_config(self.scheduler.config)
        audio_scheduler.set_timesteps(num_inference_steps, device=device)
        audio_scheduler.set_begin_index(0)
        state = {"audio": audio}
        user_callback = callback_on_step_end

        def step_audio(pipe: Any, i: int, t: Any, kwargs: dict[str, Any]) -> dict[str, Any]:
            tower, bridge = self.audio_transformer, self.bridge
            video_tokens = bridge(kwargs["latents"].to(bridge.dtype)).to(tower.dtype)
            context = torch.cat([kwargs["prompt_embeds"].to(tower.dtype), video_tokens], dim=1)
            velocity = tower(hidden_states=state["audio"].to(tower.dtype), timestep=t.expand(batch),
                             encoder_hidden_states=context, attention_kwargs=attention_kwargs, return_dict=False)[0]
            state["audio"] = audio_scheduler.step(velocity, t, state["audio"], return_dict=False)[0]
            if user_callback is None:
                return {}
            return user_callback(pipe, i, t, {"latents": kwargs["latents"]})

        video = super().__call__(
            prompt=prompt, negative_prompt=negative_prompt, height=height, width=width, num_frames=num_frames,
            num_inference_steps=num_inference_steps, guidance_scale=guidance_scale, generator=generator,
            max_sequence_length=max_sequence_length, attention_kwargs=attention_kwargs, output_type=output_type,
            return_dict=False, callback_on_step_end=step_audio,
            callback_on_step_end_tensor_inputs=["latents", "prompt_embeds"])[0]
        latents = state["audio"][:, :, :, 0, 0]  # (B, C, L): DAC's latent layout
        if output_type == "latent":
            waveform = latents
        else:
            # the decode wrapper (regress.runners.recording) casts to the audio VAE's dtype
            waveform = self.audio_vae.decode(latents.to(self.audio_vae.dtype)).audio_values
            samples = round(num_frames / frame_rate * self.audio_vae.config.sampling_rate)
            waveform = waveform[..., :samples].float()
        if not return_dict:
            return video, waveform
        return MovaPipelineOutput(frames=video, audio=waveform)
