"""Where a clip's objects go, on the world's 64 px canvas: the one table of its directions and travel
bands (local_models/shapes/motion.py draws its training clips from it), each object's track from
where it starts (`plan_travels`), and a first frame's layout with room for every track
(`first_frame_layout`). Used by the offline planner (the first frame of a clip whose video model
animates a source image, issue 26 item 5) and by `local:shapes-animate` (how far each object goes).
Pure Python."""
from __future__ import annotations

import random
from dataclasses import dataclass

from agent.core.places import implied_ways, place_holds
from agent.core.types import ObjectSpec, SceneSpec

CANVAS = 64
DIRECTIONS = {"right": (1, 0), "left": (-1, 0), "up": (0, -1), "down": (0, 1), "still": (0, 0)}
# how far an object travels over the whole clip, in pixels of the 64x64 canvas, whatever its length
TRAVEL = {"slow": (9, 13), None: (17, 24), "fast": (28, 33)}
MARGIN = 2.0  # px an object's box keeps from the canvas edge all along its track (the world's stills keep 2)
GAP = 3.0     # px between two objects' boxes at every moment
FIRST_FRAME_SIDES = (14, 17)  # box sides of a first frame's objects with no size word: small to medium, room to move


def ways(obj: ObjectSpec) -> tuple[int, int]:
    """The (dx, dy) unit steps of an object's way: its written motion, else the way its start and end
    places go (a diagonal moves on both axes); (0, 0) for one that stays still."""
    if obj.motion:
        return DIRECTIONS.get(obj.motion, (0, 0))
    if not (obj.start or obj.end):
        return (0, 0)
    dx = dy = 0
    for w in implied_ways(obj.start, obj.end):
        dx, dy = dx + DIRECTIONS[w][0], dy + DIRECTIONS[w][1]
    return dx, dy


def still_spec(spec: SceneSpec) -> SceneSpec:
    """The spec of a clip's first frame as a still: the same objects, counts, colours, sizes,
    relations and background, without motion, speed or places (no still can show those)."""
    return spec.model_copy(update={"include": [o.model_copy(update={"motion": None, "speed": None, "start": None,
                                                                    "end": None}) for o in spec.include]})


@dataclass
class Track:
    object: int                             # index into spec.include
    box: tuple[float, float, float, float]  # where it starts, on the 64 px canvas
    way: tuple[int, int]
    travel: float = 0.0                     # px over the whole clip

    def box_at(self, t: float) -> tuple[float, float, float, float]:
        dx, dy = self.way[0] * self.travel * t, self.way[1] * self.travel * t
        x0, y0, x1, y1 = self.box
        return x0 + dx, y0 + dy, x1 + dx, y1 + dy


def _inside(b, margin: float = MARGIN) -> bool:
    return b[0] >= margin and b[1] >= margin and b[2] <= CANVAS - margin and b[3] <= CANVAS - margin


def _centre(b) -> tuple[float, float]:
    return (b[0] + b[2]) / 2, (b[1] + b[3]) / 2


def _apart(p, q, gap: float = GAP) -> bool:
    return p[2] + gap <= q[0] or q[2] + gap <= p[0] or p[3] + gap <= q[1] or q[3] + gap <= p[1]


def _fits(track: Track, obj: ObjectSpec) -> bool:
    """Inside the canvas from start to end, starting and ending at the places asked (if any)."""
    if not (_inside(track.box_at(0.0)) and _inside(track.box_at(1.0))):
        return False
    if obj.start and not place_holds(obj.start, _centre(track.box_at(0.0)), CANVAS):
        return False
    return not (obj.end and not place_holds(obj.end, _centre(track.box_at(1.0)), CANVAS))


def _clear(tracks: list[Track], samples: int = 9) -> bool:
    for i in range(samples):
        boxes = [t.box_at(i / (samples - 1)) for t in tracks]
        if any(not _apart(boxes[a], boxes[b]) for a in range(len(boxes)) for b in range(a)):
            return False
    return True


def plan_travels(spec: SceneSpec, tracks: list[Track], rng: random.Random) -> bool:
    """Each moving track's travel, drawn from its speed's band (TRAVEL) among those that keep it inside
    the canvas, at its end place, and clear of every other object at every moment; set in place.
    False when some moving object has no such travel: it then goes its band's middle (the nearest
    that stays inside, if any), and the caller's frames clip it at the edge or let it pass another."""
    ok = True
    for t in tracks:
        if t.way == (0, 0):
            continue
        obj = spec.include[t.object]
        lo, hi = TRAVEL[obj.speed]
        options = [lo + (hi - lo) * k / 16 for k in range(17)]
        rng.shuffle(options)
        others = [u for u in tracks if u is not t]
        good = next((d for d in options if _fits(_with(t, d), obj) and _clear([_with(t, d), *others])), None)
        if good is None:
            ok = False
            inside = [d for d in options if _inside(_with(t, d).box_at(1.0))]
            good = min(inside or [(lo + hi) / 2], key=lambda d: abs(d - (lo + hi) / 2))
        t.travel = good
    return ok


def _with(t: Track, travel: float) -> Track:
    return Track(t.object, t.box, t.way, travel)


def first_frame_layout(spec: SceneSpec, seed: int = 0, width: int = CANVAS, height: int = CANVAS,
                       tries: int = 400):
    """A layout (agent.core.layout.Layout, in width x height pixels) of a clip's first frame: one box
    per object instance, at its start place, with room ahead for its whole track (some travel in its
    speed's band that ends at its end place, inside the canvas, clear of every other object all the
    way). None when no such layout is found."""
    from agent.core.layout import Layout, LayoutBox, box_sides

    rng = random.Random(f"first-frame-{seed}")
    items = [k for k, o in enumerate(spec.include) for _ in range(o.count)]
    for _ in range(tries):
        tracks: list[Track] = []
        for k in items:
            obj = spec.include[k]
            side = rng.choice(box_sides(obj.cls, obj.size)) if obj.size else rng.randint(*FIRST_FRAME_SIDES)
            x, y = rng.uniform(MARGIN, CANVAS - MARGIN - side), rng.uniform(MARGIN, CANVAS - MARGIN - side)
            x, y = round(x), round(y)
            tracks.append(Track(k, (x, y, x + side, y + side), ways(obj)))
        if any(not _apart(a.box, b.box, 6) for i, a in enumerate(tracks) for b in tracks[:i]):
            continue  # the image path's own gap between boxes: their inpainting masks must not touch
        if any(not _fits(t, spec.include[t.object]) for t in tracks if t.way == (0, 0)):
            continue
        if not plan_travels(spec, tracks, random.Random(rng.random())):
            continue
        boxes = [LayoutBox(object=t.object, kind=spec.include[t.object].cls, color=spec.include[t.object].color,
                           size=spec.include[t.object].size, box=tuple(int(v) for v in t.box)) for t in tracks]
        layout = Layout(width=CANVAS, height=CANVAS, boxes=boxes, background=spec.background)
        if not layout.problems(still_spec(spec)):
            return layout.scaled(width, height)
    return None
