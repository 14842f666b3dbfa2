"""An offline tokenizer for the tiny pipelines.

Tiny pipelines are built from configs with random weights and nothing may be downloaded, so
their tokenizers cannot come from the Hub either. A byte-level BPE with no merges needs no
files: each of the 256 bytes is one token, plus the special tokens the pipelines look for
(pad, eos, bos, unk and the chat markers Qwen-style encoders use). The vocabulary is fixed,
so token ids — and hence goldens — do not depend on anything outside this module.
"""

from __future__ import annotations

from typing import Any

SPECIAL_TOKENS: tuple[str, ...] = ("<pad>", "</s>", "<s>", "<unk>", "<|im_start|>", "<|im_end|>", "<|endoftext|>")
VOCAB_SIZE = len(SPECIAL_TOKENS) + 256  # 263: text encoders' vocab_size must cover it

# Qwen-Image's encode_prompt formats the prompt itself; a chat template is still set so that
# pipelines which call apply_chat_template (LTX2, Z-Image) work with the same tokenizer.
_CHAT_TEMPLATE = (
    "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)


def make_tokenizer(model_max_length: int = 77, add_eos: bool = True, chat_template: bool = True) -> Any:
    """A ``PreTrainedTokenizerFast`` over bytes, built in memory.

    ``model_max_length`` matters: pipelines pad to it (CLIP 77, T5 512, ...).
    ``add_eos`` appends ``</s>`` like T5/CLIP tokenizers do; decoder-only encoders (Qwen)
    expect no eos, so their families pass False.
    """
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast
    from transformers.convert_slow_tokenizer import bytes_to_unicode

    vocab: dict[str, int] = {tok: i for i, tok in enumerate(SPECIAL_TOKENS)}
    for symbol in bytes_to_unicode().values():  # 256 printable stand-ins for the bytes
        vocab[symbol] = len(vocab)
    core = Tokenizer(models.BPE(vocab=vocab, merges=[], unk_token="<unk>"))
    core.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    core.decoder = decoders.ByteLevel()
    if add_eos:
        eos = ("</s>", vocab["</s>"])
        core.post_processor = processors.TemplateProcessing(single="$A </s>", pair="$A </s> $B </s>",
                                                            special_tokens=[eos])
    tok = PreTrainedTokenizerFast(tokenizer_object=core, pad_token="<pad>", eos_token="</s>", bos_token="<s>",
                                  unk_token="<unk>", model_max_length=model_max_length,
                                  additional_special_tokens=list(SPECIAL_TOKENS[4:]))
    if chat_template:
        tok.chat_template = _CHAT_TEMPLATE
    return tok
