"""Faint boxes in the background that `explain`'s residual (RESIDUAL levels) is too coarse for: what a
composition or a removal leaves behind (issue 22).

- a faint patch: a solid, box-like part of the background a few levels off the canvas colour (an
  inpainting pass that painted its box a slightly different beige);
- a flat patch with a seam: a box of perfectly flat colour (a removal re-composed to the canvas colour,
  `fill.harmonise`) in a background that elsewhere has the model's grain, with a line of another shade
  along one of its sides (approval_holdout6/164: a flat box above two blue squares, a darker seam under it).
A flat box alone is no finding (labelled right on every set: every layout picture is flat, and a clean
removal leaves one), nor is a faint ring of halo round a shape (it lies inside `explain`'s rim or is not
box-like). Thresholds set on crafted pictures and on the seven older labelled sets (their approved right
images: no faint part of 60 px filled 0.7 of its box with both sides 6 px; no seam of 12 px along a flat
box in a grainy background), never on approval_holdout7.
"""
from __future__ import annotations

import numpy as np
from scipy import ndimage

FAINT = 6.0        # a pixel whose 3x3 mean is this far (RGB) from the canvas colour is off it
FAINT_AREA = 60    # ... in a part of at least this many pixels
FAINT_FILL = 0.7   # ... that fills this much of its box
FAINT_SIDE = 6     # ... whose box has both sides at least this long: a box, not a halo or a streak
FLAT_SD = 0.4      # a pixel whose 3x3 neighbourhood varies less than this (levels, any channel) is flat
FLAT_AREA = 100    # a flat box of at least this many pixels, both sides at least FLAT_SIDE
FLAT_SIDE = 6
GRAIN = 0.5        # the rest of the background varies at least this much (median): the model's grain
SEAM = 6.0         # a pixel 1-3 px past the flat box this far (RGB) from its colour is on a seam
SEAM_RUN = 12      # a seam at least this long along one side, and at least SEAM_SHARE of that side
SEAM_SHARE = 0.4

Box = tuple[int, int, int, int]


def faint_patches(residual: np.ndarray, explained: np.ndarray) -> list[Box]:
    """Boxes of the solid, box-like parts of the background `FAINT` levels off the canvas colour;
    `residual`: each pixel's 3x3 mean distance from it, `explained`: the shapes, their rims and words."""
    labels, n = ndimage.label((residual > FAINT) & ~explained)
    out = []
    for k, sl in enumerate(ndimage.find_objects(labels), start=1):
        part = labels[sl] == k
        h, w = part.shape
        if part.sum() >= FAINT_AREA and part.mean() >= FAINT_FILL and min(h, w) >= FAINT_SIDE:
            out.append((sl[1].start, sl[0].start, sl[1].stop, sl[0].stop))
    return out


def flat_seam(px: np.ndarray, explained: np.ndarray) -> tuple[Box, str] | None:
    """The largest flat box in a grainy background, and the side of it along which a seam runs, or None."""
    mean = ndimage.uniform_filter(px, size=(3, 3, 1))
    spread = np.sqrt(np.clip(ndimage.uniform_filter(px * px, size=(3, 3, 1)) - mean * mean, 0, None)).max(-1)
    free = ~explained
    if not free.any() or float(np.median(spread[free])) < GRAIN:
        return None
    box = largest_box(free & (spread < FLAT_SD))
    if box is None:
        return None
    x0, y0, x1, y1 = box
    off = np.where(free, np.linalg.norm(px - px[y0:y1, x0:x1].reshape(-1, 3).mean(0), axis=-1), 0.0)
    h, w = off.shape
    sides = {"top": [off[y, x0:x1] for y in (y0 - 1, y0 - 2, y0 - 3) if y >= 0],
             "bottom": [off[y, x0:x1] for y in (y1, y1 + 1, y1 + 2) if y < h],
             "left": [off[y0:y1, x] for x in (x0 - 1, x0 - 2, x0 - 3) if x >= 0],
             "right": [off[y0:y1, x] for x in (x1, x1 + 1, x1 + 2) if x < w]}
    for side, lines in sides.items():
        if not lines:
            continue
        run = _longest(np.stack(lines).max(0) >= SEAM)
        if run >= SEAM_RUN and run >= SEAM_SHARE * len(lines[0]):
            return box, side
    return None


def largest_box(mask: np.ndarray) -> Box | None:
    """The largest axis-aligned box inside `mask` (x0, y0, x1, y1) of at least FLAT_AREA pixels and
    FLAT_SIDE on each side, or None (the largest rectangle under each row's histogram of run heights)."""
    h, w = mask.shape
    heights = np.zeros(w, int)
    best, found = FLAT_AREA - 1, None
    for y in range(h):
        heights = np.where(mask[y], heights + 1, 0)
        stack: list[int] = []
        for x in range(w + 1):
            cur = heights[x] if x < w else 0
            while stack and heights[stack[-1]] >= cur:
                top = int(heights[stack.pop()])
                left = stack[-1] + 1 if stack else 0
                if top * (x - left) > best and top >= FLAT_SIDE and x - left >= FLAT_SIDE:
                    best, found = top * (x - left), (left, y - top + 1, x, y + 1)
            stack.append(x)
    return found


def _longest(ok: np.ndarray) -> int:
    """The longest run of True in `ok`."""
    best = cur = 0
    for v in ok:
        cur = cur + 1 if v else 0
        best = max(best, cur)
    return best
