"""Stable Audio Open (StableAudioPipeline): a T5 encoder plus a duration projection, an audio
DiT, the Oobleck VAE (latents -> stereo waveform); text-to-audio.

Default precision: transformer, text encoder and projection model bf16; VAE fp32. The DiT
and its conditioning follow every other family's bf16 (the projection model must match the
transformer: its output sets the latents' dtype). The Oobleck VAE is to audio what Wan's VAE
is to video: its output *is* the waveform, upsampled 2048x through Snake activations, and
bf16's 8-bit mantissa puts quantisation noise around -50 dB into every sample, audible in
quiet passages; it stays fp32 (which is also the fast path for convolutions on a CPU).

The VAE's decode is the 'audio_decode' stage. The waveform is float32 channels x samples at
the VAE's ``sampling_rate``; its length is set with ``args.audio_end_in_s`` (default: the
model's maximum). The tiny model makes 0.128 s of stereo at 16 kHz.

The scheduler (CosineDPMSolverMultistepScheduler) draws its SDE noise through ``torchsde``,
seeded from the case's generator.
"""

from __future__ import annotations

from types import MappingProxyType
from typing import Any

import torch

from ..suite import Case
from .diffusers_family import DiffusersFamily
from .tiny import tiny_t5
from .tokenizer import make_tokenizer

SAMPLE_RATE = 16000
LATENT_LENGTH = 256  # x hop 8 = 2048 samples


class StableAudio(DiffusersFamily):
    name = "stable-audio"
    output_kind = "audio"
    pipeline_class = "StableAudioPipeline"
    default_precision = MappingProxyType({"transformer": "bf16", "text_encoder": "bf16", "projection_model": "bf16",
                                          "vae": "fp32"})
    decode_stage = "audio_decode"
    tiny_defaults = MappingProxyType({"guidance_scale": 6.0})

    def run(self, built: Any, case: Case, device: str) -> Any:
        import warnings

        with warnings.catch_warnings():
            # torchsde's Brownian tree complains about the scheduler's first/last sigma being a
            # hair outside its interval (float rounding); it is harmless and fires on every call
            warnings.filterwarnings("ignore", message="Should have", module="torchsde")
            return super().run(built, case, device)

    def audio_of(self, result: Any) -> Any:
        return result.audios[0]

    def sample_rate(self, pipe: Any) -> int:
        return int(pipe.vae.config.sampling_rate)

    def build_tiny(self, case: Case) -> Any:
        import warnings

        from diffusers import (
            AutoencoderOobleck,
            CosineDPMSolverMultistepScheduler,
            StableAudioDiTModel,
            StableAudioPipeline,
        )
        from diffusers.pipelines.stable_audio import StableAudioProjectionModel

        torch.manual_seed(0)
        transformer = StableAudioDiTModel(sample_size=LATENT_LENGTH, in_channels=3, num_layers=2,
                                          attention_head_dim=4, num_key_value_attention_heads=2, out_channels=3,
                                          cross_attention_dim=4, time_proj_dim=8, global_states_input_dim=8,
                                          cross_attention_input_dim=4)
        scheduler = CosineDPMSolverMultistepScheduler(solver_order=2, prediction_type="v_prediction", sigma_data=1.0,
                                                      sigma_schedule="exponential")
        torch.manual_seed(0)
        with warnings.catch_warnings():  # torch's weight_norm deprecation, from Oobleck's constructor
            warnings.simplefilter("ignore", FutureWarning)
            vae = AutoencoderOobleck(encoder_hidden_size=6, downsampling_ratios=[2, 4], decoder_channels=3,
                                     decoder_input_channels=3, audio_channels=2, channel_multiples=[2, 4],
                                     sampling_rate=SAMPLE_RATE)
        torch.manual_seed(0)
        projection = StableAudioProjectionModel(text_encoder_dim=32, conditioning_dim=4, min_value=0, max_value=32)
        return StableAudioPipeline(transformer=transformer, scheduler=scheduler, vae=vae, text_encoder=tiny_t5(),
                                   tokenizer=make_tokenizer(64), projection_model=projection)


RUNNER = StableAudio()
