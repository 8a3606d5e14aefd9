"""What the local video back ends share: frame-count checks, the call, and writing MP4 / GIF."""
from __future__ import annotations

import io
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageOps

from agent.core.artifacts import atomic_write_bytes, load_image
from agent.core.errors import InputError
from agent.core.types import Artifact, GenerationRequest
from local_models.diffusers_base import _ALONE, DiffusersBackend, Inputs, Loaded
from local_models.inputs import check_request_options

FORMATS = ("mp4", "gif")


@dataclass
class VideoInputs(Inputs):
    frames: int = 0
    fps: int = 8
    format: str = "mp4"
    source_box: tuple[int, int, int, int] | None = None  # where a fitted source sits in the frame


def encode(frames: list[Image.Image], fps: int, fmt: str) -> bytes:
    """MP4 (H.264, yuv420p, through PyAV) or an endlessly looping GIF, as bytes."""
    buf = io.BytesIO()
    if fmt == "gif":
        frames[0].save(buf, format="GIF", save_all=True, append_images=frames[1:],
                       duration=round(1000 / fps), loop=0)
        return buf.getvalue()
    import av

    with av.open(buf, mode="w", format="mp4") as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.width, stream.height = frames[0].size
        stream.pix_fmt = "yuv420p"
        for frame in frames:
            container.mux(stream.encode(av.VideoFrame.from_ndarray(np.asarray(frame.convert("RGB")), format="rgb24")))
        container.mux(stream.encode())
    return buf.getvalue()


class DiffusersVideoBackend(DiffusersBackend):
    """`generate(request)`: text to video, or image to video when the model animates a source image."""

    def check_inputs(self, request: GenerationRequest, task: str = "text2video") -> VideoInputs:
        spec, name = self.spec, self.info.name
        frames = request.num_frames or spec.frames
        if frames > spec.max_frames:
            raise InputError(f"{name} makes at most {spec.max_frames} frames, not {frames}")
        if (frames - 1) % spec.frame_step:
            raise InputError(f"{name} needs {spec.frame_step}·k+1 frames (e.g. {spec.frames}), not {frames}")
        fmt = request.extra.get("format", "mp4")
        if fmt not in FORMATS:
            raise InputError(f"video format must be one of {', '.join(FORMATS)}, not {fmt!r}")
        check_request_options(request, spec, name, "videos")
        size = (request.width or spec.sizes[0][0], request.height or spec.sizes[0][1])
        if size not in spec.sizes:
            raise InputError(f"size {size[0]}×{size[1]} is not on {name}'s menu: "
                             + ", ".join(f"{w}×{h}" for w, h in spec.sizes))
        inputs = VideoInputs(task, *size, request.steps or spec.steps,
                             spec.guidance if request.guidance is None else request.guidance,
                             request.scheduler or spec.scheduler, frames=frames, fps=request.fps or spec.fps,
                             format=fmt)
        if not spec.text2img:
            if request.source_image is None:
                raise InputError(f"{name} animates an image: give it a source image")
            inputs.source = load_image(request.source_image).convert("RGB")
        return inputs

    def generate(self, request: GenerationRequest, out_dir: Path) -> list[Artifact]:
        inputs = self.check_inputs(request)
        start = time.perf_counter()
        loaded = self.load()
        # clips run one at a time on the family's owner thread (nothing else touches the pipeline)
        videos, _ = self.owner(loaded).submit(("alone", next(_ALONE)), (self, request, inputs, loaded),
                                              size=request.n)
        seconds = (time.perf_counter() - start) / len(videos)
        parent = None if request.source_image is None else Artifact.digest(request.source_image)
        out = []
        for i, frames in enumerate(videos):
            one = request.model_copy(update={"seed": request.seed + i, "n": 1, "num_frames": len(frames),
                                             "fps": inputs.fps, "width": inputs.width, "height": inputs.height,
                                             "steps": inputs.steps, "guidance": inputs.guidance})
            path = Path(out_dir) / f"{time.strftime('%H%M%S')}-s{one.seed}-{i}-{os.urandom(3).hex()}.{inputs.format}"
            atomic_write_bytes(path, encode(frames, inputs.fps, inputs.format))
            out.append(Artifact(path=path, sha256=Artifact.digest(path), kind="video", request=one, parent=parent,
                                seconds=seconds, meta={"frames": len(frames), "fps": inputs.fps,
                                                       "device": loaded.device.type,
                                                       **({"source_box": list(inputs.source_box)}
                                                          if inputs.source_box else {})}))
        return out

    def run_jobs(self, jobs, loaded: Loaded):
        (request, inputs), = jobs
        with loaded.lock:
            self.set_scheduler(loaded.pipe, inputs.scheduler, loaded)
            return [(self._call(loaded.pipe, jobs, loaded), type(loaded.pipe.scheduler).__name__)]

    def edit(self, request: GenerationRequest, out_dir: Path) -> list[Artifact]:
        raise InputError(f"{self.info.name} makes videos; it does not edit images")

    def call_kwargs(self, request: GenerationRequest, inputs: VideoInputs, loaded: Loaded) -> dict[str, Any]:
        return {"prompt": request.prompt, "negative_prompt": request.negative_prompt or None,
                "num_frames": inputs.frames, "width": inputs.width, "height": inputs.height,
                "num_inference_steps": inputs.steps, "guidance_scale": inputs.guidance,
                "num_videos_per_prompt": request.n, **self.spec.options}

    def denoise(self, pipe, kwargs: dict[str, Any], request: GenerationRequest, loaded: Loaded,
                progress: dict[str, Any]):
        return pipe(**kwargs, output_type="latent" if self.latent_output else "pil").frames


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


class AnimatesSource(DiffusersVideoBackend):
    """Image to video. A source of another shape is not stretched: it animates at the menu size nearest
    its aspect (landscape or portrait), fitted inside and padded, and where it sits is recorded (meta
    `source_box`)."""

    @property
    def base_task(self) -> str:
        return "image2video"

    def check_inputs(self, request: GenerationRequest, task: str = "image2video") -> VideoInputs:
        if request.source_image is not None and not (request.width or request.height):
            w, h = load_image(request.source_image).size
            size = min(self.spec.sizes, key=lambda s: abs(s[0] / s[1] - w / h))  # the nearest aspect
            request = request.model_copy(update={"width": size[0], "height": size[1]})
        inputs = super().check_inputs(request, task)
        if inputs.source.size != (inputs.width, inputs.height):
            inputs.source, inputs.source_box = fit(inputs.source, (inputs.width, inputs.height))
        return inputs
