"""`local:shapes-animate`: clips of the shapes world animated from a source image (a first frame).

This is a layer animator (cut and move), not a learned video model: no network runs. Given the first
frame (composed by the image model from a layout, `agent.core.tracks.first_frame_layout`) and the
prompt's spec (each object's motion, speed, start and end places), it finds each object with the
detector, cuts it out as a soft layer (each pixel's share of the object's colour over the canvas,
`detector.coverage`), fills where it was with the canvas's own background shade field
(`fill.canvas_field`, the removal fill of the edit path), and renders N frames in which each moving
object's layer slides along its own way by a travel drawn from its speed's band
(`agent.core.tracks.plan_travels`: inside the canvas, at its end place, clear of the others all the
way); still objects stay as drawn. A travel that cannot stay inside is clipped at the canvas edge;
objects are drawn largest first, so a smaller one passing is on top and never merged into it.

It animates a source image and does not make clips from text (ModelInfo.clip_from "image"): the
planner composes and approves the first frame first. Out: MP4 (default) or GIF at 8 fps, 64 px
frames upscaled (nearest) to the size asked, as `local:shapes-video` delivers them."""
from __future__ import annotations

import os
import random
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image
from scipy import ndimage

from agent.core.artifacts import atomic_write_bytes, load_image
from agent.core.errors import InputError
from agent.core.protocols import ModelInfo
from agent.core.tracks import Track, plan_travels, ways
from agent.core.types import Artifact, GenerationRequest, SceneSpec
from local_models.shapes import world
from local_models.shapes.detector import Detection, canvas_pixels, detect
from local_models.shapes.fill import canvas_field
from local_models.shapes.video_backend import check_clip
from local_models.video_base import encode

SIZES = [(128, 128), (64, 64), (256, 256)]
FRAMES, DEFAULT_FRAMES = (8, 16), 8
REACH = 2  # px round a detected object that its soft edge (and the glow the image model leaves) reaches


@dataclass
class Layer:
    """One object cut out of the first frame: premultiplied colour and alpha on the 64 px canvas."""
    track: Track
    colour: np.ndarray  # H x W x 3, premultiplied by alpha
    alpha: np.ndarray   # H x W
    cut: np.ndarray     # bool H x W: the pixels it leaves, filled with the canvas

    def at(self, t: float) -> tuple[np.ndarray, np.ndarray]:
        """The layer at clip time t, moved by whole pixels (within half a pixel of its track): every
        frame shows the object exactly as the critic approved it in the still; a sub-pixel shift
        blurs its edge and a small star or a triangle's corner reads as another shape (seen on the bench)."""
        dx = round(self.track.way[0] * self.track.travel * t)
        dy = round(self.track.way[1] * self.track.travel * t)
        return _moved(self.colour, dx, dy), _moved(self.alpha, dx, dy)


def _moved(a: np.ndarray, dx: int, dy: int) -> np.ndarray:
    """`a` moved by (dx, dy) whole pixels; what leaves the canvas is cut off, what comes in is empty."""
    out = np.zeros_like(a)
    h, w = a.shape[:2]
    if abs(dx) >= w or abs(dy) >= h:
        return out
    out[max(dy, 0):h + min(dy, 0), max(dx, 0):w + min(dx, 0)] = a[max(-dy, 0):h - max(dy, 0), max(-dx, 0):w - max(dx, 0)]
    return out


class ShapesAnimateBackend:
    """VideoBackend (image to video) for the shapes world; nothing to load."""

    def __init__(self, name: str = "shapes-animate"):
        self.name = name
        self.info = ModelInfo(name=f"local:{name}", sizes=SIZES, default_steps=None, default_guidance=None,
                              supports_negative=False, max_n=8, clip_from="image",
                              vocabulary=world.vocabulary_text() + "; motion: moving left, right, up or down "
                              "(slowly, quickly), or staying still, from and to places; it animates a first "
                              "frame of the shapes world (a source image), cutting each shape out and moving it",
                              quality_notes="Flat-coloured shapes on a plain background, moved as layers from "
                              "the first frame: judge by every object staying the same shape and colour in every "
                              "frame and moving as asked.", frames=FRAMES, default_frames=DEFAULT_FRAMES)

    def check_inputs(self, request: GenerationRequest) -> tuple[tuple[int, int], int, int, str]:
        if request.source_image is None:
            raise InputError(f"{self.info.name} animates a source image: give it a first frame (an image "
                             "attempt); it does not make clips from text")
        return check_clip(request, self.info)

    def generate(self, request: GenerationRequest, out_dir: Path) -> list[Artifact]:
        size, frames, fps, fmt = self.check_inputs(request)
        spec = _spec_of(request.prompt, self.info.name)
        source = load_image(request.source_image).convert("RGB")
        found = detect(source)
        if not found:
            raise InputError(f"{self.info.name} found no shapes of the shapes world in the source image "
                             f"{Path(request.source_image).name}: nothing to animate")
        parent = Artifact.digest(request.source_image)
        out = []
        for i in range(request.n):
            t0 = time.perf_counter()
            seed = (request.seed + i) % 2**32
            clip, tracks = animate(source, spec, found, frames, random.Random(seed))
            if clip[0].size != size:
                clip = [f.resize(size, Image.Resampling.NEAREST) for f in clip]
            one = request.model_copy(update={"seed": seed, "n": 1, "num_frames": frames, "fps": fps,
                                             "width": size[0], "height": size[1]})
            path = Path(out_dir) / f"{time.strftime('%H%M%S')}-s{seed}-{i}-{os.urandom(3).hex()}.{fmt}"
            atomic_write_bytes(path, encode(clip, fps, fmt))
            meta = {"frames": frames, "fps": fps, "native_size": [world.CANVAS, world.CANVAS], "denoiser_steps": 0,
                    "tracks": [{"object": t.object, "box": [round(v, 1) for v in t.box], "way": list(t.way),
                                "travel": round(t.travel, 1)} for t in tracks]}
            out.append(Artifact(path=path, sha256=Artifact.digest(path), kind="video", request=one, parent=parent,
                                seconds=time.perf_counter() - t0, meta=meta))
        return out


def _spec_of(prompt: str, name: str) -> SceneSpec:
    from agent.core.spec_parser import parse_spec
    spec = parse_spec(prompt)
    if spec is None or not spec.include:
        raise InputError(f"{name} cannot tell from the prompt which shape moves which way: {prompt[:80]!r}")
    return spec


def match(spec: SceneSpec, found: list[Detection]) -> list[tuple[int, Detection]]:
    """Each spec instance's detection: the same kind and colour first, then the same colour, then the
    same kind (the critic approved the first frame, so the first almost always holds); what is left
    over is not the brief's and stays still."""
    free = list(found)
    out = []
    wanted = [k for k, o in enumerate(spec.include) for _ in range(o.count)]
    for rule in (lambda o, d: d.kind == o.cls and (o.color is None or d.color == o.color),
                 lambda o, d: o.color is not None and d.color == o.color, lambda o, d: d.kind == o.cls):
        for k in list(wanted):
            d = next((d for d in free if rule(spec.include[k], d)), None)
            if d is not None:
                out.append((k, d))
                free.remove(d)
                wanted.remove(k)
    return out


def _share(px: np.ndarray, under: np.ndarray, over: np.ndarray) -> np.ndarray:
    """Each pixel's share of colour `over` on top of its own canvas shade `under` (per pixel): its
    position on the line between them (detector.coverage, with a canvas that varies)."""
    v = over - under
    return np.clip(((px - under) * v).sum(-1) / np.maximum((v * v).sum(-1), 1.0), 0.0, 1.0)


def _box(mask: np.ndarray) -> tuple[float, float, float, float]:
    ys, xs = np.nonzero(mask)
    return float(xs.min()), float(ys.min()), float(xs.max() + 1), float(ys.max() + 1)


def animate(source: Image.Image, spec: SceneSpec, found: list[Detection], frames: int,
            rng: random.Random) -> tuple[list[Image.Image], list[Track]]:
    """The clip's 64 px frames, and each matched object's track."""
    px = canvas_pixels(source)
    border = np.concatenate([px[0], px[-1], px[:, 0], px[:, -1]])
    ground = np.median(border, axis=0)
    pairs = match(spec, found)
    tracks = [Track(k, _box(d.mask), ways(spec.include[k])) for k, d in pairs]
    # unmatched shapes are in the way of the tracks too, standing still
    others = [Track(-1, _box(d.mask), (0, 0)) for d in found if all(d is not e for _, e in pairs)]
    plan_travels(spec, tracks + others, rng)
    everything = np.zeros(px.shape[:2], bool)
    for d in found:
        everything |= d.mask
    layers = []
    for t, (_, d) in zip(tracks, pairs):
        if t.way == (0, 0) or t.travel <= 0:
            continue
        others_mask = everything & ~d.mask
        near = ndimage.binary_dilation(d.mask, iterations=REACH) & ~ndimage.binary_dilation(others_mask)
        layers.append((d, t, near))
    if not layers:
        return [Image.fromarray(np.clip(np.rint(px), 0, 255).astype(np.uint8))] * frames, tracks
    cut = np.zeros(px.shape[:2], bool)
    for _, _, near in layers:
        cut |= near
    mask = Image.fromarray((ndimage.binary_dilation(cut) * 255).astype(np.uint8))
    field = canvas_field(Image.fromarray(np.clip(np.rint(px), 0, 255).astype(np.uint8)), mask, ground)
    plate = np.where(np.asarray(mask)[..., None] >= 128, field, px)
    cutouts = []
    for d, t, near in layers:
        colour = np.asarray(d.mean, np.float32)
        # its inside moves as drawn (texture and all); round it, each pixel's share of its colour
        alpha = np.where(d.mask, 1.0, np.where(near, _share(px, field, colour), 0.0)).astype(np.float32)
        own = np.where(d.mask[..., None], px, colour)
        cutouts.append(Layer(t, own * alpha[..., None], alpha, near))
    cutouts.sort(key=lambda layer: -layer.alpha.sum())  # largest first: a smaller one passing is drawn on top
    out = []
    for i in range(frames):
        frame = plate.copy()
        for layer in cutouts:
            premult, alpha = layer.at(i / (frames - 1))
            frame = frame * (1.0 - alpha[..., None]) + premult
        out.append(Image.fromarray(np.clip(np.rint(frame), 0, 255).astype(np.uint8)))
    return out, tracks
