"""Device, dtype and the memory ladder of the local diffusers back ends: which device and precision a
model runs in, how much of it stays on the GPU, and the out-of-memory error once nothing fits."""
from __future__ import annotations

import os

import torch

from agent.core.errors import AtelierError
from local_models.specs import ModelSpec


class OutOfMemory(AtelierError):
    """The model did not fit even after a retry with lower memory settings."""


# ---- device, dtype, memory --------------------------------------------------------------------
# Attention slicing is not a level: it slows PyTorch's SDPA attention (which already saves the
# memory slicing would) and diffusers warns against combining them.
MEMORY_LEVELS = ("all on device", "VAE tiling / chunked decoding", "model CPU offload",
                 "sequential CPU offload")


def pick_device() -> torch.device:
    if os.environ.get("ATELIER_DEVICE"):
        return torch.device(os.environ["ATELIER_DEVICE"])
    if torch.cuda.is_available():
        return torch.device("cuda")
    if torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def pick_dtype(spec: ModelSpec, device: torch.device) -> torch.dtype:
    if device.type == "cpu":
        return torch.float32
    if spec.dtype == "bf16" and (device.type != "cuda" or torch.cuda.is_bf16_supported()):
        return torch.bfloat16
    return torch.float16


def pick_memory(spec: ModelSpec, device: torch.device) -> int:
    """An index into MEMORY_LEVELS: offload only when the free GPU memory is short of the model's need."""
    if os.environ.get("ATELIER_MEMORY"):
        return int(os.environ["ATELIER_MEMORY"])
    if device.type != "cuda":
        return 0
    free_gb = torch.cuda.mem_get_info(device)[0] / 2**30
    return 0 if free_gb > 1.2 * spec.vram_gb else 1 if free_gb > spec.vram_gb else 2 if free_gb > 0.3 * spec.vram_gb else 3


def apply_memory(pipe, level: int, device: torch.device) -> None:
    """Put `pipe` at memory level `level` (an index into MEMORY_LEVELS), using only what its
    components support: SVD's temporal VAE has no tiling (enable_tiling raises there), so it gets
    forward chunking in its UNet and a smaller decode_chunk_size (svd.py) instead."""
    if level >= 1:
        vae = getattr(pipe, "vae", None)
        for method, flag in (("enable_tiling", "use_tiling"), ("enable_slicing", "use_slicing")):
            if hasattr(vae, method) and hasattr(vae, flag):  # AutoencoderMixin raises without the flag
                getattr(vae, method)()
        unet = getattr(pipe, "unet", None)
        if unet is not None and hasattr(unet, "enable_forward_chunking") and getattr(unet, "config", {}).get("num_frames"):
            unet.enable_forward_chunking()  # the temporal UNet's feed-forward, frame chunk by chunk
    if level == 2:
        pipe.enable_model_cpu_offload(device=device)
    elif level == 3:
        pipe.remove_all_hooks()  # from an earlier model offload
        pipe.enable_sequential_cpu_offload(device=device)
    elif pipe.device != device:
        pipe.to(device)


