"""Device, dtype and the memory ladder of the local diffusers back ends: which device and precision a
model runs in, how much of it stays on the GPU, and the out-of-memory error once nothing fits."""
from __future__ import annotations

import os

import torch

from agent.core.errors import AtelierError, ConfigError
from local_models.specs import ModelSpec


class OutOfMemory(AtelierError):
    """The model did not fit even after a retry with lower memory settings."""


# ---- device, dtype, memory --------------------------------------------------------------------
# Attention slicing is not a level: it slows PyTorch's SDPA attention (which already saves the
# memory slicing would) and diffusers warns against combining them.
# Group offload (diffusers' hooks move blocks of layers on and off the GPU, streamed on CUDA) needs
# far less than model offload at a fraction of sequential offload's cost; fp8 storage (diffusers'
# layerwise casting: weights kept in float8, each layer upcast as it runs) halves the denoiser
# again, at a small cost in quality, so it comes after group offload and before sequential offload.
MEMORY_LEVELS = ("all on device", "VAE tiling / chunked decoding", "model CPU offload", "group offload",
                 "fp8 weights + group offload", "sequential CPU offload")
LAST_LEVEL = len(MEMORY_LEVELS) - 1
DENOISERS = ("unet", "transformer", "transformer_2")


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
        level = os.environ["ATELIER_MEMORY"]
        if not level.isdigit() or int(level) > LAST_LEVEL:
            raise ConfigError(f"ATELIER_MEMORY must be a level from 0 to {LAST_LEVEL} "
                              f"({', '.join(MEMORY_LEVELS)}), not {level!r}")
        return int(level)
    if device.type != "cuda":
        return 0
    share = torch.cuda.mem_get_info(device)[0] / 2**30 / spec.vram_gb  # free memory over the model's need
    return next(level for level, enough in enumerate((1.2, 1.0, 0.3, 0.15, 0.08, 0.0)) if share > enough)


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
    elif level in (3, 4):
        pipe.remove_all_hooks()  # accelerate's model offload and group offload do not mix
        if level == 4:
            remove_group_offload(pipe)  # casting goes under the offload hooks, not over them
            store_in_fp8(pipe)
        group_offload(pipe, device)
    elif level == LAST_LEVEL:
        remove_group_offload(pipe)
        pipe.remove_all_hooks()  # from an earlier model offload
        pipe.enable_sequential_cpu_offload(device=device)
    elif pipe.device != device:
        pipe.to(device)


def _modules(pipe) -> dict[str, torch.nn.Module]:
    return {name: c for name, c in pipe.components.items() if isinstance(c, torch.nn.Module)}


def group_offload(pipe, device: torch.device) -> None:
    """Every model component group-offloaded block by block (those already offloaded are left as they
    are: pipelines made by from_pipe share their components)."""
    from diffusers.hooks import apply_group_offloading
    from diffusers.hooks.group_offloading import _is_group_offload_enabled

    for module in _modules(pipe).values():
        if not _is_group_offload_enabled(module):
            apply_group_offloading(module, onload_device=device, offload_device=torch.device("cpu"),
                                   offload_type="block_level", num_blocks_per_group=1,
                                   use_stream=device.type == "cuda")


def remove_group_offload(pipe) -> None:
    from diffusers.hooks import HookRegistry
    from diffusers.hooks.group_offloading import _GROUP_OFFLOADING, _LAZY_PREFETCH_GROUP_OFFLOADING

    for module in _modules(pipe).values():
        registry = HookRegistry.check_if_exists_or_initialize(module)
        for hook in (_LAZY_PREFETCH_GROUP_OFFLOADING, _GROUP_OFFLOADING):
            registry.remove_hook(hook, recurse=True)
        module.to("cpu")


def store_in_fp8(pipe) -> None:
    """The denoiser's weights stored in float8 and upcast layer by layer to the dtype it computes in."""
    for name in DENOISERS:
        module = getattr(pipe, name, None)
        if module is not None and hasattr(module, "enable_layerwise_casting") and not getattr(module, "_fp8", False):
            module.enable_layerwise_casting(storage_dtype=torch.float8_e4m3fn, compute_dtype=module.dtype)
            module._fp8 = True


