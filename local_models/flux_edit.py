"""FLUX.1 edit models: `local:flux-fill` (inpainting / outpainting, FluxFillPipeline) and
`local:flux-kontext` (edits by instruction, FluxKontextPipeline). No tiny pipeline holds their
decoding to the pipeline's own yet, so they run in one stage (`latent_output = False`): an
out-of-memory error in the VAE runs the call again one memory level down."""
from __future__ import annotations

from typing import Any

from local_models.flux import FlowBackend


class FluxFillBackend(FlowBackend):
    pipelines = {"inpaint": "FluxFillPipeline"}
    latent_output = False


class FluxKontextBackend(FlowBackend):
    pipelines = {"instruct": "FluxKontextPipeline"}
    latent_output = False

    def call_kwargs(self, request, inputs, loaded) -> dict[str, Any]:
        """An instruction edit with one guidance (Kontext has no separate image guidance scale)."""
        kwargs = super().call_kwargs(request, inputs.__class__(**{**inputs.__dict__, "task": "kontext"}), loaded)
        kwargs["prompt"] = request.instruction or request.prompt
        return kwargs
