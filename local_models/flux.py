"""FLUX.1 family: `local:flux-schnell` (4 steps, no CFG) and `local:flux-dev` (distilled guidance)."""
from __future__ import annotations

from local_models.diffusers_base import DiffusersBackend


class FluxBackend(DiffusersBackend):
    pipelines = {
        "text2img": "FluxPipeline",
        "img2img": "FluxImg2ImgPipeline",
        "inpaint": "FluxInpaintPipeline",
    }
    schedulers = {"euler": ("FlowMatchEulerDiscreteScheduler", {})}
