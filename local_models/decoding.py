"""Latents to pictures, apart from the denoising: the back ends ask a pipeline for latents
(`output_type="latent"`) and decode them here, so an out-of-memory error in the VAE steps the memory
ladder down and decodes again instead of running every denoising step again. Each function does what
its pipeline does after its loop (diffusers 0.42); tests/test_backend_contract.py holds each to the
pipeline's own output. The SD 1.5 safety checker runs here too, and its verdict is read."""
from __future__ import annotations

import torch
from PIL import Image

from agent.core.errors import AtelierError


class SafetyFlagged(AtelierError):
    """The model's safety checker blanked a picture: it is not delivered (a black image would be judged)."""


def _vae_device(vae) -> torch.device:
    """Where the VAE's inputs go (under offload its weights sit on the CPU until its hook moves them)."""
    from diffusers.utils.torch_utils import get_module_execution_device

    return get_module_execution_device(vae)


def unet_latents(pipe, latents: torch.Tensor, name: str, upcast: bool = False) -> list[Image.Image]:
    """SD 1.5 / 2.1 / SDXL (and their img2img, inpaint, InstructPix2Pix): unscale, decode, check."""
    vae = pipe.vae
    if upcast and vae.dtype == torch.float16 and vae.config.force_upcast:  # SDXL's VAE overflows in fp16
        vae.to(torch.float32)
    latents = latents.to(_vae_device(vae), next(vae.post_quant_conv.parameters()).dtype
                         if getattr(vae, "post_quant_conv", None) is not None else vae.dtype)
    mean, std = getattr(vae.config, "latents_mean", None), getattr(vae.config, "latents_std", None)
    if mean is not None and std is not None:
        shape = (1, latents.shape[1], 1, 1)
        latents = latents * torch.tensor(std).view(shape).to(latents) / vae.config.scaling_factor \
            + torch.tensor(mean).view(shape).to(latents)
    else:
        latents = latents / vae.config.scaling_factor
    image = vae.decode(latents, return_dict=False)[0]
    if upcast and vae.dtype == torch.float32 and getattr(pipe, "unet", None) is not None \
            and pipe.unet.dtype == torch.float16:
        vae.to(torch.float16)
    check_safety(pipe, image, name)
    return pipe.image_processor.postprocess(image, output_type="pil")


def check_safety(pipe, image: torch.Tensor, name: str) -> None:
    """Raise SafetyFlagged when the pipeline's safety checker flags any picture (it blacks them out)."""
    if getattr(pipe, "safety_checker", None) is None:
        return
    dtype = next(pipe.safety_checker.parameters()).dtype
    _, flagged = pipe.run_safety_checker(image, image.device, dtype)
    if flagged is not None and any(flagged):
        which = [str(i + 1) for i, f in enumerate(flagged) if f]
        raise SafetyFlagged(f"{name}'s safety checker flagged {len(which)} of {len(flagged)} pictures "
                            f"(number {', '.join(which)}) as NSFW and blanked them; reword the prompt "
                            "(nothing was delivered)")


def flow_latents(pipe, latents: torch.Tensor, width: int, height: int) -> list[Image.Image]:
    """FLUX.1 (packed 2×2 patches, unpacked first) and SD3: unscale, unshift, decode."""
    vae = pipe.vae
    if latents.ndim == 3:  # Flux packs the latents into a sequence of patches
        latents = pipe._unpack_latents(latents, height, width, pipe.vae_scale_factor)
    latents = (latents / vae.config.scaling_factor + vae.config.shift_factor).to(_vae_device(vae), vae.dtype)
    image = vae.decode(latents, return_dict=False)[0]
    return pipe.image_processor.postprocess(image, output_type="pil")


def qwen_latents(pipe, latents: torch.Tensor, width: int, height: int) -> list[Image.Image]:
    """Qwen-Image: packed 2×2 patches of one frame of its 3-D VAE: unpack, unnormalise, decode the frame."""
    vae = pipe.vae
    latents = pipe._unpack_latents(latents, height, width, pipe.vae_scale_factor).to(_vae_device(vae), vae.dtype)
    shape = (1, vae.config.z_dim, 1, 1, 1)
    mean = torch.tensor(vae.config.latents_mean).view(shape).to(latents)
    std = torch.tensor(vae.config.latents_std).view(shape).to(latents)
    image = vae.decode(latents * std + mean, return_dict=False)[0][:, :, 0]
    return pipe.image_processor.postprocess(image, output_type="pil")


def cogvideox_latents(pipe, latents: torch.Tensor) -> list[list[Image.Image]]:
    latents = latents.to(_vae_device(pipe.vae), pipe.vae.dtype)
    return pipe.video_processor.postprocess_video(video=pipe.decode_latents(latents), output_type="pil")


def wan_latents(pipe, latents: torch.Tensor) -> list[list[Image.Image]]:
    vae = pipe.vae
    latents = latents.to(_vae_device(vae), vae.dtype)
    shape = (1, vae.config.z_dim, 1, 1, 1)
    mean = torch.tensor(vae.config.latents_mean).view(shape).to(latents)
    std = torch.tensor(vae.config.latents_std).view(shape).to(latents)
    video = vae.decode(latents * std + mean, return_dict=False)[0]
    return pipe.video_processor.postprocess_video(video, output_type="pil")


def svd_latents(pipe, latents: torch.Tensor, frames: int, chunk: int, dtype: torch.dtype) -> list[list[Image.Image]]:
    """SVD's temporal VAE decodes `chunk` frames at a time (its memory grows with the chunk), one video
    at a time: the pipeline flattens the batch's frames, so a chunk would mix two videos' frames."""
    vae = pipe.vae
    if vae.dtype != dtype:  # the pipeline upcast it to fp32 for encoding and casts back only when it decodes
        vae.to(dtype)
    latents = latents.to(_vae_device(vae), vae.dtype)
    video = torch.cat([pipe.decode_latents(latents[i:i + 1], frames, chunk) for i in range(len(latents))])
    return pipe.video_processor.postprocess_video(video=video, output_type="pil")


def ltx_latents(pipe, latents: torch.Tensor, kwargs: dict, noise: list[torch.Generator]) -> list[list[Image.Image]]:
    """LTX-Video: unpack the patch sequence, unnormalise; a VAE conditioned on the decode timestep gets it
    and the latents blended with noise from `noise` (the requests' generators as the denoising left them);
    decode."""
    from diffusers.utils.torch_utils import randn_tensor

    vae = pipe.vae
    frames = (kwargs["num_frames"] - 1) // pipe.vae_temporal_compression_ratio + 1
    height, width = (kwargs[k] // pipe.vae_spatial_compression_ratio for k in ("height", "width"))
    latents = pipe._unpack_latents(latents, frames, height, width, pipe.transformer_spatial_patch_size,
                                   pipe.transformer_temporal_patch_size)
    device = _vae_device(vae)
    latents = pipe._denormalize_latents(latents.to(device), vae.latents_mean, vae.latents_std,
                                        vae.config.scaling_factor).to(pipe.text_encoder.dtype)
    timestep = None
    if vae.config.timestep_conditioning:
        prompts = kwargs["prompt"] if isinstance(kwargs["prompt"], list) else [kwargs["prompt"]]
        drawn = randn_tensor(latents.shape, generator=noise, device=device, dtype=latents.dtype)
        at = kwargs.get("decode_timestep", 0.0)
        at = at if isinstance(at, list) else [at] * len(prompts)
        scale = kwargs.get("decode_noise_scale")
        scale = at if scale is None else scale if isinstance(scale, list) else [scale] * len(prompts)
        timestep = torch.tensor(at, device=device, dtype=latents.dtype)
        scale = torch.tensor(scale, device=device, dtype=latents.dtype)[:, None, None, None, None]
        latents = (1 - scale) * latents + scale * drawn
    video = vae.decode(latents.to(vae.dtype), timestep, return_dict=False)[0]
    return pipe.video_processor.postprocess_video(video, output_type="pil")
