"""Wan 2.1: `local:wan-1.3b`, text to video (4·k+1 frames at 16 fps), UniPC flow-matching sampler."""
from __future__ import annotations

from local_models.video_base import DiffusersVideoBackend


class WanBackend(DiffusersVideoBackend):
    pipelines = {"text2img": "WanPipeline"}
    schedulers = {"unipc": ("UniPCMultistepScheduler", {})}
