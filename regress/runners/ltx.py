"""LTX-Video (LTXPipeline): a T5 encoder, a video DiT, a causal video VAE; text-to-video.

Default precision: everything bf16. LTX-Video is released and run in bf16 end to end (its
reference inference code and diffusers' documented usage load the whole pipeline in
bf16, VAE included), and LTX-2 (ltx2), its successor, is all-bf16 in the reference engine's
table; testing LTX in fp32 would test a configuration nobody ships. The tiny VAE is kept at
8 channels and 32 px because bf16 convolutions are 20-30x slower than fp32 on an AVX2 CPU.

``Case.fps`` feeds ``frame_rate`` too: LTX scales its rotary positions by the frame rate, so
the fps is an input of the model here, not just a label.
"""

from __future__ import annotations

from types import MappingProxyType
from typing import Any

import torch

from ..suite import Case
from .diffusers_family import DiffusersFamily
from .tiny import tiny_t5
from .tokenizer import make_tokenizer


class LTX(DiffusersFamily):
    name = "ltx"
    output_kind = "video"
    pipeline_class = "LTXPipeline"
    default_precision = MappingProxyType({"transformer": "bf16", "vae": "bf16", "text_encoder": "bf16"})
    default_fps = 25.0  # LTXPipeline's frame_rate default
    fps_kwarg = "frame_rate"
    tiny_defaults = MappingProxyType({"height": 32, "width": 32, "num_frames": 9, "frame_rate": 25.0,
                                      "guidance_scale": 3.0, "max_sequence_length": 32})

    def build_tiny(self, case: Case) -> Any:
        from diffusers import (
            AutoencoderKLLTXVideo,
            FlowMatchEulerDiscreteScheduler,
            LTXPipeline,
            LTXVideoTransformer3DModel,
        )

        torch.manual_seed(0)
        transformer = LTXVideoTransformer3DModel(in_channels=8, out_channels=8, patch_size=1, patch_size_t=1,
                                                 num_attention_heads=4, attention_head_dim=8, cross_attention_dim=32,
                                                 num_layers=1, caption_channels=32)
        torch.manual_seed(0)
        vae = AutoencoderKLLTXVideo(in_channels=3, out_channels=3, latent_channels=8, block_out_channels=(8, 8, 8, 8),
                                    decoder_block_out_channels=(8, 8, 8, 8), layers_per_block=(1, 1, 1, 1, 1),
                                    decoder_layers_per_block=(1, 1, 1, 1, 1),
                                    spatio_temporal_scaling=(True, True, False, False),
                                    decoder_spatio_temporal_scaling=(True, True, False, False),
                                    decoder_inject_noise=(False,) * 5, upsample_residual=(False,) * 4,
                                    upsample_factor=(1,) * 4, timestep_conditioning=False, patch_size=1,
                                    patch_size_t=1, encoder_causal=True, decoder_causal=False)
        vae.use_framewise_encoding = vae.use_framewise_decoding = False
        return LTXPipeline(transformer=transformer, vae=vae, scheduler=FlowMatchEulerDiscreteScheduler(),
                           text_encoder=tiny_t5(), tokenizer=make_tokenizer(128))


RUNNER = LTX()
