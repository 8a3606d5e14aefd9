"""A fast fake video back end for the UI and MCP tests: `testvid:clip` draws a red disc moving to the
right, 8 frames of 64x64 by default, as a real H.264 MP4 (through PyAV) or a looping GIF (request
extra {"format": "gif"}, or the model name `testvid:gif`). No weights; a clip takes milliseconds (the first
loads the writer, local_models/video_base.py's encode)."""
from __future__ import annotations

import os
from pathlib import Path

from agent.core.protocols import ModelInfo
from agent.core.types import Artifact, GenerationRequest


def frames_of(n: int, size: int = 64) -> list:
    from PIL import Image, ImageDraw
    out = []
    for i in range(n):
        im = Image.new("RGB", (size, size), (255, 255, 255))
        x = 6 + i * (size - 20) // max(n - 1, 1)
        ImageDraw.Draw(im).ellipse((x, size // 2 - 7, x + 14, size // 2 + 7), fill=(220, 30, 30))
        out.append(im)
    return out


def encode(frames: list, fps: int, fmt: str) -> bytes:
    """MP4 (H.264) or looping GIF bytes, written as the local video models write theirs."""
    from local_models.video_base import encode as encode_clip
    return encode_clip(frames, fps, fmt)


class ClipBackend:
    """VideoBackend: text to video only; `n` clips from seeds seed, seed+1, ..."""

    def __init__(self, model: str = "clip"):
        self.fmt = "gif" if model == "gif" else "mp4"
        self.info = ModelInfo(name=f"testvid:{model}", sizes=[(64, 64)], default_steps=1, default_guidance=1.0,
                              frames=(8, 16), default_frames=8, vocabulary="shapes that move")

    def check_ready(self) -> None:
        return None

    def generate(self, request: GenerationRequest, out_dir: Path) -> list[Artifact]:
        frames, fps = request.num_frames or 8, request.fps or 8
        fmt = request.extra.get("format", self.fmt)
        out = []
        for i in range(request.n):
            seed = request.seed + i
            path = Path(out_dir) / f"fake-s{seed}-{os.urandom(3).hex()}.{fmt}"
            path.write_bytes(encode(frames_of(frames), fps, fmt))
            one = request.model_copy(update={"seed": seed, "n": 1, "num_frames": frames, "fps": fps,
                                             "width": 64, "height": 64})
            out.append(Artifact(path=path, sha256=Artifact.digest(path), kind="video", request=one,
                                meta={"frames": frames, "fps": fps}))
        return out


class FrameCritic:
    """critic:frames: judges images and clips by seed like critic:seed (tests.fakes.APPROVE_SEEDS),
    and gives a clip's verdict frame by frame: one check per frame, frame 5 flagged unless approved."""

    name = "critic:frames"
    kinds = ("image", "video")

    def critique(self, artifact: Artifact, brief_text: str, spec):
        from agent.core.types import Finding, FrameCheck, Verdict
        from tests import fakes
        verdict = fakes.SeedCritic().critique(artifact, brief_text, spec).model_copy(update={"critic": self.name})
        if artifact.kind != "video":
            return verdict
        n = artifact.meta.get("frames", 8)
        checks = [FrameCheck(index=i, time=i / 8, detections=[Finding(kind="seen", message="red circle",
                                                                      box=(6 + 5 * i, 25, 20 + 5 * i, 39))],
                             issues=[] if verdict.approved or i != 5 else ["the circle jumps back"])
                  for i in range(n)]
        return verdict.model_copy(update={"frames": checks})


def register() -> None:
    """ATELIER_PLUGINS=tests.fakes_video:register: the fakes of tests.test_batch, video `testvid:*` and
    critic `critic:frames`."""
    from agent.core import registry
    from agent.critics import CRITICS
    from tests.test_batch import register_fakes
    register_fakes()
    registry.register("video", "testvid", "tests.fakes_video:ClipBackend")
    CRITICS["frames"] = "tests.fakes_video:FrameCritic"
