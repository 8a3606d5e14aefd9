"""Stable Diffusion XL family: `local:sdxl` (base, DPM++ by default, optional refiner hand-off) and
`local:sdxl-turbo`. Text to image, image to image, inpainting, ControlNet, IP-Adapter, LoRA."""
from __future__ import annotations

from typing import Any

from agent.core.errors import InputError
from agent.core.types import GenerationRequest
from local_models import decoding
from local_models.diffusers_base import DiffusersBackend, Inputs, Loaded, apply_memory, load_from, pipeline_class
from local_models.specs import SPECS


class SDXLBackend(DiffusersBackend):
    pipelines = {
        "text2img": "StableDiffusionXLPipeline",
        "img2img": "StableDiffusionXLImg2ImgPipeline",
        "inpaint": "StableDiffusionXLInpaintPipeline",
        "controlnet": "StableDiffusionXLControlNetPipeline",
    }

    def check_inputs(self, request: GenerationRequest, task: str) -> Inputs:
        if request.extra.get("refiner"):
            if "refiner" not in self.spec.aux:
                raise InputError(f"{self.info.name} has no refiner")
            if task != "text2img":
                raise InputError("the refiner hand-off is for text to image only")
            if not 0 < float(request.extra.get("refiner_switch", 0.8)) < 1:
                raise InputError("refiner_switch must be between 0 and 1 (the share of steps the base runs)")
        return super().check_inputs(request, task)

    def refiner(self, loaded: Loaded):
        """The refiner shares the base's second text encoder and VAE; it loads on first use."""
        if "refiner" not in loaded.extras:
            cls = pipeline_class("StableDiffusionXLImg2ImgPipeline")
            refiner = load_from(SPECS[self.spec.aux["refiner"]], cls, loaded.dtype,
                                text_encoder_2=loaded.pipe.text_encoder_2, vae=loaded.pipe.vae)
            refiner.set_progress_bar_config(disable=True)
            apply_memory(refiner, loaded.memory, loaded.device)
            loaded.extras["refiner"] = refiner
        return loaded.extras["refiner"]

    def denoise(self, pipe, kwargs: dict[str, Any], request: GenerationRequest, loaded: Loaded,
                progress: dict[str, Any]):
        """With the refiner: the base's share of the steps (kept when the refiner runs out of memory
        and the ladder steps down), then the refiner's, both as latents for `decode`."""
        if not request.extra.get("refiner"):
            return super().denoise(pipe, kwargs, request, loaded, progress)
        switch = float(request.extra.get("refiner_switch", 0.8))
        if "base" not in progress:
            progress["base"] = pipe(**kwargs, denoising_end=switch, output_type="latent").images
        refine = {k: kwargs[k] for k in ("prompt", "negative_prompt", "num_inference_steps", "guidance_scale",
                                         "num_images_per_prompt", "generator") if k in kwargs}
        return self.refiner(loaded)(**refine, image=progress["base"], denoising_start=switch,
                                    output_type="latent").images

    def companions(self, loaded: Loaded) -> list[Any]:
        return [loaded.extras["refiner"]] if "refiner" in loaded.extras else []

    def decode(self, pipe, latents, kwargs, loaded):
        return decoding.unet_latents(pipe, latents, self.info.name, upcast=True)
