"""LTX-2 (LTX2Pipeline): video and audio from one call, judged as one output.

Components: a Gemma-3 text encoder, text connectors (one stack per modality), an audio-video
DiT, a video VAE, an audio VAE (latents -> mel spectrogram) and a vocoder (mel -> waveform).
All bf16 by default, the reference engine's table after its bf16-VAE change, audio VAE and
vocoder included. The video and the waveform land in one :class:`~regress.outputs.Output`
('video+audio'), so a golden holds both tracks and both are compared: a change that only
moves the audio still fails the case.

Timing: ``vae.decode`` is 'decode'; the audio VAE's decode and the vocoder are
'audio_decode'. Their inputs are cast to their own dtype (the pipeline hands the audio VAE's
mel spectrogram to the vocoder as is), so a per-component override such as
``audio_vae=fp32`` runs and is judged rather than crashing on a dtype mismatch.

The tiny audio path is sized so that its numbers mean what they say: 8 kHz, a mel hop of 80
samples (100 mel frames per second, as in the real model) and a vocoder that upsamples by 80,
so the waveform's duration matches the video's (0.17 s of audio for 5 frames at 24 fps,
after the causal VAE's trim). Its convolutions are He-initialised (:func:`he_init`): with
PyTorch's default init the activations shrink layer by layer and the waveform was mostly the
vocoder's biases (another seed changed it only at an SNR of 44 dB); now another seed gives an
SNR of 14 dB and another prompt 27 dB, so the audio golden depends on what was generated.
"""

from __future__ import annotations

from types import MappingProxyType
from typing import Any

import math

import torch

from ..suite import Case
from .diffusers_family import DiffusersFamily
from .tokenizer import VOCAB_SIZE, make_tokenizer

AUDIO_RATE = 8000
MEL_HOP = 80
MEL_BINS = 8


class LTX2(DiffusersFamily):
    name = "ltx2"
    output_kind = "video+audio"
    pipeline_class = "LTX2Pipeline"
    default_precision = MappingProxyType({"transformer": "bf16", "vae": "bf16", "audio_vae": "bf16",
                                          "vocoder": "bf16", "connectors": "bf16", "text_encoder": "bf16"})
    default_fps = 24.0  # LTX2Pipeline's frame_rate default
    fps_kwarg = "frame_rate"
    audio_decoders = ("audio_vae", "vocoder")
    # The tiny transformer has 2 blocks: the real model's guidance extras (STG on block 28,
    # modality guidance, rescale) are switched off, leaving one plain conditional pass.
    tiny_defaults = MappingProxyType({
        "height": 32, "width": 32, "num_frames": 5, "frame_rate": 24.0, "guidance_scale": 1.0,
        "max_sequence_length": 32, "stg_scale": 0.0, "modality_scale": 1.0, "guidance_rescale": 0.0,
        "audio_guidance_scale": 1.0, "audio_stg_scale": 0.0, "audio_modality_scale": 1.0,
        "audio_guidance_rescale": 0.0, "spatio_temporal_guidance_blocks": None, "use_cross_timestep": False})

    def audio_of(self, result: Any) -> Any:
        return result.audio[0]

    def sample_rate(self, pipe: Any) -> int:
        return int(pipe.vocoder.config.output_sampling_rate)

    def build_tiny(self, case: Case) -> Any:
        from diffusers import (
            AutoencoderKLLTX2Audio,
            AutoencoderKLLTX2Video,
            FlowMatchEulerDiscreteScheduler,
            LTX2Pipeline,
            LTX2VideoTransformer3DModel,
        )
        from diffusers.pipelines.ltx2 import LTX2TextConnectors
        from diffusers.pipelines.ltx2.vocoder import LTX2Vocoder
        from transformers import Gemma3Config, Gemma3ForConditionalGeneration

        torch.manual_seed(0)
        text = {"vocab_size": VOCAB_SIZE, "hidden_size": 32, "intermediate_size": 32, "num_hidden_layers": 2,
                "num_attention_heads": 2, "num_key_value_heads": 1, "head_dim": 8, "sliding_window": 16,
                "max_position_embeddings": 256}
        vision = {"hidden_size": 16, "intermediate_size": 32, "num_hidden_layers": 1, "num_attention_heads": 2,
                  "image_size": 28, "patch_size": 14}
        config = Gemma3Config(text_config=text, vision_config=vision, mm_tokens_per_image=4,
                              boi_token_index=VOCAB_SIZE - 3, eoi_token_index=VOCAB_SIZE - 2,
                              image_token_index=VOCAB_SIZE - 1)
        text_encoder = Gemma3ForConditionalGeneration(config).eval()
        hidden, layers = text["hidden_size"], text["num_hidden_layers"]
        torch.manual_seed(0)
        transformer = LTX2VideoTransformer3DModel(
            in_channels=4, out_channels=4, patch_size=1, patch_size_t=1, num_attention_heads=2, attention_head_dim=8,
            cross_attention_dim=16, audio_in_channels=4, audio_out_channels=4, audio_num_attention_heads=2,
            audio_attention_head_dim=4, audio_cross_attention_dim=8, num_layers=2, qk_norm="rms_norm_across_heads",
            caption_channels=hidden, rope_double_precision=False, rope_type="split")
        torch.manual_seed(0)
        connectors = LTX2TextConnectors(
            caption_channels=hidden, text_proj_in_factor=layers + 1, video_connector_num_attention_heads=4,
            video_connector_attention_head_dim=8, video_connector_num_layers=1,
            video_connector_num_learnable_registers=None, audio_connector_num_attention_heads=4,
            audio_connector_attention_head_dim=8, audio_connector_num_layers=1,
            audio_connector_num_learnable_registers=None, connector_rope_base_seq_len=32, rope_theta=10000.0,
            rope_double_precision=False, causal_temporal_positioning=False, rope_type="split")
        torch.manual_seed(0)
        vae = AutoencoderKLLTX2Video(
            in_channels=3, out_channels=3, latent_channels=4, block_out_channels=(8,), decoder_block_out_channels=(8,),
            layers_per_block=(1,), decoder_layers_per_block=(1, 1), spatio_temporal_scaling=(True,),
            decoder_spatio_temporal_scaling=(True,), decoder_inject_noise=(False, False), downsample_type=("spatial",),
            upsample_residual=(False,), upsample_factor=(1,), timestep_conditioning=False, patch_size=1,
            patch_size_t=1, encoder_causal=True, decoder_causal=False)
        vae.use_framewise_encoding = vae.use_framewise_decoding = False
        torch.manual_seed(0)
        audio_vae = AutoencoderKLLTX2Audio(
            base_channels=4, output_channels=2, ch_mult=(1,), num_res_blocks=1, attn_resolutions=None, in_channels=2,
            resolution=32, latent_channels=2, norm_type="pixel", causality_axis="height", dropout=0.0,
            mid_block_add_attention=False, sample_rate=AUDIO_RATE, mel_hop_length=MEL_HOP, is_causal=True,
            mel_bins=MEL_BINS)
        torch.manual_seed(0)
        # upsample 8 * 10 = MEL_HOP: one mel frame becomes one hop of samples
        vocoder = LTX2Vocoder(in_channels=2 * MEL_BINS, hidden_channels=32, out_channels=2,
                              upsample_kernel_sizes=[16, 20], upsample_factors=[8, 10], resnet_kernel_sizes=[3],
                              resnet_dilations=[[1, 3, 5]], leaky_relu_negative_slope=0.1,
                              output_sampling_rate=AUDIO_RATE)
        he_init(audio_vae.decoder, seed=1)
        he_init(vocoder, seed=2)
        return LTX2Pipeline(transformer=transformer, vae=vae, audio_vae=audio_vae,
                            scheduler=FlowMatchEulerDiscreteScheduler(), text_encoder=text_encoder,
                            tokenizer=make_tokenizer(1024), connectors=connectors, vocoder=vocoder, processor=None,
                            prompt_enhancer=None, duration_head=None)


def he_init(module: torch.nn.Module, *, seed: int, gain: float = math.sqrt(2.0)) -> None:
    """Re-draw every convolution weight of ``module`` from N(0, gain^2 / fan_in), fan_in =
    input channels x kernel taps (per group), from a private generator so the result depends
    on ``seed`` only. (For a strided transposed convolution that overstates the taps one output
    sees, which keeps the vocoder's output below its clipping level.)"""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in module.modules():
            if isinstance(m, (torch.nn.Conv1d, torch.nn.Conv2d)):
                fan_in = m.weight[0].numel()
            elif isinstance(m, torch.nn.ConvTranspose1d):
                fan_in = m.weight.shape[0] * m.weight.shape[2]
            else:
                continue
            m.weight.normal_(0.0, gain / math.sqrt(fan_in), generator=generator)


RUNNER = LTX2()
