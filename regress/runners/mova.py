"""MOVA-like (video + audio): a Wan video tower and a Wan-style audio tower denoised together,
decoded by a Wan VAE and a DAC audio VAE (transformers' ``DacModel``, ``Snake1d`` activations).

Why this family exists: the pull request regress was born from set MOVA's
``vae_precision = "bf16"`` and ``audio_vae_precision = "bf16"`` (was fp32). The fp32 line had
broken AMD CI with a HIP compile error inside ``Snake1d.forward``, and the fix was to change
the precision; so the audio VAE's dtype is both a numerics choice and a platform-failure
trigger, and it deserves a case where flipping it is caught with the component named.

Default precision, the seed's (MOVA's config): video VAE bf16, audio VAE bf16; the
transformers, bridge and text encoder bf16 as in the Wan family. (The Wan family keeps its VAE
fp32: the two tables differ on purpose, as the engines' do.)

The pipeline (:class:`~.mova_parts.MovaPipeline`) is WanPipeline with the audio tower stepped
in its loop; video and waveform land in one 'video+audio' output judged like LTX-2's. The DAC
decode is the 'audio_decode' stage (its input is cast to its own dtype, so
``--golden-precision audio_vae=fp32`` runs and is judged). The tiny audio path mirrors MOVA's
rates: 50 audio latents per second (8 kHz, the decoder upsamples by 160), so 9 frames at
16 fps make 0.5625 s of mono audio (4500 samples). The DAC decoder's convolutions are
re-drawn (:func:`audio_level`) so the waveform depends on the latents, not only on the
decoder's biases, and is not clipped by its final tanh.
"""

from __future__ import annotations

from types import MappingProxyType
from typing import Any

import torch

from ..suite import Case
from .diffusers_family import DiffusersFamily
from .tiny import tiny_t5
from .tokenizer import make_tokenizer

AUDIO_RATE = 8000
AUDIO_UPSAMPLING = (8, 5, 4)  # x160: 50 latents per second, MOVA's audio_fps
AUDIO_LATENT = 8


class Mova(DiffusersFamily):
    name = "mova"
    output_kind = "video+audio"
    pipeline_class = "MovaPipeline"
    default_precision = MappingProxyType({"transformer": "bf16", "audio_transformer": "bf16", "bridge": "bf16",
                                          "vae": "bf16", "audio_vae": "bf16", "text_encoder": "bf16"})
    default_fps = 16.0
    fps_kwarg = "frame_rate"
    audio_decoders = ("audio_vae",)
    # Compiled runs: both DiT towers, and the DAC decoder whose Snake1d activations failed to
    # compile on AMD (HIP: uint32_t undefined) in the pull request this family comes from.
    compiled_components = ("transformer", "audio_transformer", "audio_vae.decoder")
    tiny_defaults = MappingProxyType({"height": 16, "width": 16, "num_frames": 9, "frame_rate": 16.0,
                                      "guidance_scale": 6.0, "max_sequence_length": 16})

    def audio_of(self, result: Any) -> Any:
        return result.audio[0]

    def sample_rate(self, pipe: Any) -> int:
        return int(pipe.audio_vae.config.sampling_rate)

    def load_checkpoint(self, case: Case, table: Any) -> tuple[Any, str]:
        from ..errors import RunnerError

        raise RunnerError("'mova' has no diffusers checkpoint layout: use a tiny case or weights = \"random\"",
                          case=case.id, field="model")

    def build_tiny(self, case: Case) -> Any:
        import warnings

        from diffusers import AutoencoderKLWan, FlowMatchEulerDiscreteScheduler, WanTransformer3DModel
        from transformers import DacConfig, DacModel

        from .mova_parts import MovaBridge, MovaPipeline

        torch.manual_seed(0)
        vae = AutoencoderKLWan(base_dim=3, z_dim=16, dim_mult=[1, 1, 1, 1], num_res_blocks=1,
                               temperal_downsample=[False, True, True])
        torch.manual_seed(0)
        transformer = WanTransformer3DModel(patch_size=(1, 2, 2), num_attention_heads=2, attention_head_dim=12,
                                            in_channels=16, out_channels=16, text_dim=32, freq_dim=256,
                                            ffn_dim=32, num_layers=2, cross_attn_norm=True,
                                            qk_norm="rms_norm_across_heads", rope_max_seq_len=32)
        torch.manual_seed(0)
        # the audio tower: a Wan DiT over (B, C, L, 1, 1) audio latents, patch 1 (MOVA's audio DiT
        # is a Wan DiT over 1-D DAC latents)
        audio_transformer = WanTransformer3DModel(patch_size=(1, 1, 1), num_attention_heads=2, attention_head_dim=8,
                                                  in_channels=AUDIO_LATENT, out_channels=AUDIO_LATENT, text_dim=32,
                                                  freq_dim=256, ffn_dim=32, num_layers=2, cross_attn_norm=True,
                                                  qk_norm="rms_norm_across_heads", rope_max_seq_len=1024)
        torch.manual_seed(0)
        bridge = MovaBridge(video_channels=16, hidden_dim=32, cond_dim=32)
        torch.manual_seed(0)
        config = DacConfig(encoder_hidden_size=4, downsampling_ratios=list(reversed(AUDIO_UPSAMPLING)),
                           decoder_hidden_size=32, upsampling_ratios=list(AUDIO_UPSAMPLING), hidden_size=AUDIO_LATENT,
                           n_codebooks=2, codebook_size=16, codebook_dim=4, sampling_rate=AUDIO_RATE)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            audio_vae = DacModel(config).eval()
        audio_level(audio_vae.decoder)
        return MovaPipeline(tokenizer=make_tokenizer(512), text_encoder=tiny_t5(), vae=vae,
                            scheduler=FlowMatchEulerDiscreteScheduler(shift=7.0), transformer=transformer,
                            audio_transformer=audio_transformer, bridge=bridge, audio_vae=audio_vae)


def audio_level(decoder: torch.nn.Module) -> None:
    """Re-draw the tiny DAC decoder's convolutions so the waveform carries the latents.

    Why: with transformers' init (std 0.02) the decoder's output is mostly its biases; He's
    gain of sqrt(2) grows through the residual units until the final tanh clips 99% of the
    samples (a square wave: a golden blind to the latents). Unit gain with the last
    convolution scaled by 1/8 gives a waveform of RMS 0.22, peak 0.8, no clipping; another
    latent changes it completely (SNR 0.02 dB) and the decoder in bf16 instead of fp32 moves
    it to an SNR of 23 dB (measured on this decoder with a random latent)."""
    from .ltx2 import he_init

    he_init(decoder, seed=1, gain=1.0)
    with torch.no_grad():
        decoder.conv2.weight.mul_(0.125)


RUNNER = Mova()
