"""A clip's frames, read for judging: GIF (Pillow) or MP4 and other containers (PyAV), and which of
them to look at. Used by critic:detector (local_models/shapes/video_critic.py) and critic:vlm."""
from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TypeVar

from PIL import Image, ImageSequence

T = TypeVar("T")
MAX_FRAMES = 16      # frames read from a clip (a clip this long or shorter is read whole)
VIDEO_SUFFIXES = (".gif", ".mp4", ".mov", ".webm", ".mkv", ".avi")
CHROMA_SIGMA = 8.0   # luma levels: chroma samples this much darker or lighter than a pixel count little


def is_gif(path: str | Path) -> bool:
    with open(path, "rb") as f:
        return f.read(6) in (b"GIF87a", b"GIF89a")


def read_frames(path: str | Path, fps: float | None = None) -> tuple[list[Image.Image], float | None]:
    """A clip's frames (RGB) and its frame rate (`fps` when given). A GIF's frames that Pillow merged
    when writing because they were identical (one frame shown for two frames' time) are repeated back,
    by their durations."""
    if is_gif(path):
        with Image.open(path) as im:
            frames, durations = [], []
            for frame in ImageSequence.Iterator(im):
                frames.append(frame.convert("RGB"))
                durations.append(int(frame.info.get("duration") or 0))
        step = 1000 / fps if fps else min((d for d in durations if d > 0), default=0)
        if step <= 0:
            return frames, fps
        return [f for f, d in zip(frames, durations) for _ in range(max(1, round(d / step)))], fps or 1000 / step
    import av

    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        rate = float(stream.average_rate) if stream.average_rate else None
        frames = [_rgb(frame) for frame in container.decode(stream)]
    return frames, fps or rate


def read_sampled(path: str | Path, k: int = MAX_FRAMES, fps: float | None = None
                 ) -> tuple[list[tuple[int, Image.Image]], int, float | None]:
    """The frames `sample_indices` picks of a clip, as (index, RGB frame), with the clip's frame count
    and rate. An MP4 is decoded in order (its frames depend on earlier ones) but only the picked
    frames are converted to RGB and kept, so a long clip costs little memory and time."""
    if is_gif(path):
        frames, rate = read_frames(path, fps)
        return sample_frames(frames, k), len(frames), rate
    import av

    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        rate = fps or (float(stream.average_rate) if stream.average_rate else None)
        if not stream.frames:  # a container that does not say how many: keep the raw frames, pick after
            raw = list(container.decode(stream))
            return [(i, _rgb(raw[i])) for i in sample_indices(len(raw), k)], len(raw), rate
        wanted = set(sample_indices(stream.frames, k))
        picked, n = [], 0
        for n, frame in enumerate(container.decode(stream), 1):
            if n - 1 in wanted:
                picked.append((n - 1, _rgb(frame)))
    if n != stream.frames:  # the header's count was wrong: pick again from what was decoded
        frames, _ = read_frames(path, fps)
        return sample_frames(frames, k), len(frames), rate
    return picked, n, rate


def _rgb(frame) -> Image.Image:
    """A decoded frame in RGB. H.264 keeps colour (4:2:0) at half the resolution: plain upsampling
    smears a small shape's colour into a blocky blob (a circle reads as a square). Here each pixel
    takes the colour of the nearby chroma samples whose own luma is like its luma (joint bilateral
    upsampling), so colour follows the luma's full-resolution outline; BT.601, limited range."""
    if frame.format.name != "yuv420p" or frame.width % 2 or frame.height % 2:
        return frame.to_image().convert("RGB")
    import numpy as np

    h, w = frame.height, frame.width
    planes = frame.to_ndarray(format="yuv420p").astype(np.float32)
    y = planes[:h]
    u, v = planes[h:].reshape(2, h // 2, w // 2)  # U then V, each h/2 x w/2
    guide = y.reshape(h // 2, 2, w // 2, 2).mean((1, 3))  # the luma each chroma sample covers
    u, v, guide = (np.pad(a, 1, mode="edge") for a in (u, v, guide))
    yy, xx = np.mgrid[0:h, 0:w]
    cy, cx = yy // 2 + 1, xx // 2 + 1  # the chroma sample a pixel lies in (padded coordinates)
    num_u, num_v, den = np.zeros((h, w), np.float32), np.zeros((h, w), np.float32), np.zeros((h, w), np.float32)
    for dy in (-1, 0, 1):
        for dx in (-1, 0, 1):
            sy, sx = cy + dy, cx + dx
            near = ((yy + 0.5) / 2 - (sy - 0.5)) ** 2 + ((xx + 0.5) / 2 - (sx - 0.5)) ** 2
            weight = np.exp(-near / 0.5 - (y - guide[sy, sx]) ** 2 / (2 * CHROMA_SIGMA ** 2))
            num_u += weight * u[sy, sx]
            num_v += weight * v[sy, sx]
            den += weight
    luma = (y - 16) * 255 / 219
    cb, cr = (num_u / den - 128) * 255 / 224, (num_v / den - 128) * 255 / 224
    rgb = np.stack([luma + 1.402 * cr, luma - 0.344136 * cb - 0.714136 * cr, luma + 1.772 * cb], -1)
    return Image.fromarray(np.clip(rgb + 0.5, 0, 255).astype(np.uint8))


def sample_indices(n: int, k: int = MAX_FRAMES) -> list[int]:
    """Which of n frames to look at: all when n <= k, else k: the first, the last and evenly between."""
    if n <= k:
        return list(range(n))
    if k <= 1:
        return [0]
    return sorted({round(i * (n - 1) / (k - 1)) for i in range(k)})


def sample_frames(frames: Sequence[T], k: int = MAX_FRAMES) -> list[tuple[int, T]]:
    """(index, frame) for the frames `sample_indices` picks."""
    return [(i, frames[i]) for i in sample_indices(len(frames), k)]
