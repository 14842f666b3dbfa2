"""Tiny text encoders shared by the families' random-weight pipelines.

Seeded, two layers, over the byte tokenizer's vocabulary (:mod:`regress.runners.tokenizer`):
enough to exercise every stage of a real pipeline in milliseconds, nothing downloaded.
"""

from __future__ import annotations

from typing import Any

import torch


def tiny_t5(d_model: int = 32) -> Any:
    """A 2-layer T5 encoder over the byte tokenizer's vocabulary (Flux's second encoder, Wan's)."""
    from transformers import T5Config, T5EncoderModel

    from .tokenizer import VOCAB_SIZE

    torch.manual_seed(0)
    config = T5Config(vocab_size=VOCAB_SIZE, d_model=d_model, d_ff=37, d_kv=8, num_layers=2, num_heads=4,
                      relative_attention_num_buckets=8, dropout_rate=0.0)
    return T5EncoderModel(config).eval()


def tiny_clip(hidden: int = 32, projection: int = 32) -> Any:
    """A 2-layer CLIP text encoder over the byte tokenizer's vocabulary (Flux's pooled embedding)."""
    from transformers import CLIPTextConfig, CLIPTextModel

    from .tokenizer import VOCAB_SIZE

    torch.manual_seed(0)
    config = CLIPTextConfig(bos_token_id=2, eos_token_id=1, pad_token_id=0, hidden_size=hidden,
                            intermediate_size=37, num_attention_heads=4, num_hidden_layers=2,
                            vocab_size=VOCAB_SIZE, projection_dim=projection, max_position_embeddings=77)
    return CLIPTextModel(config).eval()
