"""Flux (FluxPipeline): a CLIP and a T5 encoder, a dual-stream transformer, a KL VAE.

Everything in bf16 by default, text encoders included: a bf16 transformer fed fp32 text
embeddings fails inside FluxPipeline. FluxPipeline does not cast latents to the VAE's dtype
before decoding; the shared decode wrapper does.
"""

from __future__ import annotations

from types import MappingProxyType
from typing import Any

import torch

from ..suite import Case
from .diffusers_family import DiffusersFamily
from .tiny import tiny_clip, tiny_t5
from .tokenizer import make_tokenizer


class Flux(DiffusersFamily):
    name = "flux"
    output_kind = "image"
    pipeline_class = "FluxPipeline"
    default_precision = MappingProxyType({"transformer": "bf16", "vae": "bf16", "text_encoder": "bf16",
                                          "text_encoder_2": "bf16"})
    # 32 px: bf16 convolutions are 20-30x slower than fp32 on an AVX2 CPU.
    tiny_defaults = MappingProxyType({"height": 32, "width": 32, "guidance_scale": 5.0, "max_sequence_length": 48})

    def build_tiny(self, case: Case) -> Any:
        from diffusers import (
            AutoencoderKL,
            FlowMatchEulerDiscreteScheduler,
            FluxPipeline,
            FluxTransformer2DModel,
        )

        torch.manual_seed(0)
        transformer = FluxTransformer2DModel(patch_size=1, in_channels=4, num_layers=1, num_single_layers=1,
                                             attention_head_dim=16, num_attention_heads=2, joint_attention_dim=32,
                                             pooled_projection_dim=32, axes_dims_rope=[4, 4, 8])
        torch.manual_seed(0)
        vae = AutoencoderKL(sample_size=32, in_channels=3, out_channels=3, block_out_channels=(4,),
                            layers_per_block=1, latent_channels=1, norm_num_groups=1, use_quant_conv=False,
                            use_post_quant_conv=False, shift_factor=0.0609, scaling_factor=1.5035)
        return FluxPipeline(scheduler=FlowMatchEulerDiscreteScheduler(), vae=vae, text_encoder=tiny_clip(),
                            tokenizer=make_tokenizer(77), text_encoder_2=tiny_t5(),
                            tokenizer_2=make_tokenizer(512), transformer=transformer)


RUNNER = Flux()
