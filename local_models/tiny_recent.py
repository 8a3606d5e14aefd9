"""Tiny pipelines of the newer families (SD3.5, FLUX.1 Fill and Kontext, Qwen-Image and its Edit, Wan 2.2, LTX-Video),
built in code from seeded random components as diffusers' own tests build them (nothing from the hub).
tiny_pipelines.TINY takes these in; the contract saves each to a folder and loads it from there."""
from __future__ import annotations

import torch

import diffusers as d
from local_models.tiny_pipelines import clip_text, clip_tokenizer, sd3, t5_text, t5_tokenizer, vae, wan_parts


def _flux_transformer(in_channels: int, out_channels: int):
    torch.manual_seed(0)
    return d.FluxTransformer2DModel(patch_size=1, in_channels=in_channels, out_channels=out_channels, num_layers=1,
                                    num_single_layers=1, attention_head_dim=16, num_attention_heads=2,
                                    joint_attention_dim=32, pooled_projection_dim=32, axes_dims_rope=[4, 4, 8])


def flux_fill():
    """Packed latents (2 channels × 4), the masked picture's (8) and the mask's (4) go in: 20 channels."""
    return d.FluxFillPipeline(transformer=_flux_transformer(20, 8), vae=vae(2, flow=True), text_encoder=clip_text(),
                              tokenizer=clip_tokenizer(), text_encoder_2=t5_text(), tokenizer_2=t5_tokenizer(),
                              scheduler=d.FlowMatchEulerDiscreteScheduler())


def flux_kontext():
    return d.FluxKontextPipeline(transformer=_flux_transformer(4, 4), vae=vae(1, flow=True), text_encoder=clip_text(),
                                 tokenizer=clip_tokenizer(), text_encoder_2=t5_text(), tokenizer_2=t5_tokenizer(),
                                 scheduler=d.FlowMatchEulerDiscreteScheduler(), image_encoder=None,
                                 feature_extractor=None)


def qwen_tokenizer():
    """A byte-level BPE with no merges (one token a byte) and Qwen's chat and vision markers, as Qwen2TokenizerFast."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    from transformers import Qwen2TokenizerFast

    vocab = {c: i for i, c in enumerate(sorted(pre_tokenizers.ByteLevel.alphabet()))}
    tok = Tokenizer(models.BPE(vocab=vocab, merges=[]))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    return Qwen2TokenizerFast(tokenizer_object=tok, eos_token="<|im_end|>", pad_token="<|endoftext|>",
                              additional_special_tokens=["<|im_start|>", *VISION_TOKENS])


VISION_TOKENS = ["<|vision_start|>", "<|image_pad|>", "<|video_pad|>", "<|vision_end|>"]


def qwen_image(edit: bool = False):
    from transformers import Qwen2_5_VLConfig, Qwen2_5_VLForConditionalGeneration

    torch.manual_seed(0)
    transformer = d.QwenImageTransformer2DModel(patch_size=2, in_channels=16, out_channels=4, num_layers=2,
                                                attention_head_dim=16, num_attention_heads=3, joint_attention_dim=16,
                                                guidance_embeds=False, axes_dims_rope=(8, 4, 4))
    torch.manual_seed(0)
    qwen_vae = d.AutoencoderKLQwenImage(base_dim=24, z_dim=4, dim_mult=[1, 2, 4], num_res_blocks=1,
                                        temperal_downsample=[False, True], latents_mean=[0.0] * 4,
                                        latents_std=[1.0] * 4)
    torch.manual_seed(0)
    config = Qwen2_5_VLConfig(
        text_config={"hidden_size": 16, "intermediate_size": 16, "num_hidden_layers": 2, "num_attention_heads": 2,
                     "num_key_value_heads": 2, "rope_theta": 1000000.0, "vocab_size": 300,
                     "bos_token_id": 0, "eos_token_id": 0,
                     "rope_scaling": {"mrope_section": [1, 1, 2], "rope_type": "default", "type": "default"}},
        vision_config={"depth": 2, "hidden_size": 16, "intermediate_size": 16, "num_heads": 2, "out_hidden_size": 16},
        hidden_size=16, vocab_size=300, bos_token_id=0, eos_token_id=0,
        **dict(zip(("vision_start_token_id", "image_token_id", "video_token_id", "vision_end_token_id"),
                   qwen_tokenizer().convert_tokens_to_ids(VISION_TOKENS))))
    text_encoder = Qwen2_5_VLForConditionalGeneration(config).eval()
    if edit:
        return d.QwenImageEditPipeline(transformer=transformer, vae=qwen_vae, text_encoder=text_encoder,
                                       tokenizer=qwen_tokenizer(), processor=qwen_processor(),
                                       scheduler=d.FlowMatchEulerDiscreteScheduler())
    return d.QwenImagePipeline(transformer=transformer, vae=qwen_vae, text_encoder=text_encoder,
                               tokenizer=qwen_tokenizer(), scheduler=d.FlowMatchEulerDiscreteScheduler())


def qwen_processor():
    """Qwen2-VL's processor, sized to the tiny vision tower (patches of 14, merged 2×2). transformers builds
    its video processor with torchvision: where none is installed, the processor the product loads then
    (qwen_processor.py: the same, without the video half)."""
    import importlib.util

    pixels = {"min_pixels": 28 * 28, "max_pixels": 56 * 56}
    if importlib.util.find_spec("torchvision") is None:
        from transformers import Qwen2VLImageProcessorPil

        from local_models.qwen_processor import Qwen2VLImageProcessorOnly

        return Qwen2VLImageProcessorOnly(image_processor=Qwen2VLImageProcessorPil(**pixels), tokenizer=qwen_tokenizer())
    from transformers import Qwen2VLImageProcessor, Qwen2VLProcessor, Qwen2VLVideoProcessor

    return Qwen2VLProcessor(image_processor=Qwen2VLImageProcessor(**pixels), tokenizer=qwen_tokenizer(),
                            video_processor=Qwen2VLVideoProcessor(**pixels))


def wan22(image: bool = False):
    """Wan 2.2 A14B's layout: two experts, `transformer` (high noise) and `transformer_2` (low noise),
    handed over at `boundary_ratio`; image to video feeds the image's latents and mask in (36 channels)."""
    tokenizer, text_encoder, wan_vae, scheduler = wan_parts()
    experts = []
    for seed in (0, 1):
        torch.manual_seed(seed)
        experts.append(d.WanTransformer3DModel(
            patch_size=(1, 2, 2), num_attention_heads=2, attention_head_dim=12, in_channels=36 if image else 16,
            out_channels=16, text_dim=32, freq_dim=256, ffn_dim=32, num_layers=2, cross_attn_norm=True,
            qk_norm="rms_norm_across_heads", rope_max_seq_len=32))
    common = dict(tokenizer=tokenizer, text_encoder=text_encoder, vae=wan_vae, scheduler=scheduler,
                  transformer=experts[0], transformer_2=experts[1])
    if image:
        return d.WanImageToVideoPipeline(**common, image_encoder=None, image_processor=None, boundary_ratio=0.9)
    return d.WanPipeline(**common, boundary_ratio=0.875)


def ltx(timestep_conditioning: bool = False):
    """LTX-Video; `timestep_conditioning`: 0.9.1's VAE, which decodes at a timestep with noise blended in."""
    torch.manual_seed(0)
    transformer = d.LTXVideoTransformer3DModel(in_channels=8, out_channels=8, patch_size=1, patch_size_t=1,
                                               num_attention_heads=4, attention_head_dim=8, cross_attention_dim=32,
                                               num_layers=1, caption_channels=32)
    torch.manual_seed(0)
    ltx_vae = d.AutoencoderKLLTXVideo(
        in_channels=3, out_channels=3, latent_channels=8, block_out_channels=(8, 8, 8, 8),
        decoder_block_out_channels=(8, 8, 8, 8), layers_per_block=(1, 1, 1, 1, 1),
        decoder_layers_per_block=(1, 1, 1, 1, 1), spatio_temporal_scaling=(True, True, False, False),
        decoder_spatio_temporal_scaling=(True, True, False, False), decoder_inject_noise=(False,) * 5,
        upsample_residual=(False,) * 4, upsample_factor=(1,) * 4, timestep_conditioning=timestep_conditioning,
        patch_size=1, patch_size_t=1, encoder_causal=True, decoder_causal=False)
    return d.LTXPipeline(transformer=transformer, vae=ltx_vae, text_encoder=t5_text(), tokenizer=t5_tokenizer(),
                         scheduler=d.FlowMatchEulerDiscreteScheduler())


_SIZES = dict(sizes=((32, 32), (48, 32)), steps=2, options={"max_sequence_length": 16})
_VIDEO = dict(sizes=((16, 16),), steps=2, frames=5, max_frames=9, options={"max_sequence_length": 16})
# name of a tiny model -> (the real model it stands for, builder, spec changes)
RECENT = {
    "sd3.5": ("sd3.5-large", sd3, _SIZES),
    "flux-fill": ("flux-fill", flux_fill, _SIZES),
    "flux-kontext": ("flux-kontext", flux_kontext, _SIZES),
    "qwen-image": ("qwen-image", qwen_image, _SIZES),
    "qwen-image-edit": ("qwen-image-edit", lambda: qwen_image(edit=True), _SIZES),
    "wan2.2-t2v": ("wan2.2-t2v", wan22, {**_VIDEO, "options": {"max_sequence_length": 16, "guidance_scale_2": 3.0}}),
    "wan2.2-i2v": ("wan2.2-i2v", lambda: wan22(image=True), _VIDEO),
    # the tiny VAE compresses 4× in time (the real one 8×): 4·k+1 frames; LTXPipeline takes only sizes
    # divisible by 32
    "ltx": ("ltx-video", ltx, {**_VIDEO, "sizes": ((32, 32),), "frame_step": 4, "fps": 24}),
}
