"""The shapes world with motion: clips of 8 to 16 frames whose objects move left, right, up or down
(or stay still), with captions and their exact `SceneSpec` (each object's `motion` and `speed`).

Pure Python + PIL like `world.py`. One sample is a `Clip`: a background, objects with a start box and
a per-clip displacement, rendered frame by frame with sub-pixel positions (so slow motion is smooth).

Held-out split: `heldout_motion_prompts()` lists motion briefs whose object-and-motion combination
(`motion_key`) the training sampler never produces.
"""
from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass
from functools import lru_cache

from PIL import Image

from agent.core.captions import MOTION_PHRASES, SPEED_WORDS, describe, motion_prompt
# the one table of the world's directions and travel bands (px of the 64 canvas over a whole clip)
from agent.core.tracks import DIRECTIONS, TRAVEL
from agent.core.types import ObjectSpec, SceneSpec
from local_models.shapes import world

SIDES = (12, 17)  # object sides: small and medium only, so there is room to move
FRAMES = (8, 16)
# words the image model never saw; the video model's tokenizer gets each as one token
MOTION_WORDS = ["moving", "moves", "move", "still", "stays", "staying", "while", "up", "down", "slowly",
                "quickly", "upwards", "downwards", "leftwards", "rightwards", "sliding", "slides", "goes",
                "clip", "video"]
VERBS = [("moving", 0.7), ("sliding", 0.15), ("goes", 0.15)]
DIRECTION_WORDS = {"right": ["to the right", "right", "rightwards"], "left": ["to the left", "left", "leftwards"],
                   "up": ["up", "upwards"], "down": ["down", "downwards"]}


@dataclass
class Mover:
    kind: str
    color: str
    box: tuple[float, float, float, float]  # where it starts, on the 64x64 canvas
    motion: str  # a key of DIRECTIONS
    speed: str | None  # None, "slow" or "fast"
    travel: float  # pixels over the whole clip

    def box_at(self, t: float) -> tuple[float, float, float, float]:
        """Its box at clip time t in [0, 1]."""
        dx, dy = DIRECTIONS[self.motion]
        d = self.travel * t
        x0, y0, x1, y1 = self.box
        return x0 + dx * d, y0 + dy * d, x1 + dx * d, y1 + dy * d


@dataclass
class Clip:
    background: str
    movers: list[Mover]
    spec: SceneSpec
    caption: str

    def scene_at(self, t: float) -> world.Scene:
        return world.Scene(self.background, [world.Obj(m.kind, m.color, m.box_at(t)) for m in self.movers],
                           self.spec, self.caption)

    def frames(self, n: int, size: int = 64) -> list[Image.Image]:
        return [world.render(self.scene_at(i / (n - 1)), size) for i in range(n)]


def spec_of(movers: list[Mover]) -> SceneSpec:
    return SceneSpec(include=[ObjectSpec(cls=m.kind, color=m.color, motion=m.motion,
                                         speed=m.speed if m.motion != "still" else None) for m in movers])


def motion_key(spec: SceneSpec) -> str:
    """What is held out: the objects with their motions, in any order, with any phrasing."""
    return "|".join(sorted(f"{o.color} {o.cls} {o.motion} {o.speed or ''}".strip() for o in spec.include))


def _h(text: str) -> int:
    return int(hashlib.sha256(text.encode()).hexdigest()[:8], 16)


def is_heldout(spec: SceneSpec) -> bool:
    """About one combination in six is never trained on (chosen by hash, so stable)."""
    return _h("motion:" + motion_key(spec)) % 6 == 0


def _track_clear(movers: list[Mover], frames: int = 9, gap: float = 3) -> bool:
    """Every object stays inside the canvas (1 px margin) and never touches another at any time."""
    for i in range(frames):
        boxes = [m.box_at(i / (frames - 1)) for m in movers]
        for b in boxes:
            if b[0] < 1 or b[1] < 1 or b[2] > world.CANVAS - 1 or b[3] > world.CANVAS - 1:
                return False
        for a in range(len(boxes)):
            for b in range(a + 1, len(boxes)):
                p, q = boxes[a], boxes[b]
                if not (p[2] + gap <= q[0] or q[2] + gap <= p[0] or p[3] + gap <= q[1] or q[3] + gap <= p[1]):
                    return False
    return True


def place(rng: random.Random, objects: list[tuple[str, str, str, str | None]], tries: int = 300) -> list[Mover] | None:
    """Start boxes for (kind, color, motion, speed) objects whose whole tracks fit and stay apart."""
    for _ in range(tries):
        movers = []
        for kind, color, motion, speed in objects:
            side = rng.randint(*SIDES)
            travel = rng.uniform(*TRAVEL[speed]) if motion != "still" else 0.0
            dx, dy = DIRECTIONS[motion]
            # room for the track: the start is drawn from the part of the canvas it can leave from
            lo_x, hi_x = 1 + max(0, -dx) * travel, world.CANVAS - 1 - side - max(0, dx) * travel
            lo_y, hi_y = 1 + max(0, -dy) * travel, world.CANVAS - 1 - side - max(0, dy) * travel
            if hi_x < lo_x or hi_y < lo_y:
                break
            x, y = rng.uniform(lo_x, hi_x), rng.uniform(lo_y, hi_y)
            movers.append(Mover(kind, color, (x, y, x + side, y + side), motion, speed, travel))
        if len(movers) == len(objects) and _track_clear(movers):
            return movers
    return None


def caption_for(rng: random.Random, movers: list[Mover], background: str, canonical_p: float = 0.5) -> str:
    """The canonical phrasing (`motion_prompt`) half the time, otherwise varied verbs and word order."""
    spec = spec_of(movers)
    bg = background if rng.random() < 0.3 else None
    if rng.random() < canonical_p:
        return motion_prompt(spec, bg)
    parts = []
    for m, o in zip(movers, spec.include):
        name = describe(o)
        if m.motion == "still":
            parts.append(f"{name} {rng.choice(['stays still', 'staying still', 'still'])}")
            continue
        verb = world._pick(rng, VERBS)
        text = f"{name} {verb} {rng.choice(DIRECTION_WORDS[m.motion])}"
        parts.append(f"{text} {SPEED_WORDS[m.speed]}" if m.speed else text)
    if len(parts) == 2 and movers[1].motion == "still" and rng.random() < 0.5:
        body = f"{parts[0]} while {parts[1]}"
    else:
        body = " and ".join(parts)
    body = rng.choice(["", "", "a video of ", "a clip of "]) + body
    return f"{body} on {world._article(bg)} {bg} background" if bg else body


def _objects(rng: random.Random) -> list[tuple[str, str, str, str | None]]:
    n = 1 if rng.random() < 0.45 else 2
    out = []
    for i in range(n):
        motion = rng.choice(["right", "left", "up", "down"]) if i == 0 else \
            rng.choice(["right", "left", "up", "down", "still", "still"])
        speed = None if motion == "still" else world._pick(rng, [(None, 0.7), ("slow", 0.15), ("fast", 0.15)])
        while True:
            kind, color = rng.choice(world.SHAPES), rng.choice(list(world.COLORS))
            if all((kind, color) != (k, c) for k, c, _, _ in out):
                break
        out.append((kind, color, motion, speed))
    return out


def sample_clip(rng: random.Random) -> Clip:
    """One training clip: 1 or 2 objects, the first always moving, never a held-out combination."""
    while True:
        objects = _objects(rng)
        if is_heldout(spec_of([Mover(k, c, (0, 0, 1, 1), m, s, 0) for k, c, m, s in objects])):
            continue
        movers = place(rng, objects)
        if movers is None:
            continue
        background = rng.choice(list(world.BACKGROUNDS))
        return Clip(background, movers, spec_of(movers), caption_for(rng, movers, background))


OPPOSITE = {"right": "left", "left": "right", "up": "down", "down": "up", "still": "still"}


def reversed_clip(rng: random.Random, clip: Clip) -> Clip | None:
    """The same clip played backwards: each object starts where it ended and moves the opposite way,
    with a caption of its own; None when that combination is held out. Training pairs a clip with it
    under the same noise, so only the caption tells the two directions apart (train_video.py)."""
    movers = [Mover(m.kind, m.color, m.box_at(1.0), OPPOSITE[m.motion], m.speed, m.travel) for m in clip.movers]
    spec = spec_of(movers)
    if is_heldout(spec):
        return None
    return Clip(clip.background, movers, spec, caption_for(rng, movers, clip.background))


@lru_cache(maxsize=4)
def heldout_motion_prompts(n: int = 60, seed: int = 0) -> tuple[tuple[str, SceneSpec], ...]:
    """`n` held-out motion briefs, half one object and half two (canonical phrasing), stable."""
    rng = random.Random(f"heldout-motion-{seed}")
    out: list[tuple[str, SceneSpec]] = []
    seen: set[str] = set()
    for _ in range(200_000):
        if len(out) == n:
            break
        objects = _objects(rng)
        if (len(objects) == 1) != (len(out) < n // 2):
            continue
        spec = spec_of([Mover(k, c, (0, 0, 1, 1), m, s, 0) for k, c, m, s in objects])
        if not is_heldout(spec) or motion_key(spec) in seen or place(rng, objects) is None:
            continue
        seen.add(motion_key(spec))
        out.append((motion_prompt(spec), spec))
    if len(out) < n:
        raise ValueError(f"only {len(out)} held-out motion briefs exist, not {n}")
    return tuple(out)


def render_spec(rng: random.Random, spec: SceneSpec, frames: int = 8, background: str | None = None) -> list[Image.Image] | None:
    """A correct clip for `spec` (a ground-truth example for critic tests), or None if it does not fit."""
    movers = place(rng, [(o.cls, o.color or "red", o.motion or "still", o.speed) for o in spec.include])
    if movers is None:
        return None
    return Clip(background or rng.choice(list(world.BACKGROUNDS)), movers, spec, "").frames(frames)


__all__ = ["Clip", "Mover", "sample_clip", "reversed_clip", "heldout_motion_prompts", "is_heldout", "motion_key", "render_spec",
           "MOTION_PHRASES", "MOTION_WORDS", "FRAMES"]
