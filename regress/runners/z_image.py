"""Z-Image (ZImagePipeline): a Qwen3 text encoder, a single-stream DiT, a KL VAE.

All bf16 by default, as the reference engine runs it after its bf16-VAE change. Two things
the tiny build must do that a checkpoint does not: the transformer's pad tokens
(``x_pad_token``, ``cap_pad_token``) are created with ``torch.empty`` and only a checkpoint
fills them, so a random-weight build fills them itself (uninitialised memory would make the
output depend on the allocator, or hold NaN); and the prompt passes through a chat template,
so ``max_sequence_length`` must leave room for the template around the prompt.
"""

from __future__ import annotations

from types import MappingProxyType
from typing import Any

import torch

from ..suite import Case
from .diffusers_family import DiffusersFamily
from .tokenizer import VOCAB_SIZE, make_tokenizer


class ZImage(DiffusersFamily):
    name = "z-image"
    output_kind = "image"
    pipeline_class = "ZImagePipeline"
    default_precision = MappingProxyType({"transformer": "bf16", "vae": "bf16", "text_encoder": "bf16"})
    # 48 tokens: the chat template takes ~20 of them, the prompt keeps the rest.
    tiny_defaults = MappingProxyType({"height": 32, "width": 32, "guidance_scale": 3.0, "max_sequence_length": 48,
                                      "cfg_normalization": False, "cfg_truncation": 1.0})

    def build_tiny(self, case: Case) -> Any:
        from diffusers import AutoencoderKL, FlowMatchEulerDiscreteScheduler, ZImagePipeline, ZImageTransformer2DModel
        from transformers import Qwen3Config, Qwen3Model

        torch.manual_seed(0)
        transformer = ZImageTransformer2DModel(all_patch_size=(2,), all_f_patch_size=(1,), in_channels=16, dim=32,
                                               n_layers=2, n_refiner_layers=1, n_heads=2, n_kv_heads=2, norm_eps=1e-5,
                                               qk_norm=True, cap_feat_dim=16, rope_theta=256.0, t_scale=1000.0,
                                               axes_dims=[8, 4, 4], axes_lens=[256, 32, 32])
        with torch.no_grad():  # torch.empty in the constructor: fill with a fixed value
            transformer.x_pad_token.fill_(1.0)
            transformer.cap_pad_token.fill_(1.0)
        torch.manual_seed(0)
        vae = AutoencoderKL(in_channels=3, out_channels=3, down_block_types=["DownEncoderBlock2D"] * 2,
                            up_block_types=["UpDecoderBlock2D"] * 2, block_out_channels=[32, 64], layers_per_block=1,
                            latent_channels=16, norm_num_groups=32, sample_size=32, scaling_factor=0.3611,
                            shift_factor=0.1159)
        torch.manual_seed(0)
        config = Qwen3Config(hidden_size=16, intermediate_size=16, num_hidden_layers=2, num_attention_heads=2,
                             num_key_value_heads=2, vocab_size=VOCAB_SIZE, max_position_embeddings=512)
        text_encoder = Qwen3Model(config).eval()
        # a decoder-only encoder: no eos after the prompt
        return ZImagePipeline(transformer=transformer, vae=vae, scheduler=FlowMatchEulerDiscreteScheduler(),
                              text_encoder=text_encoder, tokenizer=make_tokenizer(1024, add_eos=False))


RUNNER = ZImage()
