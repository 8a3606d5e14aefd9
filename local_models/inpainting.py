"""Inpainting that leaves no marks. The mask is blurred (diffusers' `mask_processor.blur`); a small
masked area is inpainted at the model's full size (`padding_mask_crop`, the crop done here: the
pipelines take it only with output_type="pil", which the two-stage latent decode does not use); and
every pixel outside the blurred mask is put back exactly as the source was (diffusers'
`image_processor.apply_overlay`), so an edit changes its region only. The artifact's meta records
the boxes painted, the blur and the crop (`edit_meta`), for the seam check in agent/critics/seams.py."""
from __future__ import annotations

import dataclasses

import numpy as np
from PIL import Image

from agent.core.errors import InputError

CROP_PAD = 32  # pixels of context around the mask when it is inpainted cropped (A1111's "only masked" default)
CROP_MAX_AREA = 0.9  # a crop covering more of the picture than this is the whole picture


def default_blur(size: tuple[int, int]) -> int:
    """The mask blur (Gaussian radius, pixels) for a picture of `size`: 4 at 512, 8 at 1024."""
    return max(1, round(min(size) / 128))


def _setting(extra: dict, key: str, default: int) -> int:
    value = extra.get(key, default)
    if value is None:
        return 0
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0 or value != int(value):
        raise InputError(f"{key} must be a whole number of pixels, 0 or more, not {value!r}")
    return int(value)


def prepare(inputs, extra: dict, crops: bool):
    """`inputs` (an inpaint, with its source and mask at the source's size) with the blurred mask and,
    when `crops` (the pipeline takes padding_mask_crop) and the mask is small, the crop to inpaint.
    `extra` may set `mask_blur` and `padding_mask_crop` (pixels; 0 turns either off)."""
    from diffusers.image_processor import VaeImageProcessor

    blur = _setting(extra, "mask_blur", default_blur(inputs.source.size))
    pad = _setting(extra, "padding_mask_crop", CROP_PAD) if crops else 0
    mask = inputs.mask.point(lambda v: 255 if v > 127 else 0)
    blurred = VaeImageProcessor.blur(mask, blur) if blur else mask
    crop = None
    if pad and mask.getbbox():
        box = VaeImageProcessor.get_crop_region(mask, inputs.width, inputs.height, pad=pad)
        w, h = mask.size
        if (box[2] - box[0]) * (box[3] - box[1]) <= CROP_MAX_AREA * w * h:
            crop = tuple(int(v) for v in box)
    return dataclasses.replace(inputs, mask=mask, blurred=blurred, blur=blur, crop=crop)


def model_images(inputs) -> tuple[Image.Image, Image.Image]:
    """The source and the blurred mask as the pipeline gets them: cropped, at the working size."""
    size = (inputs.width, inputs.height)
    source, mask = inputs.source, inputs.blurred
    if inputs.crop is not None:
        source, mask = source.crop(inputs.crop), mask.crop(inputs.crop)
    return (source if source.size == size else source.resize(size, Image.LANCZOS),
            mask if mask.size == size else mask.resize(size, Image.BILINEAR))


def finish(inputs, painted: Image.Image) -> Image.Image:
    """The painted picture (working size) back on the source: into the crop if there was one, blended
    through the blurred mask, every pixel outside it the source's own."""
    from diffusers.image_processor import VaeImageProcessor

    if inputs.crop is None and painted.size != inputs.source.size:
        painted = painted.resize(inputs.source.size, Image.LANCZOS)
    return VaeImageProcessor().apply_overlay(inputs.blurred, inputs.source.convert("RGB"), painted.convert("RGB"),
                                             inputs.crop)


def regions(mask: Image.Image) -> list[list[int]]:
    """The boxes [x0, y0, x1, y1] (x1, y1 exclusive) of the mask's connected white areas."""
    from scipy import ndimage

    labels, _ = ndimage.label(np.asarray(mask) > 127)
    return [[s[1].start, s[0].start, s[1].stop, s[0].stop] for s in ndimage.find_objects(labels)]


def edit_meta(mask: Image.Image, blur: int, crops=()) -> dict:
    """What the artifact records of an inpaint: `edit_regions` (the boxes painted), `mask_blur` (the
    blur's radius, pixels), `mask_crops` (the boxes inpainted at full size, if any) and
    `edit_mask_exact` (the boxes are the mask: a rectangle each, not a brushed shape)."""
    boxes = regions(mask)
    covered = np.zeros((mask.height, mask.width), bool)
    for x0, y0, x1, y1 in boxes:
        covered[y0:y1, x0:x1] = True
    return {"edit_regions": boxes, "mask_blur": blur, "mask_crops": [list(c) for c in crops if c],
            "edit_mask_exact": bool(np.array_equal(covered, np.asarray(mask) > 127))}
