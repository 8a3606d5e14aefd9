"""What an inpainting pass paints around the new object is the canvas's own background.

The embedded inpainting model often fills the rest of a box with another of the world's backgrounds
(a beige block on a lavender canvas), or a slightly lighter shade of the canvas: a visible patch;
and round the object it leaves 1-3 px specks and fringes of a third colour (a pale lavender dot at a
star's tip on beige, a yellow fleck in a ring's hole) that a person calls a stray mark. `harmonise`
re-composes what the pass painted inside its mask from the two things it should hold: the object, as
painted, and the canvas colour. Each pixel's share of object is its position on the line from the
pass's own background shade to the object's colour; the object's inside keeps its pixels (less the
patch's tint), its antialiased edge becomes that share of the object over the canvas exactly, and
whatever lies further than EDGE px from the object (a patch, a speck, a halo) becomes the canvas.
Measured on the README's first brief, seeds 0..19: 7 of 20 composed images carried a block before
harmonising, none after; the specks, on the layout path of the approval sets (BENCHMARKS.md).
"""
from __future__ import annotations

import numpy as np
from PIL import Image
from scipy import ndimage

from local_models.shapes import world
from local_models.shapes.detector import coverage

_BACKGROUNDS = np.array(list(world.BACKGROUNDS.values()), dtype=np.float32)
_COLOURS = np.array(list(world.COLORS.values()), dtype=np.float32)
OBJECT_DIST = 70.0  # a pixel this close to one of the world's object colours is object, not background
MIN_OBJECT = 6      # fewer object pixels than this is no object (a fleck), more is what the pass drew
SOLID = 0.85        # a pixel at least this much object is the object's inside: kept as painted
EDGE = 2            # how far round the object its soft edge reaches


def harmonise(painted: Image.Image, canvas: tuple[int, int, int], mask: Image.Image) -> Image.Image:
    """`painted` re-composed inside `mask` (white: what the pass repainted) from its object and the
    `canvas` colour; pixels outside the mask are returned as they are."""
    px = np.asarray(painted.convert("RGB"), dtype=np.float32)
    inside = np.asarray(mask.convert("L")) >= 128
    if not inside.any():
        return painted
    c = np.asarray(canvas, dtype=np.float32)
    to_colours = np.linalg.norm(px[:, :, None] - _COLOURS[None, None], axis=-1)
    to_colour, nearest = to_colours.min(-1), to_colours.argmin(-1)
    to_background = np.linalg.norm(px[:, :, None] - np.vstack([_BACKGROUNDS, c])[None, None], axis=-1).min(-1)
    backgroundish = inside & (to_background < to_colour) & (to_colour > OBJECT_DIST / 2)
    off = backgroundish & (np.linalg.norm(px - c, axis=-1) > 4)
    patch = np.median(px[off], axis=0) if off.any() else c  # the pass's own shade of background
    objectish = inside & (to_colour < OBJECT_DIST / 2)
    out = px.copy()
    if objectish.sum() >= MIN_OBJECT:
        # the pass drew one colour; a part of another (a neighbour the mask reaches) is left as painted
        drawn = np.bincount(nearest[objectish], minlength=len(_COLOURS)).argmax()
        neighbour = ndimage.binary_dilation(objectish & (nearest != drawn), iterations=EDGE)
        colour = np.median(px[objectish & (nearest == drawn)], axis=0)
        share = coverage(px, patch, colour)
        # the object: the parts that are mostly object and big enough to be drawn, and its edge round it
        labels, _ = ndimage.label(inside & (share >= 0.5), structure=np.ones((3, 3)))
        body = (np.bincount(labels.ravel()) >= MIN_OBJECT)[labels] & (labels > 0)
        share = np.where(ndimage.binary_dilation(body, iterations=EDGE), share, 0.0)
        edge = inside & (share < SOLID) & ~neighbour
        out[edge] = c + share[edge, None] * (colour - c)
        solid = inside & (share >= SOLID) & ~neighbour  # keeps its texture, loses the patch's tint
        out[solid] += (1.0 - share[solid, None]) * (c - patch)
    else:  # no object drawn (a removal): all of it the canvas, a fleck of object colour too
        out[inside] = c
    return Image.fromarray(np.clip(np.rint(out), 0, 255).astype(np.uint8))
