"""CogVideoX: `local:cogvideox-2b`, text to video (8·k+1 frames at 8 fps)."""
from __future__ import annotations

from local_models import decoding
from local_models.video_base import DiffusersVideoBackend


class CogVideoXBackend(DiffusersVideoBackend):
    pipelines = {"text2img": "CogVideoXPipeline"}
    schedulers = {"ddim": ("CogVideoXDDIMScheduler", {}), "dpm": ("CogVideoXDPMScheduler", {})}

    def decode(self, pipe, latents, kwargs, loaded):
        return decoding.cogvideox_latents(pipe, latents)
