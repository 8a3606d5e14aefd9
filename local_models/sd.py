"""Stable Diffusion 1.5 / 2.1 family: `local:sd-turbo`, `local:sd15`, `local:instruct-pix2pix`.
Text to image, image to image, inpainting, InstructPix2Pix, ControlNet, IP-Adapter, LoRA."""
from __future__ import annotations

from local_models.diffusers_base import DiffusersBackend


class SDBackend(DiffusersBackend):
    pipelines = {
        "text2img": "StableDiffusionPipeline",
        "img2img": "StableDiffusionImg2ImgPipeline",
        "inpaint": "StableDiffusionInpaintPipeline",
        "instruct": "StableDiffusionInstructPix2PixPipeline",
        "controlnet": "StableDiffusionControlNetPipeline",
    }
