"""LTX-Video: `local:ltx-video`, text to video (8·k+1 frames at 24 fps), LTXPipeline. The frame rate
goes in (`frame_rate`: it scales the transformer's rotary positions in time; the pipeline assumes 25).
One stage (`latent_output = False`): its VAE's decoding (timestep-conditioned) is not yet held to the
pipeline's own by a tiny pipeline."""
from __future__ import annotations

from typing import Any

from local_models.video_base import DiffusersVideoBackend


class LTXBackend(DiffusersVideoBackend):
    pipelines = {"text2img": "LTXPipeline"}
    schedulers = {"euler": ("FlowMatchEulerDiscreteScheduler", {})}
    latent_output = False

    def call_kwargs(self, request, inputs, loaded) -> dict[str, Any]:
        return {**super().call_kwargs(request, inputs, loaded), "frame_rate": inputs.fps}
