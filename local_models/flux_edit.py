"""FLUX.1 edit models: `local:flux-fill` (inpainting / outpainting, FluxFillPipeline: image + mask_image,
the mask's latents and the masked picture's joined to the noise on the channels) and `local:flux-kontext`
(edits by instruction, FluxKontextPipeline: the source's latents joined to the noise on the sequence).
Both give back FLUX.1's packed latents, so they decode as FLUX.1 does, apart from the denoising
(tests/test_backend_contract.py holds that decoding to each pipeline's own)."""
from __future__ import annotations

import dataclasses
from typing import Any

from local_models.flux import FlowBackend


class FluxFillBackend(FlowBackend):
    pipelines = {"inpaint": "FluxFillPipeline"}


class FluxKontextBackend(FlowBackend):
    pipelines = {"instruct": "FluxKontextPipeline"}

    def work_size(self, size: tuple[int, int]) -> tuple[int, int]:
        """The menu size (the resolutions Kontext was trained at) nearest the source's aspect."""
        w, h = size
        return min(self.spec.sizes, key=lambda s: abs(s[0] / s[1] - w / h))

    def call_kwargs(self, request, inputs, loaded) -> dict[str, Any]:
        """An instruction edit with one guidance (Kontext has no separate image guidance scale), at the
        work size: left alone, the pipeline makes its picture at `max_area` (1024²) whatever the size
        asked and resizes the source to a trained resolution of its own choosing."""
        kwargs = super().call_kwargs(request, dataclasses.replace(inputs, task="kontext"), loaded)
        kwargs |= {"prompt": request.instruction or request.prompt, "max_area": inputs.width * inputs.height,
                   "_auto_resize": False}
        return kwargs
