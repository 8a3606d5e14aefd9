"""Places on the canvas, for where a clip's object starts and ends ("from the left edge to the
centre", "ends in the top right corner"): `ObjectSpec.start` and `ObjectSpec.end`.

The canvas is cut into thirds each way; a place is a set of those cells, and an object is at a place
when its centre is in one of them: "left" is the left column (any row), "top" the top row, "center"
the middle cell, "top right" the corner cell. Pure Python: the parser, the checklist, the layout of a
clip's first and last frame and the clip critic all read places from here."""
from __future__ import annotations

PLACES = ("left", "right", "top", "bottom", "center", "top left", "top right", "bottom left", "bottom right")
# (column, row) of the thirds a place asks for; None: any
CELLS: dict[str, tuple[int | None, int | None]] = {
    "left": (0, None), "right": (2, None), "top": (None, 0), "bottom": (None, 2), "center": (1, 1),
    "top left": (0, 0), "top right": (2, 0), "bottom left": (0, 2), "bottom right": (2, 2)}
WORDS = {"left": "the left edge", "right": "the right edge", "top": "the top edge", "bottom": "the bottom edge",
         "center": "the centre", "top left": "the top left corner", "top right": "the top right corner",
         "bottom left": "the bottom left corner", "bottom right": "the bottom right corner"}


def _third(v: float, extent: float) -> int:
    return min(2, max(0, int(3 * v / extent)))


def place_holds(place: str, centre: tuple[float, float], extent: float = 64.0, tolerance: float = 0.0) -> bool:
    """Whether a centre (x, y) on a canvas of side `extent` is at `place`: in one of its thirds, each
    widened by `tolerance` on every side."""
    col, row = CELLS[place]

    def within(v: float, k: int | None) -> bool:
        return k is None or k * extent / 3 - tolerance <= v <= (k + 1) * extent / 3 + tolerance
    return within(centre[0], col) and within(centre[1], row)


def preposition(place: str) -> str:
    """"at the left edge", "in the top right corner", "in the centre"."""
    return f"{'at' if place in ('left', 'right', 'top', 'bottom') else 'in'} {WORDS[place]}"


def overlap(a: str, b: str) -> bool:
    """Whether one cell is at both places ("left" and "top left" share the top left cell)."""
    (ca, ra), (cb, rb) = CELLS[a], CELLS[b]
    return (ca is None or cb is None or ca == cb) and (ra is None or rb is None or ra == rb)


def contradiction(motion: str | None, start: str | None, end: str | None) -> str | None:
    """Why a written motion and places cannot all hold, in words, or None: a direction opposite to the
    one the places imply ("moving left" from the left edge to the centre), one place at the wrong side
    of its direction ("moving up ... ending at the bottom edge"), or an object that stays still yet
    starts and ends at places no cell shares."""
    if motion == "still":
        if start and end and not overlap(start, end):
            return f"it stays still, yet it starts {preposition(start)} and ends {preposition(end)}"
        return None
    if not (motion and start and end):
        return _edge_contradiction(motion, start, end)
    (c0, r0), (c1, r1) = CELLS[start], CELLS[end]
    dx = c1 - c0 if c0 is not None and c1 is not None else 0
    dy = r1 - r0 if r0 is not None and r1 is not None else 0
    along, across = (dx, dy) if motion in ("left", "right") else (dy, dx)
    sign = 1 if motion in ("right", "down") else -1
    if along * sign < 0 or across:  # backwards, or a whole third across its way (a diagonal)
        way = direction_between(start, end) or " and ".join(
            w for w, d in ((("right" if dx > 0 else "left"), dx), (("down" if dy > 0 else "up"), dy)) if d)
        return f"it moves {motion}, yet from {WORDS[start]} to {WORDS[end]} is {way}"
    return _edge_contradiction(motion, start, end)


def _edge_contradiction(motion: str | None, start: str | None, end: str | None) -> str | None:
    """A place at the wrong side of the way one direction goes, whatever the other place is: it
    starts at the edge it moves towards (no room to move: "moving right, starting at the right edge")
    or ends at the edge it moves away from ("moving up, ending at the bottom edge")."""
    if motion not in ("left", "right", "up", "down"):
        return None
    axis = 0 if motion in ("left", "right") else 1
    ahead = 2 if motion in ("right", "down") else 0  # the third it moves towards
    if start and CELLS[start][axis] == ahead:
        return f"it moves {motion}, yet it starts {preposition(start)}, with no room to move {motion}"
    if end and CELLS[end][axis] == 2 - ahead:
        return f"it moves {motion}, yet it ends {preposition(end)}, the side it moves {motion} from"
    return None


def cell_at(centre: tuple[float, float], extent: float = 64.0) -> str:
    """The place of the one third a centre is in: "top left", "left" (the middle of the left column), "center"."""
    col, row = _third(centre[0], extent), _third(centre[1], extent)
    cell = {(1, 1): "center", (0, 1): "left", (2, 1): "right", (1, 0): "top", (1, 2): "bottom"}.get((col, row))
    return cell or f"{('top', '', 'bottom')[row]} {('left', '', 'right')[col]}"


def place_at(centre: tuple[float, float], extent: float = 64.0) -> str:
    """Where a centre is, in words: "the top left corner", "the left edge", "the centre"."""
    return WORDS[cell_at(centre, extent)]


def target(place: str, side: float, extent: float = 64.0, margin: float = 1.0) -> tuple[float | None, float | None]:
    """Where to put the centre of an object of `side` at `place` (None on a free axis): against the
    edge for an edge or corner (with `margin`), the middle for the centre."""
    col, row = CELLS[place]

    def at(k: int | None) -> float | None:
        if k is None:
            return None
        return (margin + side / 2, extent / 2, extent - margin - side / 2)[k]
    return at(col), at(row)


def direction_between(start: str | None, end: str | None) -> str | None:
    """The one direction (right, left, up, down) that goes from `start` to `end`, or None when they do
    not decide one (a diagonal, the same place, a place missing)."""
    if start is None or end is None:
        return None
    (c0, r0), (c1, r1) = CELLS[start], CELLS[end]
    dx = c1 - c0 if c0 is not None and c1 is not None else 0
    dy = r1 - r0 if r0 is not None and r1 is not None else 0
    if (dx == 0) == (dy == 0):
        return None
    return ("right" if dx > 0 else "left") if dx else ("down" if dy > 0 else "up")


def implied_ways(start: str | None, end: str | None) -> tuple[str, ...]:
    """The directions (vertical first, then horizontal) that take an object from `start` to `end`
    when no direction is written: ("up", "right") from the bottom left corner to the top right one.
    An axis only one place names goes from or to the middle of it: starting at the left edge goes
    right, ending in the top right corner goes up and right. () where the places decide none (the
    same place, or only the centre)."""
    def step(a: int | None, b: int | None) -> int:
        if a is not None and b is not None:
            return b - a
        return (1 - a) if a is not None else (b - 1) if b is not None else 0
    (c0, r0), (c1, r1) = CELLS[start] if start else (None, None), CELLS[end] if end else (None, None)
    dx, dy = step(c0, c1), step(r0, r1)
    return tuple(w for w, d in ((("down" if dy > 0 else "up"), dy), (("right" if dx > 0 else "left"), dx)) if d)
