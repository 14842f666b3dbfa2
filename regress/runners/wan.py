"""Wan (WanPipeline): a T5 encoder, a 3D transformer, a causal video VAE; text-to-video.

The VAE stays fp32 by default (the reference engine's table): Wan's VAE is the component
where bf16 costs visible quality. Frames come out as uint8 TxHxWx3 with the case's fps.
"""

from __future__ import annotations

from types import MappingProxyType
from typing import Any

import torch

from ..suite import Case
from .diffusers_family import DiffusersFamily
from .tiny import tiny_t5
from .tokenizer import make_tokenizer


class Wan(DiffusersFamily):
    name = "wan"
    output_kind = "video"
    pipeline_class = "WanPipeline"
    default_precision = MappingProxyType({"transformer": "bf16", "vae": "fp32", "text_encoder": "bf16"})
    default_fps = 16.0
    tiny_defaults = MappingProxyType({"height": 16, "width": 16, "num_frames": 9, "guidance_scale": 6.0,
                                      "max_sequence_length": 16})

    def build_tiny(self, case: Case) -> Any:
        from diffusers import (
            AutoencoderKLWan,
            FlowMatchEulerDiscreteScheduler,
            WanPipeline,
            WanTransformer3DModel,
        )

        torch.manual_seed(0)
        vae = AutoencoderKLWan(base_dim=3, z_dim=16, dim_mult=[1, 1, 1, 1], num_res_blocks=1,
                               temperal_downsample=[False, True, True])
        torch.manual_seed(0)
        transformer = WanTransformer3DModel(patch_size=(1, 2, 2), num_attention_heads=2, attention_head_dim=12,
                                            in_channels=16, out_channels=16, text_dim=32, freq_dim=256,
                                            ffn_dim=32, num_layers=2, cross_attn_norm=True,
                                            qk_norm="rms_norm_across_heads", rope_max_seq_len=32)
        return WanPipeline(tokenizer=make_tokenizer(512), text_encoder=tiny_t5(), vae=vae,
                           scheduler=FlowMatchEulerDiscreteScheduler(shift=7.0), transformer=transformer,
                           transformer_2=None)


RUNNER = Wan()
