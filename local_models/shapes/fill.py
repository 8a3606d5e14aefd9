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


FIELD_SIGMAS = (2.0, 4.0, 8.0, 16.0)  # px: the nearest background round a masked pixel that says its shade
FIELD_NEAR = 40.0  # a source pixel this close to its canvas colour is background


def canvas_field(image: Image.Image, mask: Image.Image, colour) -> np.ndarray:
    """The canvas as it is round `mask`, per pixel (H x W x 3): a picture drawn by text-to-image has no
    flat canvas (a greenish or darker corner, a soft vignette), and a removal filled with one flat colour
    shows as a tinted rectangle there. Inside the mask each pixel gets the mean of the background pixels
    nearest to it outside (normalised Gaussian averages, the smallest radius that reaches any); elsewhere,
    and where no background is near, the image itself and `colour`."""
    px = np.asarray(image.convert("RGB"), dtype=np.float32)
    inside = np.asarray(mask.convert("L")) >= 128
    c = np.asarray(colour, dtype=np.float32)
    field = np.where(inside[..., None], c, px)
    # background: near the canvas colour and 2 px clear of anything that is not (a shape's soft fringe)
    bg = ~inside & ~ndimage.binary_dilation(np.linalg.norm(px - c, axis=-1) >= FIELD_NEAR, iterations=EDGE)
    todo = inside.copy()
    for sigma in FIELD_SIGMAS:
        if not todo.any():
            break
        weight = ndimage.gaussian_filter(bg.astype(np.float32), sigma, mode="nearest")
        sums = np.stack([ndimage.gaussian_filter(px[..., k] * bg, sigma, mode="nearest") for k in range(3)], -1)
        reached = todo & (weight > 1e-3)
        field[reached] = sums[reached] / weight[reached, None]
        todo &= ~reached
    return field


def harmonise(painted: Image.Image, canvas, mask: Image.Image) -> Image.Image:
    """`painted` re-composed inside `mask` (white: what the pass repainted) from its object and the
    `canvas`: one colour, or per pixel (`canvas_field`); pixels outside the mask are returned as they are."""
    px = np.asarray(painted.convert("RGB"), dtype=np.float32)
    inside = np.asarray(mask.convert("L")) >= 128
    if not inside.any():
        return painted
    c = np.asarray(canvas, dtype=np.float32)
    # per pixel or one colour; what tells background from object is its shade over the mask
    ref = np.median(c[inside], axis=0) if c.ndim == 3 else c
    c = np.broadcast_to(c, px.shape)
    to_colours = np.linalg.norm(px[:, :, None] - _COLOURS[None, None], axis=-1)
    to_colour, nearest = to_colours.min(-1), to_colours.argmin(-1)
    to_background = np.linalg.norm(px[:, :, None] - np.vstack([_BACKGROUNDS, ref])[None, None], axis=-1).min(-1)
    backgroundish = inside & (to_background < to_colour) & (to_colour > OBJECT_DIST / 2)
    off = backgroundish & (np.linalg.norm(px - c, axis=-1) > 4)
    patch = np.median(px[off], axis=0) if off.any() else ref  # the pass's own shade of background
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
        out[edge] = c[edge] + share[edge, None] * (colour - c[edge])
        solid = inside & (share >= SOLID) & ~neighbour  # keeps its texture, loses the patch's tint
        out[solid] += (1.0 - share[solid, None]) * (c[solid] - patch)
    else:  # no object drawn (a removal): all of it the canvas, a fleck of object colour too
        out[inside] = c[inside]
    return Image.fromarray(np.clip(np.rint(out), 0, 255).astype(np.uint8))


REACH = 4  # px round a mask where what the old object left (its soft glow, a fringe, a fleck) is cleared
TOL = 8.0  # a pixel this far from the canvas round it is not canvas


def clear_fringe(image: Image.Image, mask: Image.Image, colour) -> tuple[Image.Image, Image.Image]:
    """`image` with what a removed or repainted object left just outside `mask` made canvas again, and
    the mask with those pixels added. A text-to-image object's soft glow reaches past the box it was
    found in: the pass paints the box clean and the glow left round it frames a tinted rectangle.
    Cleared: each connected run of off-canvas pixels in the REACH-px ring round the mask that touches
    the mask, less what lies within REACH px (through off-canvas pixels) of something off-canvas past
    the ring: that is another object going on past it, kept."""
    px = np.asarray(image.convert("RGB"), dtype=np.float32)
    inside = np.asarray(mask.convert("L")) >= 128
    grown = ndimage.binary_dilation(inside, iterations=REACH)
    ring = grown & ~inside
    field = canvas_field(image, Image.fromarray(grown.astype(np.uint8) * 255), colour)
    off = ring & (np.linalg.norm(px - field, axis=-1) > TOL)
    # another object: off-canvas past the ring, and what runs from it into the ring (REACH steps at
    # most: a glow all round the mask that touches it somewhere is not taken for part of it)
    other = off | (~grown & (np.linalg.norm(px - np.asarray(colour, np.float32), axis=-1) >= FIELD_NEAR))
    kept = ndimage.binary_dilation(other & ~grown, np.ones((3, 3)), iterations=REACH, mask=other)
    labels, n = ndimage.label(off & ~kept, structure=np.ones((3, 3)))
    touches = np.zeros(n + 1, bool)
    touches[labels[ring & ndimage.binary_dilation(inside)]] = True
    clear = touches[labels] & (labels > 0)
    if not clear.any():
        return image, mask
    out = px.copy()
    out[clear] = field[clear]
    return (Image.fromarray(np.clip(np.rint(out), 0, 255).astype(np.uint8)),
            Image.fromarray(((inside | clear) * 255).astype(np.uint8)))
