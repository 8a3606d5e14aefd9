"""Stable Video Diffusion: `local:svd` (14 frames) and `local:svd-xt` (25 frames), image to video.
A source of another shape is not stretched: it animates at the menu size nearest its aspect (landscape
or portrait), fitted inside and padded, and where it sits is recorded (meta `source_box`)."""
from __future__ import annotations

from typing import Any

from PIL import Image, ImageOps

from agent.core.types import GenerationRequest
from local_models import decoding
from local_models.diffusers_base import Loaded
from local_models.video_base import DiffusersVideoBackend, VideoInputs


def decode_chunk(memory: int) -> int:
    """Frames the temporal VAE decodes at once: its memory use grows with this (it has no tiling)."""
    return 8 if memory == 0 else 2 if memory == 1 else 1


def fit(image: Image.Image, size: tuple[int, int]) -> tuple[Image.Image, tuple[int, int, int, int]]:
    """`image` scaled to fit inside `size`, keeping its aspect, on a ground of its own edge colour
    (bars that match the picture's edge move least); and the box it fills."""
    inner = ImageOps.contain(image, size, Image.LANCZOS)
    border = [image.getpixel((x, y)) for x in (0, image.width - 1) for y in range(0, image.height, 8)]
    border += [image.getpixel((x, y)) for y in (0, image.height - 1) for x in range(0, image.width, 8)]
    ground = tuple(sum(c[i] for c in border) // len(border) for i in range(3))
    canvas = Image.new("RGB", size, ground)
    x, y = (size[0] - inner.width) // 2, (size[1] - inner.height) // 2
    canvas.paste(inner, (x, y))
    return canvas, (x, y, x + inner.width, y + inner.height)


class SVDBackend(DiffusersVideoBackend):
    pipelines = {"image2video": "StableVideoDiffusionPipeline"}

    @property
    def base_task(self) -> str:
        return "image2video"

    def check_inputs(self, request: GenerationRequest, task: str = "image2video") -> VideoInputs:
        if request.source_image is not None and not (request.width or request.height):
            from agent.core.artifacts import load_image

            w, h = load_image(request.source_image).size
            size = min(self.spec.sizes, key=lambda s: abs(s[0] / s[1] - w / h))  # the nearest aspect
            request = request.model_copy(update={"width": size[0], "height": size[1]})
        inputs = super().check_inputs(request, task)
        if inputs.source.size != (inputs.width, inputs.height):
            inputs.source, inputs.source_box = fit(inputs.source, (inputs.width, inputs.height))
        return inputs

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
