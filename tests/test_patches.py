"""critic:detector on what a composition or removal leaves in the background (issue 22): a patch of
another background, a patch a few levels off the canvas colour, a flat box with a seam along it in a
grainy background; and clean backgrounds (flat, soft, grainy, a flat box without a seam), which pass."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFilter

from agent.core.types import ObjectSpec, SceneSpec
from local_models.shapes import world
from local_models.shapes.scene_check import check_image

TWO_BLUE_SQUARES = SceneSpec(include=[ObjectSpec(cls="square", color="blue", count=2)], background="beige")
PATCH = (30, 6, 50, 26)
FIXTURES = Path(__file__).parent / "fixtures"


def picture(patch_colour=None, box=PATCH, blur=0.0, grain=0.0, seed=0) -> Image.Image:
    """Two blue squares on beige (drawn at 4x by the world's `draw_shape`, box-averaged), a box of
    `patch_colour` (a background's name, or levels added to each channel of beige) behind them,
    then a blur and a gaussian grain (levels) as generated pictures have."""
    beige = world.BACKGROUNDS["beige"]
    im = Image.new("RGB", (256, 256), beige)
    draw = ImageDraw.Draw(im)
    for square in ((8, 36, 24, 52), (40, 40, 56, 56)):
        world.draw_shape(draw, "square", square, world.COLORS["blue"], beige, 4)
    if patch_colour is not None:
        rgb = world.BACKGROUNDS[patch_colour] if isinstance(patch_colour, str) else tuple(v + patch_colour for v in beige)
        draw.rectangle([box[0] * 4, box[1] * 4, box[2] * 4 - 1, box[3] * 4 - 1], fill=rgb)
    im = im.resize((64, 64), Image.Resampling.BOX)
    if blur:
        im = im.filter(ImageFilter.GaussianBlur(blur))
    if grain:
        px = np.asarray(im, float) + np.random.default_rng(seed).normal(0, grain, (64, 64, 3))
        im = Image.fromarray(np.clip(np.rint(px), 0, 255).astype(np.uint8))
    return im


def _found_at(v, box, words):
    hits = [f for f in v.findings if words in f.message]
    assert hits, [f.message for f in v.findings]
    x0, y0, x1, y1 = hits[0].box
    assert abs(x0 - box[0]) <= 2 and abs(y0 - box[1]) <= 2 and abs(x1 - box[2]) <= 2 and abs(y1 - box[3]) <= 2


def test_a_20px_patch_of_lavender_on_beige_is_a_finding_with_its_box():
    v = check_image(TWO_BLUE_SQUARES, picture("lavender"))
    assert not v.approved
    _found_at(v, PATCH, "patch of lavender")


@pytest.mark.parametrize("levels", [6, -6])
@pytest.mark.parametrize("blur,grain", [(0.0, 0.0), (0.6, 1.5)])
def test_a_patch_6_levels_off_the_background_is_a_finding_with_its_box(levels, blur, grain):
    v = check_image(TWO_BLUE_SQUARES, picture(levels, blur=blur, grain=grain))
    assert not v.approved
    _found_at(v, PATCH, "faint patch")


def test_a_12px_patch_6_levels_off_is_found_too():
    v = check_image(TWO_BLUE_SQUARES, picture(6, box=(6, 6, 18, 18)))
    assert not v.approved
    _found_at(v, (6, 6, 18, 18), "faint patch")


@pytest.mark.parametrize("blur,grain,seed", [(0.0, 0.0, 0), (0.6, 1.5, 0), (0.0, 2.5, 3), (0.8, 2.0, 7)])
def test_a_clean_background_passes(blur, grain, seed):
    v = check_image(TWO_BLUE_SQUARES, picture(blur=blur, grain=grain, seed=seed))
    assert v.approved, v.issues


def _flat_box(im: Image.Image, box, seam: int = 0) -> Image.Image:
    """`im` with `box` set to the exact canvas colour (a re-composed removal) and, when `seam`, a line
    `seam` levels darker along its bottom."""
    px = np.asarray(im, float).copy()
    x0, y0, x1, y1 = box
    px[y0:y1, x0:x1] = world.BACKGROUNDS["beige"]
    if seam:
        px[y1, x0:x1] -= seam
    return Image.fromarray(np.clip(np.rint(px), 0, 255).astype(np.uint8))


def test_a_flat_box_with_a_seam_in_a_grainy_background_is_a_finding():
    im = _flat_box(picture(grain=1.5, seed=1), (6, 2, 40, 24), seam=6)
    v = check_image(TWO_BLUE_SQUARES, im)
    assert not v.approved
    assert any("seam along its bottom side" in f.message for f in v.findings), v.issues


def test_a_flat_box_without_a_seam_passes():
    # a clean removal leaves such a box: labelled right on the older sets
    assert check_image(TWO_BLUE_SQUARES, _flat_box(picture(grain=1.5, seed=1), (6, 2, 40, 24))).approved


def test_the_labelled_flat_patch_and_seam_is_found():
    # approval_holdout6/164 (labelled by eye: "visible lighter rectangle patch and seam lines"), approved before
    v = check_image(TWO_BLUE_SQUARES, FIXTURES / "approval_holdout6" / "164.png")
    assert not v.approved
    assert any("seam" in f.message and f.box[1] == 0 for f in v.findings), v.issues
