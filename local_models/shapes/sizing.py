"""How big a detected shape is, in the unit of world.SIZES: the side of the world box it was drawn in,
on the 64 px canvas. Read from the shape's coverage (each pixel's share of the shape's colour against the
canvas's, summed over the shape and its soft rim) divided by the share of its box the world's own
drawing of that kind covers: a blurred edge moves coverage outwards without adding any, so a soft shape
measures as its crisp twin would, where its pixel extent would read a pixel or so larger."""
from __future__ import annotations

from functools import lru_cache

import numpy as np
from PIL import Image, ImageDraw
from scipy import ndimage

from local_models.shapes import world

RIM = 2  # canvas pixels around a detection's mask where its soft edge lies


@lru_cache(maxsize=None)
def box_share(kind: str) -> float:
    """The share of its square box that world.draw_shape covers for `kind` (a circle: pi/4)."""
    side = 60
    im = Image.new("L", (side * 4, side * 4), 0)
    world.draw_shape(ImageDraw.Draw(im), kind, (0, 0, side, side), 255, 0, 4.0)
    return float(np.asarray(im, dtype=np.float64).mean() / 255)


def coverage(d, px: np.ndarray, background: np.ndarray, others: np.ndarray) -> float:
    """Canvas pixels of `d`'s colour it covers: each pixel near its mask counted by where it lies between
    the canvas colour (0) and the shape's own (1); pixels of `others` (other shapes' masks) left out."""
    region = ndimage.binary_dilation(d.mask, iterations=RIM) & ~(others & ~d.mask)
    inside = px[d.mask]
    far = np.linalg.norm(inside - background, axis=-1)
    # the shape's own colour: its pixels farthest from the canvas (its mean is pulled towards the canvas
    # by the soft rim, which would count each rim pixel for more than it covers)
    axis = np.median(inside[far >= np.percentile(far, 50)], axis=0) - background
    share = (px[region] - background) @ axis / max(float(axis @ axis), 1e-9)
    return float(np.clip(share, 0.0, 1.0).sum())


def sides(detections, px: np.ndarray | None, background: np.ndarray | None) -> dict[int, float]:
    """id(detection) -> its world-box side on the 64 px canvas, for every detection with a mask (the others
    have none here: a caller falls back to their box)."""
    usable = [d for d in detections if d.mask is not None and d.mask.any()]
    if px is None or background is None or not usable:
        return {}
    masks = np.zeros(px.shape[:2], dtype=bool)
    for d in usable:
        masks |= d.mask
    return {id(d): (coverage(d, px, background, masks) / box_share(d.kind)) ** 0.5 for d in usable
            if d.kind in world.SHAPES}
