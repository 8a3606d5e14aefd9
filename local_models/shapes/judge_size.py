"""The independent judge's size rule (judge.py), written from the world's own table (world.SIZES):
a shape is the size whose range of box sides its fitted world box is nearest to, and it must be the
size asked. Not the critic's rule: the judge measures the box it re-drew the shape in (judge._fit),
the mean of its width and height, and reads sides between two ranges by the nearer one."""
from __future__ import annotations

from local_models.shapes.world import SIZES


def _distance(size: str, side: float) -> float:
    lo, hi = SIZES[size]
    return max(lo - side, side - hi, 0.0)


def side_of(box) -> float:
    """The side of a fitted world box (x0, y0, x1, y1) on the 64 px canvas: its width and height's mean."""
    return ((box[2] - box[0]) + (box[3] - box[1])) / 2


def size_of(box) -> tuple[str, float]:
    """("small" | "medium" | "large", side) of a fitted world box (x0, y0, x1, y1) on the 64 px canvas."""
    side = side_of(box)
    return min(SIZES, key=lambda size: _distance(size, side)), side


def size_problems(obj, shapes) -> list[str]:
    """Why the shapes standing for `obj` (judge.Seen) are not the size it asks (none when it asks none)."""
    if not obj.size:
        return []
    out = []
    for s in shapes:
        seen, side = size_of(s.box)
        # a side halfway between two ranges (19.5: the 20 px a picture drawn at 256 px reads as, shrunk
        # to 64) is the asked one
        if seen != obj.size and _distance(obj.size, side) > _distance(seen, side):
            lo, hi = SIZES[obj.size]
            out.append(f"the {s.describe()} is {seen} (side {side:.1f} px), not {obj.size} ({lo}-{hi} px)")
    return out
