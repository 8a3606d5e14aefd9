"""The judge's hue check (local_models/shapes/judge.py): a speck of another hue is a mark.

A soft shape's edge, its antialiasing and its halo all lie on the line from the canvas colour to the
shape's own colour; where two shapes are near each other, on the lines between their colours too. A
pixel far off every line that could explain it is paint of another hue (a pink speck by a green square,
a yellow fleck in a ring's hole): the residual check misses it when it is only a few pixels and not
far from the canvas in plain RGB distance. Plain numpy, nothing shared with the loop's critic."""
from __future__ import annotations

import numpy as np

from local_models.shapes.judge_pixels import components, dilate

NEAR = 3  # px round a shape's coverage where its edge colours (and halo) may reach
CORE = 0.5  # coverage above which a pixel is the shape's inside (its mottling is not a speck)
# RGB distance off every explaining line, and pixels together, that make a speck: measured on
# approval_holdout2/3/5 (specks of 30+ in 2+ px: 11 of 42 wrong pictures the judge passed, 12 of 417 right)
HUE_SPECK, HUE_PIXELS = 30.0, 2
# a cluster lying wholly on a shape's soft edge (redrawn coverage above RIM) is the model's colour fringe at
# a star's tip or a square's corner unless it is this far off: on the ten labelled sets 30 there rejected 31
# right pictures and caught 5 wrong ones, each for a fringe and not for its real defect (a patch, a dent, a cut)
RIM, RIM_SPECK = 0.02, 45.0


def _off_segment(img: np.ndarray, a, b) -> np.ndarray:
    """Per pixel, the RGB distance to the segment from colour `a` to colour `b`."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    axis = b - a
    t = np.clip(((img - a) @ axis) / max(float(axis @ axis), 1e-9), 0, 1)
    return np.sqrt(((img - a - t[..., None] * axis) ** 2).sum(-1))


def off_hue(img: np.ndarray, bg_rgb, shapes: list[tuple[np.ndarray, tuple]]) -> np.ndarray:
    """Per pixel, how far (RGB) it is from every colour that could explain it: the canvas, and near each
    shape (its coverage, its rgb) the line from the canvas to that shape's colour, and near two shapes
    the line between theirs; 0 inside a shape."""
    best = np.sqrt(((img - np.asarray(bg_rgb, dtype=np.float64)) ** 2).sum(-1))
    near = [dilate(cover > 0.02, NEAR) for cover, _ in shapes]
    for (_, rgb), zone in zip(shapes, near):
        best = np.where(zone, np.minimum(best, _off_segment(img, bg_rgb, rgb)), best)
    for i in range(len(shapes)):
        for j in range(i + 1, len(shapes)):
            both = near[i] & near[j]
            if both.any():
                best = np.where(both, np.minimum(best, _off_segment(img, shapes[i][1], shapes[j][1])), best)
    for cover, _ in shapes:
        best[cover > CORE] = 0.0
    return best


def specks(img: np.ndarray, bg_rgb, shapes: list[tuple[np.ndarray, tuple]], skip: np.ndarray) -> list[np.ndarray]:
    """Clusters of HUE_PIXELS or more pixels HUE_SPECK off every colour that explains them (not in `skip`);
    one wholly on a shape's soft edge needs HUE_PIXELS of them RIM_SPECK off."""
    off = off_hue(img, bg_rgb, shapes)
    rim = np.zeros(off.shape, dtype=bool)
    for cover, _ in shapes:
        rim |= cover > RIM
    return [c for c in components((off > HUE_SPECK) & ~skip) if c.sum() >= HUE_PIXELS
            and (not rim[c].all() or (off[c] > RIM_SPECK).sum() >= HUE_PIXELS)]
