"""Qwen-Image: `local:qwen-image` (text to image) and `local:qwen-image-edit` (instruction edits).
`guidance` is true classifier-free guidance (`true_cfg_scale`), which runs only with a negative
prompt, so one space stands in when none is given. Its latents decode apart from the denoising
(decoding.qwen_latents, held to the pipeline's own by tests/test_backend_contract.py): an out-of-memory
error in its VAE does not denoise again. Where no torchvision is installed, Qwen-Image-Edit's processor
loads without its video half (qwen_processor.py), which the edit pipeline never uses."""
from __future__ import annotations

import importlib.util
from typing import Any

from local_models import decoding
from local_models.flux import FlowBackend
from local_models.weights import locate


class QwenImageBackend(FlowBackend):
    pipelines = {"text2img": "QwenImagePipeline", "instruct": "QwenImageEditPipeline"}

    def components(self, dtype) -> dict[str, Any]:
        if self.base_task != "instruct" or importlib.util.find_spec("torchvision") is not None:
            return {}
        from local_models.qwen_processor import load_processor

        return {"processor": load_processor(locate(self.spec) / "processor")}

    def decode(self, pipe, latents, kwargs, loaded):
        return decoding.qwen_latents(pipe, latents, kwargs["width"], kwargs["height"])

    def call_kwargs(self, request, inputs, loaded) -> dict[str, Any]:
        kwargs = super().call_kwargs(request, inputs.__class__(**{**inputs.__dict__, "task": "qwen"}), loaded)
        if inputs.task == "instruct":
            kwargs["prompt"] = request.instruction or request.prompt
        # guidance_scale is for guidance-distilled weights only (Qwen-Image's are not: the pipeline warns
        # that it ignores it); the guidance asked for is true CFG
        kwargs["true_cfg_scale"], kwargs["guidance_scale"] = inputs.guidance, None
        if inputs.guidance > 1 and not kwargs.get("negative_prompt"):
            kwargs["negative_prompt"] = " "
        return kwargs
