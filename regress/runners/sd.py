"""Stable Diffusion 1.x/2.x (StableDiffusionPipeline): a CLIP text encoder, a UNet, a KL VAE.

Default precision: UNet fp16, text encoder fp16, VAE fp32. SD checkpoints ship an ``fp16``
variant and are deployed in fp16 (fp16, not bf16: the UNet predates bf16 hardware and was
fine-tuned and distributed in fp16); the VAE is the one component their own config marks as
unsafe in half precision (``force_upcast: true`` in every SD VAE config: it overflows to NaN
/ black images at higher resolutions), so it decodes in fp32, which the shared decode wrapper
makes possible by casting the fp16 latents. The safety checker is not part of a golden run
(a checkpoint's is not loaded): it can replace an image by a black square, which says
nothing about the pipeline under test.
"""

from __future__ import annotations

from types import MappingProxyType
from typing import Any

import torch

from ..suite import Case
from .diffusers_family import DiffusersFamily
from .tiny import tiny_clip
from .tokenizer import make_tokenizer


class StableDiffusion(DiffusersFamily):
    name = "sd"
    output_kind = "image"
    pipeline_class = "StableDiffusionPipeline"
    default_precision = MappingProxyType({"unet": "fp16", "vae": "fp32", "text_encoder": "fp16"})
    checkpoint_kwargs = MappingProxyType({"safety_checker": None, "feature_extractor": None,
                                          "requires_safety_checker": False})
    tiny_defaults = MappingProxyType({"height": 32, "width": 32, "guidance_scale": 5.0})

    def build_tiny(self, case: Case) -> Any:
        from diffusers import AutoencoderKL, DDIMScheduler, StableDiffusionPipeline, UNet2DConditionModel

        torch.manual_seed(0)
        unet = UNet2DConditionModel(block_out_channels=(4, 8), layers_per_block=1, sample_size=32, in_channels=4,
                                    out_channels=4, down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
                                    up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"), cross_attention_dim=32,
                                    norm_num_groups=2)
        torch.manual_seed(0)
        vae = AutoencoderKL(block_out_channels=[4, 8], in_channels=3, out_channels=3,
                            down_block_types=["DownEncoderBlock2D"] * 2, up_block_types=["UpDecoderBlock2D"] * 2,
                            latent_channels=4, norm_num_groups=2)
        # steps_offset=1 as in the released SD scheduler configs (0 draws a deprecation warning)
        scheduler = DDIMScheduler(beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear",
                                  clip_sample=False, set_alpha_to_one=False, steps_offset=1)
        return StableDiffusionPipeline(unet=unet, scheduler=scheduler, vae=vae, text_encoder=tiny_clip(),
                                       tokenizer=make_tokenizer(77), safety_checker=None, feature_extractor=None,
                                       image_encoder=None, requires_safety_checker=False)


RUNNER = StableDiffusion()
