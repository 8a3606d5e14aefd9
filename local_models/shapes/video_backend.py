"""`local:shapes-video`: the embedded text-to-video model of the shapes world (stock diffusers
`AnimateDiffPipeline` over `weights-video/`, trained by `train_video.py`).

Clips run on one `PipelineOwner`: concurrent requests with the same frames, steps and guidance
share one pipeline call, each clip from its own generator. Out: MP4 (default) or GIF at 8 fps."""
from __future__ import annotations

import json
import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from agent.core.artifacts import atomic_write_bytes
from agent.core.errors import ConfigError, InputError
from agent.core.protocols import ModelInfo
from agent.core.types import Artifact, GenerationRequest
from local_models.owner import PipelineOwner
from local_models.shapes import motion, world
from local_models.shapes.backend import NATIVE, default_threads, out_of_vocabulary_warning
from local_models.video_base import FORMATS, encode

WEIGHTS = Path(__file__).resolve().parent / "weights-video"
# the 64x64 frames upscaled (nearest): MP4 keeps colour at half resolution, which at 64 px smears the
# small shapes the critic reads; at 128 px it reads them as well as a GIF
SIZES = [(128, 128), (64, 64), (256, 256)]
FRAMES = (8, 16)  # trained on 8 and 12 (the last 4,849 steps on 8 only); 16 is as long as its motion modules go
DEFAULT_FRAMES, DEFAULT_FPS = 8, 8
DEFAULT_STEPS, DEFAULT_GUIDANCE = 20, 4.0


@dataclass
class _Job:
    prompt: str
    negative: str
    seeds: list[int]


class ShapesVideoBackend:
    """VideoBackend for the embedded shapes world; weights load once, on first use."""

    def __init__(self, name: str = "shapes-video", weights: Path | str | None = None, threads: int | None = None):
        self.name = name
        self.weights = Path(weights) if weights else WEIGHTS
        self.threads = threads
        self.info = ModelInfo(name=f"local:{name}", sizes=SIZES, default_steps=DEFAULT_STEPS,
                              default_guidance=DEFAULT_GUIDANCE, supports_negative=True, max_n=8,
                              vocabulary=world.vocabulary_text() + "; motion: moving left, right, up or "
                              "down (slowly, quickly), or staying still",
                              quality_notes="Flat-coloured shapes on a plain background that move in "
                              "straight lines: judge by every object staying the same shape and colour "
                              "in every frame and moving as asked.",
                              frames=FRAMES, default_frames=DEFAULT_FRAMES)
        self._pipe = None
        self.shared_noise, self.warp = 0.0, False
        self._lock = threading.Lock()
        self.owner = PipelineOwner(f"local:{name}", self._run_batch, max_batch=8)

    def check_ready(self) -> None:
        if not (self.weights / "model_index.json").is_file():
            raise ConfigError(f"the shapes video model weights are missing at {self.weights}; "
                              f"train them with `python -m local_models.shapes.train_video`")

    def pipe(self):
        from agent.core.registry import loading
        if self._pipe is not None:  # warm: no lock
            return self._pipe
        with self._lock, loading():  # diffusers' lazy imports race with other threads' (issue 27)
            if self._pipe is None:
                self.check_ready()
                os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
                import torch
                from diffusers import AnimateDiffPipeline
                from diffusers.utils import logging as dlog

                dlog.set_verbosity_error(), dlog.disable_progress_bar()
                torch.set_num_threads(self.threads or default_threads())
                # stored as fp16 to fit the weight budget; computed in fp32 on this CPU
                pipe = AnimateDiffPipeline.from_pretrained(self.weights, dtype=torch.float32, local_files_only=True)
                pipe.set_progress_bar_config(disable=True)
                meta = self.weights / "training.json"
                # the share of the starting noise common to all frames, as the model was trained
                trained = json.loads(meta.read_text()) if meta.is_file() else {}
                self.shared_noise, self.warp = trained.get("shared_noise", 0.0), bool(trained.get("warp"))
                self._pipe = pipe
            return self._pipe

    def check_inputs(self, request: GenerationRequest) -> tuple[tuple[int, int], int, int, str]:
        if request.source_image is not None:
            raise InputError(f"{self.info.name} makes clips from text; it does not animate a source image")
        return check_clip(request, self.info)

    def _run_batch(self, key, jobs: list[_Job]) -> list[list]:
        import torch

        frames, steps, guidance = key
        pipe = self.pipe()
        side = NATIVE // pipe.vae_scale_factor
        # each clip's noise from its own seed, so a clip is the same alone or in a batch
        # the drift is the prompt's, once per request; the rest of the noise is each seed's own
        paths = [[prompt_path(j.prompt, frames, pipe.vae_scale_factor)] if self.warp else None for j in jobs]
        latents = torch.cat([mixed_noise((1, pipe.unet.config.in_channels, frames, side, side), self.shared_noise,
                                         torch.Generator().manual_seed(s), path)
                             for j, path in zip(jobs, paths) for s in j.seeds])
        clips = pipe(prompt=[j.prompt for j in jobs for _ in j.seeds],
                     negative_prompt=[j.negative for j in jobs for _ in j.seeds], latents=latents,
                     num_frames=frames, height=NATIVE, width=NATIVE, num_inference_steps=steps,
                     guidance_scale=guidance, output_type="pil").frames
        out, i = [], 0
        for j in jobs:
            out.append(clips[i:i + len(j.seeds)])
            i += len(j.seeds)
        return out

    def generate(self, request: GenerationRequest, out_dir: Path) -> list[Artifact]:
        from PIL import Image

        size, frames, fps, fmt = self.check_inputs(request)
        steps = request.steps or DEFAULT_STEPS
        guidance = DEFAULT_GUIDANCE if request.guidance is None else request.guidance
        seeds = [(request.seed + i) % 2**32 for i in range(request.n)]
        t0 = time.perf_counter()
        clips = self.owner.submit((frames, steps, guidance), _Job(request.prompt, request.negative_prompt, seeds),
                                  size=request.n)
        seconds = (time.perf_counter() - t0) / len(clips)
        meta = {"frames": frames, "fps": fps, "native_size": [NATIVE, NATIVE], "denoiser_steps": steps * frames}
        if warning := out_of_vocabulary_warning(_without_motion_words(request.prompt)):
            meta["warning"] = warning
        out = []
        for i, clip in enumerate(clips):
            if clip[0].size != size:
                clip = [f.resize(size, Image.Resampling.NEAREST) for f in clip]
            one = request.model_copy(update={"seed": seeds[i], "n": 1, "num_frames": frames, "fps": fps,
                                             "width": size[0], "height": size[1], "steps": steps,
                                             "guidance": guidance})
            path = Path(out_dir) / f"{time.strftime('%H%M%S')}-s{one.seed}-{i}-{os.urandom(3).hex()}.{fmt}"
            atomic_write_bytes(path, encode(clip, fps, fmt))
            out.append(Artifact(path=path, sha256=Artifact.digest(path), kind="video", request=one,
                                seconds=seconds, meta=meta))
        return out


def check_clip(request: GenerationRequest, info: ModelInfo) -> tuple[tuple[int, int], int, int, str]:
    """The size, frames, fps and format of a clip request to a shapes-world video back end (`info`: its
    sizes, frame range and clips per call), each out-of-range one a one-line InputError."""
    name, sizes, (lo, hi) = info.name, info.sizes, info.frames
    size = (request.width or sizes[0][0], request.height or sizes[0][1])
    if size not in sizes:
        raise InputError(f"{name} cannot make {size[0]}x{size[1]}; sizes: " + ", ".join(f"{w}x{h}" for w, h in sizes))
    frames = request.num_frames or info.default_frames
    if not lo <= frames <= hi:
        raise InputError(f"{name} makes {lo} to {hi} frames, not {frames}")
    fmt = request.extra.get("format", "mp4")
    if fmt not in FORMATS:
        raise InputError(f"video format must be one of {', '.join(FORMATS)}, not {fmt!r}")
    if request.n > info.max_n:
        raise InputError(f"{name} makes at most {info.max_n} clips per call, not {request.n}")
    return size, frames, request.fps or DEFAULT_FPS, fmt


def mixed_noise(shape, shared: float, generator, shifts=None, repeat: int = 1):
    """Unit Gaussian noise of `shape` (clips, channels, frames, h, w), a `shared` share of its
    variance common to all frames (train_video.py); each clip `repeat` times over (training pairs).
    `shifts`, per clip a (dy, dx) per frame in latent pixels or None: the common part of each frame
    is moved by it (wrapping round), so the noise itself drifts the way the clip's first moving
    object goes; trained so (`warp` in training.json), the model moves it along with the noise."""
    import torch

    own = torch.randn(shape, generator=generator).repeat_interleave(repeat, 0)
    common = torch.randn((shape[0], shape[1], 1, *shape[3:]), generator=generator).repeat_interleave(repeat, 0)
    common = common.expand(own.shape).clone()
    for c, path in enumerate(shifts or []):
        for f, (dy, dx) in enumerate(path or []):
            common[c, :, f] = torch.roll(common[c, :, f], shifts=(dy, dx), dims=(-2, -1))
    return (1 - shared) ** 0.5 * own + shared ** 0.5 * common


def noise_path(way: str | None, travel: float, frames: int, scale: int) -> list[tuple[int, int]] | None:
    """Per frame, how far the common noise moves (latent pixels, rounded) for an object going `way`
    by `travel` canvas pixels over the clip; None when it does not move."""
    if way not in motion.DIRECTIONS or way == "still":
        return None
    ux, uy = motion.DIRECTIONS[way]
    return [(round(uy * travel * f / (frames - 1) / scale), round(ux * travel * f / (frames - 1) / scale))
            for f in range(frames)]


def prompt_path(prompt: str, frames: int, scale: int) -> list[tuple[int, int]] | None:
    """`noise_path` of the first moving object the prompt asks for, at its speed's middle travel."""
    from agent.core.spec_parser import parse_spec

    spec = parse_spec(prompt)
    first = next((o for o in (spec.include if spec else []) if o.motion and o.motion != "still"), None)
    if first is None:
        return None
    lo, hi = motion.TRAVEL[first.speed]
    return noise_path(first.motion, (lo + hi) / 2, frames, scale)


def _without_motion_words(prompt: str) -> str:
    words = set(motion.MOTION_WORDS) | {"rightwards", "leftwards"}
    return " ".join(w for w in prompt.split() if w.lower().strip(",.") not in words)
