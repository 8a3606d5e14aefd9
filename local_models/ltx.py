"""LTX-Video: `local:ltx-video`, text to video (8·k+1 frames at 24 fps), LTXPipeline. One stage
(`latent_output = False`): its VAE's decoding (timestep-conditioned) is not yet held to the pipeline's
own by a tiny pipeline."""
from __future__ import annotations

from local_models.video_base import DiffusersVideoBackend


class LTXBackend(DiffusersVideoBackend):
    pipelines = {"text2img": "LTXPipeline"}
    schedulers = {"euler": ("FlowMatchEulerDiscreteScheduler", {})}
    latent_output = False
