"""FLUX.1 family: `local:flux-schnell` (4 steps, no CFG) and `local:flux-dev` (distilled guidance)."""
from __future__ import annotations

from local_models import decoding
from local_models.diffusers_base import DiffusersBackend


class FlowBackend(DiffusersBackend):
    """Flow-matching models whose VAE latents are shifted and scaled (FLUX.1, SD3)."""

    schedulers = {"euler": ("FlowMatchEulerDiscreteScheduler", {})}

    def decode(self, pipe, latents, kwargs, loaded):
        return decoding.flow_latents(pipe, latents, kwargs["width"], kwargs["height"])

    def edit_steps(self, steps: int, strength: float) -> int:
        """The flow pipelines' get_timesteps skips int(steps - steps × strength) of them: rounded up."""
        return steps - int(max(steps - steps * strength, 0))


class FluxBackend(FlowBackend):
    pipelines = {
        "text2img": "FluxPipeline",
        "img2img": "FluxImg2ImgPipeline",
        "inpaint": "FluxInpaintPipeline",
    }
