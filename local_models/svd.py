"""Stable Video Diffusion: `local:svd` (14 frames) and `local:svd-xt` (25 frames), image to video.
A source of another shape is not stretched (video_base.AnimatesSource)."""
from __future__ import annotations

from typing import Any

from agent.core.types import GenerationRequest
from local_models import decoding
from local_models.diffusers_base import Loaded
from local_models.video_base import AnimatesSource, VideoInputs


def decode_chunk(memory: int) -> int:
    """Frames the temporal VAE decodes at once: its memory use grows with this (it has no tiling)."""
    return 8 if memory == 0 else 2 if memory == 1 else 1


class SVDBackend(AnimatesSource):
    pipelines = {"image2video": "StableVideoDiffusionPipeline"}

    def call_kwargs(self, request: GenerationRequest, inputs: VideoInputs, loaded: Loaded) -> dict[str, Any]:
        """`guidance` is SVD's top guidance; it ramps from 1 over the frames. `fps` conditions the motion."""
        return {"image": inputs.source, "num_frames": inputs.frames,
                "width": inputs.width, "height": inputs.height, "num_inference_steps": inputs.steps,
                "min_guidance_scale": min(1.0, inputs.guidance), "max_guidance_scale": inputs.guidance,
                "fps": inputs.fps, "decode_chunk_size": min(decode_chunk(loaded.memory), inputs.frames),
                "num_videos_per_prompt": request.n,
                **self.spec.options, **{k: request.extra[k] for k in ("motion_bucket_id", "noise_aug_strength")
                                        if k in request.extra}}

    def decode(self, pipe, latents, kwargs, loaded):
        """Decoded apart from the denoising, `decode_chunk(level)` frames at a time: an out-of-memory
        error here steps the ladder down and decodes again with smaller chunks, no denoising repeated."""
        return decoding.svd_latents(pipe, latents, kwargs["num_frames"],
                                    min(decode_chunk(loaded.memory), kwargs["num_frames"]), loaded.dtype)
