"""Qwen-Image (QwenImagePipeline): a Qwen2.5-VL text encoder, an MMDiT, a causal 3D VAE.

All bf16 by default (the reference engine's table after its bf16-VAE change); the text
encoder stays bf16 with the transformer because a bf16 transformer fed fp32 embeddings
fails. Classifier-free guidance here is ``true_cfg_scale`` (the transformer has no guidance
embedding, so ``guidance_scale`` would be ignored with a warning): ``Case.guidance`` feeds it,
and it takes effect only with a negative prompt.
"""

from __future__ import annotations

from types import MappingProxyType
from typing import Any

import torch

from ..suite import Case
from .diffusers_family import DiffusersFamily
from .tokenizer import VOCAB_SIZE, make_tokenizer


class QwenImage(DiffusersFamily):
    name = "qwen-image"
    output_kind = "image"
    pipeline_class = "QwenImagePipeline"
    default_precision = MappingProxyType({"transformer": "bf16", "vae": "bf16", "text_encoder": "bf16"})
    guidance_kwarg = "true_cfg_scale"
    # true_cfg_scale 1: no second (negative) encode unless a case asks for guidance.
    tiny_defaults = MappingProxyType({"height": 32, "width": 32, "true_cfg_scale": 1.0, "max_sequence_length": 32})

    def build_tiny(self, case: Case) -> Any:
        from diffusers import (
            AutoencoderKLQwenImage,
            FlowMatchEulerDiscreteScheduler,
            QwenImagePipeline,
            QwenImageTransformer2DModel,
        )
        from transformers import Qwen2_5_VLConfig, Qwen2_5_VLForConditionalGeneration

        torch.manual_seed(0)
        transformer = QwenImageTransformer2DModel(patch_size=2, in_channels=16, out_channels=4, num_layers=2,
                                                  attention_head_dim=16, num_attention_heads=3,
                                                  joint_attention_dim=16, guidance_embeds=False,
                                                  axes_dims_rope=(8, 4, 4))
        torch.manual_seed(0)
        vae = AutoencoderKLQwenImage(base_dim=24, z_dim=4, dim_mult=[1, 2, 4], num_res_blocks=1,
                                     temperal_downsample=[False, True], latents_mean=[0.0] * 4,
                                     latents_std=[1.0] * 4)
        torch.manual_seed(0)
        text = {"hidden_size": 16, "intermediate_size": 16, "num_hidden_layers": 2, "num_attention_heads": 2,
                "num_key_value_heads": 2, "vocab_size": VOCAB_SIZE, "rope_theta": 1e6,
                "rope_scaling": {"mrope_section": [1, 1, 2], "rope_type": "default", "type": "default"}}
        vision = {"depth": 2, "hidden_size": 16, "intermediate_size": 16, "num_heads": 2, "out_hidden_size": 16}
        config = Qwen2_5_VLConfig(text_config=text, vision_config=vision, hidden_size=16, vocab_size=VOCAB_SIZE)
        text_encoder = Qwen2_5_VLForConditionalGeneration(config).eval()
        # A decoder-only encoder: its prompt template ends without an eos token.
        tokenizer = make_tokenizer(1024, add_eos=False)
        return QwenImagePipeline(transformer=transformer, vae=vae, scheduler=FlowMatchEulerDiscreteScheduler(),
                                 text_encoder=text_encoder, tokenizer=tokenizer)

    def adapt(self, pipe: Any) -> None:
        # The pipeline drops the template's system part by a token count (34) that is right for
        # Qwen's tokenizer only; with bytes it would keep ~120 system bytes, and truncation to
        # max_sequence_length would then leave no trace of the prompt at all.
        template = pipe.prompt_template_encode
        system_part = template[: template.index("{}")]
        pipe.prompt_template_encode_start_idx = len(pipe.tokenizer(system_part).input_ids)


RUNNER = QwenImage()
