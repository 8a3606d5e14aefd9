"""Tiny pipelines of every local family, built in code from seeded random components (as diffusers'
own tests build them; nothing from the hub), with tokenizers made from a small vocabulary. The
tests and the benchmark run the real back-end code paths on them; their pictures are noise."""
from __future__ import annotations

import string
from dataclasses import replace
from pathlib import Path

import torch
from transformers import (CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection, CLIPTokenizer, T5Config,
                          T5EncoderModel, T5TokenizerFast)

import diffusers as d
from local_models.specs import SPECS, ModelSpec


def clip_tokenizer() -> CLIPTokenizer:
    vocab = {"<|startoftext|>": 0, "<|endoftext|>": 1}
    for c in string.ascii_lowercase + string.digits + ".,!?'-":
        vocab[c] = len(vocab)
        vocab[c + "</w>"] = len(vocab)
    return CLIPTokenizer(vocab=vocab, merges=[], model_max_length=77)


def t5_tokenizer() -> T5TokenizerFast:
    pieces = [("<pad>", 0.0), ("</s>", 0.0), ("<unk>", 0.0), ("▁", -1.0)]
    pieces += [(c, -2.0) for c in string.ascii_lowercase + string.digits + ".,!?'-"]
    return T5TokenizerFast(vocab=pieces, extra_ids=0)


def clip_text(seed: int = 0, projection: bool = False, hidden: int = 32):
    torch.manual_seed(seed)
    config = CLIPTextConfig(bos_token_id=0, eos_token_id=1, pad_token_id=1, hidden_size=hidden, intermediate_size=37,
                            num_attention_heads=4, num_hidden_layers=2, vocab_size=100, projection_dim=32,
                            hidden_act="gelu")
    return (CLIPTextModelWithProjection if projection else CLIPTextModel)(config).eval()


def t5_text(seed: int = 0):
    torch.manual_seed(seed)
    config = T5Config(vocab_size=64, d_model=32, d_kv=8, d_ff=37, num_layers=2, num_heads=4,
                      relative_attention_num_buckets=8, decoder_start_token_id=0, pad_token_id=0, eos_token_id=1)
    return T5EncoderModel(config).eval()


def vae(latent_channels: int = 4, flow: bool = False):
    torch.manual_seed(0)
    if flow:  # Flux / SD3 style: one block (no downsampling), no quant convs, shift and scale
        return d.AutoencoderKL(block_out_channels=(4,), layers_per_block=1, latent_channels=latent_channels,
                               norm_num_groups=1, use_quant_conv=False, use_post_quant_conv=False,
                               shift_factor=0.0609, scaling_factor=1.5035, sample_size=32)
    return d.AutoencoderKL(block_out_channels=(4, 8), down_block_types=("DownEncoderBlock2D",) * 2,
                           up_block_types=("UpDecoderBlock2D",) * 2, latent_channels=latent_channels,
                           norm_num_groups=2, sample_size=32)


def unet(in_channels: int = 4):
    torch.manual_seed(0)
    return d.UNet2DConditionModel(block_out_channels=(4, 8), layers_per_block=1, sample_size=16,
                                  in_channels=in_channels, out_channels=4, cross_attention_dim=32,
                                  down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
                                  up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"), norm_num_groups=2)


def sd(instruct: bool = False):
    cls = d.StableDiffusionInstructPix2PixPipeline if instruct else d.StableDiffusionPipeline
    return cls(unet=unet(8 if instruct else 4), vae=vae(), text_encoder=clip_text(), tokenizer=clip_tokenizer(),
               scheduler=d.EulerDiscreteScheduler(timestep_spacing="trailing", steps_offset=1), safety_checker=None,
               feature_extractor=None, requires_safety_checker=False)


def sdxl_unet(refiner: bool = False):
    torch.manual_seed(0)
    return d.UNet2DConditionModel(
        block_out_channels=(4, 8), layers_per_block=1, sample_size=16, in_channels=4, out_channels=4,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"), up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
        attention_head_dim=(2, 4), use_linear_projection=True, addition_embed_type="text_time",
        addition_time_embed_dim=8, transformer_layers_per_block=(1, 1), norm_num_groups=2,
        projection_class_embeddings_input_dim=(5 if refiner else 6) * 8 + 32, cross_attention_dim=32 if refiner else 64)


def sdxl():
    return d.StableDiffusionXLPipeline(
        unet=sdxl_unet(), vae=vae(), text_encoder=clip_text(), text_encoder_2=clip_text(1, projection=True),
        tokenizer=clip_tokenizer(), tokenizer_2=clip_tokenizer(), scheduler=d.EulerDiscreteScheduler())


def sdxl_refiner(base):
    return d.StableDiffusionXLImg2ImgPipeline(
        unet=sdxl_unet(refiner=True), vae=base.vae, text_encoder=None, text_encoder_2=base.text_encoder_2,
        tokenizer=None, tokenizer_2=base.tokenizer_2, scheduler=d.EulerDiscreteScheduler(),
        requires_aesthetics_score=True, force_zeros_for_empty_prompt=False)


def flux():
    torch.manual_seed(0)
    transformer = d.FluxTransformer2DModel(patch_size=1, in_channels=4, num_layers=1, num_single_layers=1,
                                           attention_head_dim=16, num_attention_heads=2, joint_attention_dim=32,
                                           pooled_projection_dim=32, axes_dims_rope=[4, 4, 8])
    return d.FluxPipeline(transformer=transformer, vae=vae(1, flow=True), text_encoder=clip_text(projection=False),
                          tokenizer=clip_tokenizer(), text_encoder_2=t5_text(), tokenizer_2=t5_tokenizer(),
                          scheduler=d.FlowMatchEulerDiscreteScheduler())


def sd3():
    torch.manual_seed(0)
    transformer = d.SD3Transformer2DModel(sample_size=32, patch_size=1, in_channels=16, num_layers=1,
                                          attention_head_dim=8, num_attention_heads=4, caption_projection_dim=32,
                                          joint_attention_dim=32, pooled_projection_dim=64, out_channels=16)
    return d.StableDiffusion3Pipeline(
        transformer=transformer, vae=vae(16, flow=True), text_encoder=clip_text(0, projection=True),
        text_encoder_2=clip_text(1, projection=True), text_encoder_3=t5_text(), tokenizer=clip_tokenizer(),
        tokenizer_2=clip_tokenizer(), tokenizer_3=t5_tokenizer(), scheduler=d.FlowMatchEulerDiscreteScheduler())


def svd():
    from transformers import CLIPImageProcessor, CLIPVisionConfig, CLIPVisionModelWithProjection

    torch.manual_seed(0)
    unet = d.UNetSpatioTemporalConditionModel(
        block_out_channels=(32, 64), layers_per_block=1, sample_size=16, in_channels=8, out_channels=4,
        down_block_types=("CrossAttnDownBlockSpatioTemporal", "DownBlockSpatioTemporal"),
        up_block_types=("UpBlockSpatioTemporal", "CrossAttnUpBlockSpatioTemporal"), cross_attention_dim=32,
        num_attention_heads=2, projection_class_embeddings_input_dim=3 * 8, addition_time_embed_dim=8)
    torch.manual_seed(0)
    vae = d.AutoencoderKLTemporalDecoder(block_out_channels=(32, 64), in_channels=3, out_channels=3,
                                         down_block_types=("DownEncoderBlock2D",) * 2, latent_channels=4,
                                         layers_per_block=1)
    torch.manual_seed(0)
    encoder = CLIPVisionModelWithProjection(CLIPVisionConfig(
        hidden_size=32, projection_dim=32, num_hidden_layers=2, num_attention_heads=4, image_size=224,
        intermediate_size=37, patch_size=32)).eval()
    scheduler = d.EulerDiscreteScheduler(beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear",
                                         interpolation_type="linear", prediction_type="v_prediction",
                                         sigma_max=700.0, sigma_min=0.002, steps_offset=1, timestep_spacing="leading",
                                         timestep_type="continuous", use_karras_sigmas=True)
    return d.StableVideoDiffusionPipeline(vae=vae, image_encoder=encoder, unet=unet, scheduler=scheduler,
                                          feature_extractor=CLIPImageProcessor(crop_size=224, size=224))


def cogvideox():
    torch.manual_seed(0)
    transformer = d.CogVideoXTransformer3DModel(
        num_attention_heads=4, attention_head_dim=8, in_channels=4, out_channels=4, time_embed_dim=2,
        text_embed_dim=32, num_layers=1, sample_width=2, sample_height=2, sample_frames=9, patch_size=2,
        temporal_compression_ratio=4, max_text_seq_length=16)
    torch.manual_seed(0)
    vae = d.AutoencoderKLCogVideoX(in_channels=3, out_channels=3, down_block_types=("CogVideoXDownBlock3D",) * 4,
                                   up_block_types=("CogVideoXUpBlock3D",) * 4, block_out_channels=(8, 8, 8, 8),
                                   latent_channels=4, layers_per_block=1, norm_num_groups=2,
                                   temporal_compression_ratio=4)
    return d.CogVideoXPipeline(tokenizer=t5_tokenizer(), text_encoder=t5_text(), vae=vae, transformer=transformer,
                               scheduler=d.CogVideoXDDIMScheduler())


def wan_parts():
    """Wan's tokenizer, text encoder, VAE and sampler (2.1 and 2.2 share them)."""
    torch.manual_seed(0)
    vae = d.AutoencoderKLWan(base_dim=3, z_dim=16, dim_mult=[1, 1, 1, 1], num_res_blocks=1,
                             temperal_downsample=[False, True, True])
    scheduler = d.UniPCMultistepScheduler(prediction_type="flow_prediction", use_flow_sigmas=True, flow_shift=3.0)
    return t5_tokenizer(), t5_text(), vae, scheduler


def wan():
    tokenizer, text_encoder, vae, scheduler = wan_parts()
    torch.manual_seed(0)
    transformer = d.WanTransformer3DModel(patch_size=(1, 2, 2), num_attention_heads=2, attention_head_dim=12,
                                          in_channels=16, out_channels=16, text_dim=32, freq_dim=256, ffn_dim=32,
                                          num_layers=2, cross_attn_norm=True, qk_norm="rms_norm_across_heads",
                                          rope_max_seq_len=32)
    return d.WanPipeline(tokenizer=tokenizer, text_encoder=text_encoder, vae=vae, transformer=transformer,
                         scheduler=scheduler)


# name of a tiny model -> (the real model it stands for, builder, spec changes)
TINY = {
    "sd": ("sd-turbo", sd, dict(sizes=((32, 32), (48, 32)), steps=2, multiple=8)),
    "instruct-pix2pix": ("instruct-pix2pix", lambda: sd(instruct=True), dict(sizes=((32, 32),), steps=2)),
    "sdxl": ("sdxl", sdxl, dict(sizes=((32, 32), (48, 32)), steps=2, guidance=5.0)),
    "flux": ("flux-schnell", flux, dict(sizes=((32, 32), (48, 32)), steps=2, options={"max_sequence_length": 16})),
    "sd3": ("sd3-medium", sd3, dict(sizes=((32, 32), (48, 32)), steps=2, options={"max_sequence_length": 16})),
    "svd": ("svd", svd, dict(sizes=((32, 32),), steps=2, frames=3, max_frames=4,
                             options={"motion_bucket_id": 127, "noise_aug_strength": 0.02})),
    "cogvideox": ("cogvideox-2b", cogvideox, dict(sizes=((16, 16),), steps=2, frames=9, max_frames=9,
                                                   options={"max_sequence_length": 16})),
    "wan": ("wan-1.3b", wan, dict(sizes=((16, 16),), steps=2, frames=5, max_frames=9,
                                  options={"max_sequence_length": 16})),
}


def families() -> dict:
    """Every tiny family: these and the newer ones (tiny_recent.py)."""
    from local_models.tiny_recent import RECENT

    return {**TINY, **RECENT}


def tiny_spec(family: str, repo: str | Path = "") -> ModelSpec:
    """The real model's spec with a tiny menu, few steps and `repo` pointing at a folder."""
    real, _, changes = families()[family]
    return replace(SPECS[real], name=f"tiny-{family}", repo=str(repo) or SPECS[real].repo, **changes)


def build(family: str):
    pipe = families()[family][1]()
    pipe.set_progress_bar_config(disable=True)
    return pipe


def backend(family: str, *, repo: str | Path = "", pipeline=None):
    """The real back end class of `family`, on a tiny spec, with a tiny pipeline given (or loaded from `repo`)."""
    import importlib

    from local_models.catalog import IMAGE_MODELS, VIDEO_MODELS

    real = families()[family][0]
    module, _, cls = {**IMAGE_MODELS, **VIDEO_MODELS}[real].partition(":")
    spec = tiny_spec(family, repo)
    if not repo and pipeline is None:
        pipeline = build(family)
    return getattr(importlib.import_module(module), cls)(spec.name, spec=spec, pipeline=pipeline)


def controlnet():
    torch.manual_seed(0)
    return d.ControlNetModel(block_out_channels=(4, 8), layers_per_block=1, in_channels=4, cross_attention_dim=32,
                             down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
                             conditioning_embedding_out_channels=(16, 32), norm_num_groups=2)


def lora(pipe, folder: Path, seed: int = 0) -> Path:
    """A random (non-zero) LoRA on `pipe`'s UNet, saved as a .safetensors file; `pipe` is left unchanged."""
    from peft import LoraConfig
    from peft.utils import get_peft_model_state_dict

    from diffusers.utils import convert_state_dict_to_diffusers

    torch.manual_seed(seed)
    unet = type(pipe.unet).from_config(pipe.unet.config)
    unet.add_adapter(LoraConfig(r=4, lora_alpha=4, init_lora_weights=False,
                                target_modules=["to_q", "to_k", "to_v", "to_out.0"]))
    layers = convert_state_dict_to_diffusers(get_peft_model_state_dict(unet))
    type(pipe).save_lora_weights(str(folder), unet_lora_layers=layers, weight_name=f"lora{seed}.safetensors")
    return Path(folder) / f"lora{seed}.safetensors"


def ip_adapter(unet, folder: Path, subfolder: str = "models", weight_name: str = "ip.safetensors") -> Path:
    """A random IP-Adapter for `unet` in h94/IP-Adapter's layout: `subfolder/weight_name` + `image_encoder/`."""
    from safetensors.torch import save_file
    from transformers import CLIPVisionConfig, CLIPVisionModelWithProjection

    torch.manual_seed(0)
    embed, cross, tokens = 32, unet.config.cross_attention_dim, 4
    weights = {"image_proj.proj.weight": torch.randn(cross * tokens, embed) * 0.1,
               "image_proj.proj.bias": torch.zeros(cross * tokens),
               "image_proj.norm.weight": torch.ones(cross), "image_proj.norm.bias": torch.zeros(cross)}
    channels = unet.config.block_out_channels
    key = 1
    for name in unet.attn_processors:
        if name.endswith("attn1.processor"):
            continue
        if name.startswith("mid_block"):
            hidden = channels[-1]
        elif name.startswith("up_blocks"):
            hidden = list(reversed(channels))[int(name.split(".")[1])]
        else:
            hidden = channels[int(name.split(".")[1])]
        for kv in ("k", "v"):
            weights[f"ip_adapter.{key}.to_{kv}_ip.weight"] = torch.randn(hidden, cross) * 0.1
        key += 2
    (Path(folder) / subfolder).mkdir(parents=True, exist_ok=True)
    save_file(weights, str(Path(folder) / subfolder / weight_name))
    torch.manual_seed(0)
    CLIPVisionModelWithProjection(CLIPVisionConfig(
        hidden_size=32, projection_dim=embed, num_hidden_layers=2, num_attention_heads=4, image_size=224,
        intermediate_size=37, patch_size=32)).save_pretrained(Path(folder) / subfolder / "image_encoder")
    return Path(folder)


def safety_checker(flag_all: bool = True):
    """A tiny SD safety checker (and its image processor) whose thresholds flag every picture, or none."""
    from transformers import CLIPConfig, CLIPImageProcessor

    from diffusers.pipelines.stable_diffusion.safety_checker import StableDiffusionSafetyChecker

    torch.manual_seed(0)
    config = CLIPConfig(text_config={"hidden_size": 32, "intermediate_size": 37, "num_attention_heads": 4,
                                     "num_hidden_layers": 1, "vocab_size": 100},
                        vision_config={"hidden_size": 32, "intermediate_size": 37, "num_attention_heads": 4,
                                       "num_hidden_layers": 1, "image_size": 32, "patch_size": 8},
                        projection_dim=32)
    checker = StableDiffusionSafetyChecker(config).eval()
    with torch.no_grad():
        checker.concept_embeds_weights.fill_(-10.0 if flag_all else 10.0)
        checker.special_care_embeds_weights.fill_(10.0)
    return checker, CLIPImageProcessor(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32})
