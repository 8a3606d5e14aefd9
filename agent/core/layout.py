"""Layouts: one box per object instance, planned before drawing (LMD-style), so that counts and
relations hold by GenEval's rule before a single pixel is made. A back end that can inpaint
composes the image box by box; any other gets the layout as words in its prompt."""
from __future__ import annotations

import random
from typing import TYPE_CHECKING

from pydantic import BaseModel, Field

from agent.core.geometry import relation_holds
from agent.core.sizes import SIZES, Size

if TYPE_CHECKING:
    from agent.core.types import SceneSpec

SIDE_BY_COUNT = {1: 22, 2: 20, 3: 17, 4: 15}  # box side on a 64-unit canvas, by objects in the scene
# a sized object's box side (64 units): the sides of the world's range for its word (agent.core.sizes)
# farthest from the medium ones, as the inpainting model draws a shape a pixel or two off its box, large
# ones smaller (measured by the judge on the embedded model: small circles in boxes of 12 came out
# 11.1-12.6 px, in 13 11.6-14.1; large squares in 22 19.6-21.0, in 23 19.2-22.4)
SIDES_BY_SIZE = {"small": range(SIZES["small"][0], SIZES["small"][0] + 2),
                 "large": range(SIZES["large"][1], SIZES["large"][1] + 1)}
# ... but a small star gets the range's largest side: its thin points vanish first, and in a box of 13 the model
# drew a blob the critic reads as a circle (36 small stars on the three backgrounds, judged by judge:shapes and
# approved by the critic both: 14 in boxes of 13, 17 in boxes of 14)
SIDES_BY_KIND = {("star", "small"): range(SIZES["small"][1], SIZES["small"][1] + 1)}


def box_sides(kind: str, size: str) -> range:
    """The box sides (64 units) a `size` object of `kind` is drawn in."""
    return SIDES_BY_KIND.get((kind, size), SIDES_BY_SIZE[size])
GAP = 6  # free pixels between boxes (on 64 units): their inpainting masks must not touch
EDGE = 2  # free pixels between a box and the canvas edge (the world draws its scenes so)


class LayoutBox(BaseModel):
    """One object instance: what it is and where, as x0, y0, x1, y1 in the layout's pixels."""

    object: int = Field(description="index of the object in the spec's include list")
    kind: str = Field(description="the object's class, e.g. circle")
    color: str | None = None
    size: Size | None = Field(None, description="the object's size word, when the brief gives one")
    box: tuple[int, int, int, int]

    def describe(self) -> str:
        from agent.core.captions import noun
        return " ".join(x for x in (self.size, noun(self.kind, self.color)) if x)


class Layout(BaseModel):
    """Boxes on a width x height canvas (the image's size, or any size: `scaled` maps it)."""

    width: int = Field(64, ge=8, le=8192)
    height: int = Field(64, ge=8, le=8192)
    boxes: list[LayoutBox] = Field(default_factory=list)
    background: str | None = Field(None, description="the canvas colour (the brief's background); "
                                   "None: the back end's choice")

    def scaled(self, width: int, height: int) -> "Layout":
        sx, sy = width / self.width, height / self.height
        return Layout(width=width, height=height, background=self.background, boxes=[
            b.model_copy(update={"box": (round(b.box[0] * sx), round(b.box[1] * sy),
                                         round(b.box[2] * sx), round(b.box[3] * sy))})
            for b in self.boxes])

    def problems(self, spec: "SceneSpec | None") -> list[str]:
        """Why this layout cannot satisfy `spec` (empty when it can): counts, kinds and colours,
        relations by GenEval's rule, overlaps, boxes outside the canvas."""
        out = []
        for i, b in enumerate(self.boxes):
            x0, y0, x1, y1 = b.box
            if not (0 <= x0 < x1 <= self.width and 0 <= y0 < y1 <= self.height):
                out.append(f"box {i} ({b.describe()}) {list(b.box)} is not inside the {self.width}x{self.height} canvas")
            for j in range(i):
                if _overlap(b.box, self.boxes[j].box):
                    out.append(f"box {i} ({b.describe()}) overlaps box {j} ({self.boxes[j].describe()})")
        if spec is None:
            return out
        if spec.background and self.background not in (None, spec.background):
            out.append(f"the layout's background is {self.background}; the brief asks for {spec.background}")
        for k, obj in enumerate(spec.include):
            mine = [b for b in self.boxes if b.object == k]
            if len(mine) != obj.count:
                out.append(f"{obj.describe()}: the layout has {len(mine)} boxes for it, not {obj.count}")
            for b in mine:
                if b.kind != obj.cls or (obj.color and b.color != obj.color):
                    out.append(f"a box for {obj.describe()} is labelled {b.describe()}")
                side = max((b.box[2] - b.box[0]) * 64 / self.width, (b.box[3] - b.box[1]) * 64 / self.height)
                if obj.size and not SIZES[obj.size][0] <= round(side) <= SIZES[obj.size][1]:
                    out.append(f"a box for {obj.describe()} is {side:.0f} units wide on a 64-unit canvas; "
                               f"a {obj.size} one is {SIZES[obj.size][0]}-{SIZES[obj.size][1]}")
            if obj.position:
                rel, j = obj.position
                for a in mine:
                    for other in (b for b in self.boxes if b.object == j):
                        if not relation_holds(rel, a.box, other.box):
                            out.append(f"the {a.describe()} at {list(a.box)} is not {rel} "
                                       f"the {other.describe()} at {list(other.box)}")
        strays = [b for b in self.boxes if not 0 <= b.object < len(spec.include)]
        out += [f"box for object {b.object} ({b.describe()}) is not in the spec" for b in strays]
        for ex in spec.exclude:
            if sum(b.kind == ex.cls and (ex.color is None or b.color == ex.color) for b in self.boxes) >= ex.count:
                out.append(f"the layout has {ex.count} or more {ex.describe()}, which the brief excludes")
        return out

    def groups(self) -> list[list[LayoutBox]]:
        """Boxes of the same kind and colour together, in order of first appearance: one inpainting
        pass each."""
        seen: dict[tuple, list[LayoutBox]] = {}
        for b in self.boxes:
            seen.setdefault((b.kind, b.color, b.size), []).append(b)
        return list(seen.values())

    def words(self) -> str:
        """The layout for a model that takes no boxes: 'a red circle on the left, a blue square on the right'."""
        return ", ".join(f"{'an' if b.describe()[0] in 'aeiou' else 'a'} {b.describe()} {self._where(b.box)}"
                         for b in self.boxes)

    def _where(self, box) -> str:
        cx, cy = (box[0] + box[2]) / 2 / self.width, (box[1] + box[3]) / 2 / self.height
        col = "left" if cx < 0.4 else "right" if cx > 0.6 else ""
        row = "top" if cy < 0.4 else "bottom" if cy > 0.6 else ""
        return f"at the {'-'.join(filter(None, (row, col)))}" if row or col else "in the centre"


def plan_layout(spec: "SceneSpec", seed: int = 0, width: int = 64, height: int = 64,
                fixed: list[LayoutBox] = (), tries: int = 400, gap: int = GAP, edge: int = EDGE) -> Layout | None:
    """A layout satisfying `spec` by rules: boxes sized for the number of objects (or for the object's
    size word: box_sides), placed at random
    (seeded) where every relation holds clearly (by GenEval's rule with room to spare) and no two
    boxes touch. `fixed` boxes (in width x height pixels) are already there, e.g. objects a critic
    saw: only the instances still missing are placed, around them (object -1: in the way, nothing
    else; `gap`: free pixels between boxes, `edge` between a box and the canvas edge, 64-unit canvas).
    Returns the new boxes and the fixed ones, or None when nothing fits."""
    rng = random.Random(seed)
    unit = 64
    placed = Layout(width=width, height=height, boxes=list(fixed)).scaled(unit, unit).boxes
    have = {k: sum(b.object == k for b in placed) for k in range(len(spec.include))}
    items = [(k, o) for k, o in enumerate(spec.include) for _ in range(max(0, o.count - have[k]))]
    total = sum(o.count for o in spec.include) + sum(b.object < 0 for b in placed)
    # anchors first: every object placed relative to another finds it already placed
    items.sort(key=lambda ko: ko[1].position is not None)
    side = SIDE_BY_COUNT.get(total, max(8, int(64 / (max(total, 1) ** 0.5) * 0.55)))
    for _ in range(tries if len(items) > 1 else 1):  # one item: a single search is exhaustive
        boxes: list[LayoutBox] = list(placed)
        for k, obj in items:
            box = _place(rng, side, unit, boxes, k, obj, spec, gap, edge)
            if box is None:
                break
            boxes.append(LayoutBox(object=k, kind=obj.cls, color=obj.color, size=obj.size, box=box))
        else:
            return Layout(width=unit, height=unit, boxes=boxes, background=spec.background).scaled(width, height)
    return None


def _place(rng, side, unit, boxes, k, obj, spec, gap=GAP, edge=EDGE):
    """The first free spot, in random order, on a 2-pixel grid (every spot is tried once), at least
    `edge` pixels inside the canvas (EDGE: the shapes model was trained so, and draws a shape pressed
    against the edge cut off or pinched)."""
    s = rng.choice(box_sides(obj.cls, obj.size)) if obj.size else max(8, side + rng.randint(-2, 2))
    spots = [(x, y) for x in range(edge, unit - s - edge + 1, 2) for y in range(edge, unit - s - edge + 1, 2)]
    rng.shuffle(spots)
    for x0, y0 in spots:
        box = (x0, y0, x0 + s, y0 + s)
        if any(_overlap(box, b.box, gap) for b in boxes):
            continue
        if not all(_clear(rel, box, b.box) for rel, b in _relations(k, obj, spec, boxes)):
            continue
        return box
    return None


def _relations(k, obj, spec, boxes):
    """(relation, placed box) pairs the box for object k must satisfy, both directions."""
    inverse = {"left of": "right of", "right of": "left of", "above": "below", "below": "above"}
    out = []
    for b in boxes:
        if b.object < 0:
            continue
        if obj.position and obj.position[1] == b.object:
            out.append((obj.position[0], b))
        other = spec.include[b.object]
        if other.position and other.position[1] == k:
            out.append((inverse[other.position[0]], b))
    return out


def _clear(rel: str, box, other) -> bool:
    """The relation holds with room to spare: by GenEval's rule at a stricter threshold, with the
    centres well apart along the relation's axis."""
    if not relation_holds(rel, box, other, threshold=0.25):
        return False
    dx = abs((box[0] + box[2]) - (other[0] + other[2])) / 2
    dy = abs((box[1] + box[3]) - (other[1] + other[3])) / 2
    main, cross = (dx, dy) if rel in ("left of", "right of") else (dy, dx)
    return main >= 0.9 * (box[2] - box[0]) and cross <= 0.9 * main


def _overlap(a, b, gap: int = 0) -> bool:
    return not (a[2] + gap <= b[0] or b[2] + gap <= a[0] or a[3] + gap <= b[1] or b[3] + gap <= a[1])
