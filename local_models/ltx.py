"""LTX-Video: `local:ltx-video`, text to video (8·k+1 frames at 24 fps), LTXPipeline. The frame rate
goes in (`frame_rate`: it scales the transformer's rotary positions in time; the pipeline assumes 25).
Its latents decode apart from the denoising (decoding.ltx_latents, held to the pipeline's own by
tests/test_backend_contract.py): an out-of-memory error in its VAE does not denoise again. A VAE
conditioned on the decode timestep (LTX-Video 0.9.1 on) blends noise into the latents before decoding,
drawn from each request's generator where the pipeline's own call draws it: the generators' states
after denoising are kept, so a decode retried lower on the memory ladder draws the same noise."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from local_models import decoding
from local_models.video_base import DiffusersVideoBackend


@dataclass
class Denoised:
    latents: torch.Tensor  # packed, as the pipeline leaves them with output_type="latent"
    noise_states: list[torch.Tensor]  # each generator's state when the denoising ended


class LTXBackend(DiffusersVideoBackend):
    pipelines = {"text2img": "LTXPipeline"}
    schedulers = {"euler": ("FlowMatchEulerDiscreteScheduler", {})}

    def call_kwargs(self, request, inputs, loaded) -> dict[str, Any]:
        return {**super().call_kwargs(request, inputs, loaded), "frame_rate": inputs.fps}

    def denoise(self, pipe, kwargs, request, loaded, progress) -> Denoised:
        latents = super().denoise(pipe, kwargs, request, loaded, progress)
        return Denoised(latents, [g.get_state() for g in kwargs["generator"]])

    def decode(self, pipe, denoised: Denoised, kwargs, loaded):
        noise = [torch.Generator("cpu").set_state(state) for state in denoised.noise_states]
        return decoding.ltx_latents(pipe, denoised.latents, kwargs, noise)
