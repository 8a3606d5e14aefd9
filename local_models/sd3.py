"""Stable Diffusion 3 family: `local:sd3-medium` (flow matching, three text encoders)."""
from __future__ import annotations

from local_models.flux import FlowBackend


class SD3Backend(FlowBackend):
    pipelines = {
        "text2img": "StableDiffusion3Pipeline",
        "img2img": "StableDiffusion3Img2ImgPipeline",
        "inpaint": "StableDiffusion3InpaintPipeline",
    }
