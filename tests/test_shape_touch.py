"""critic:detector on two shapes a few pixels apart joined by a smear of colour (approval_holdout's 008: "the
two purple circles touch", their masks 3 px apart but a purple blur between them), drawn with the world's
`draw_shape`; and two clean shapes as close, which must still pass."""
from __future__ import annotations

import pytest
from PIL import Image, ImageDraw, ImageFilter

from agent.core.types import ObjectSpec, SceneSpec
from local_models.shapes import world
from local_models.shapes.scene_check import check_image

TWO_PURPLE = SceneSpec(include=[ObjectSpec(cls="circle", color="purple", count=2)], background="gray")


def two_circles(gap, smear, blur=0.6):
    """Two 16 px purple circles side by side `gap` px apart, with a `smear` px tall bar of their colour
    (half mixed with the background) across the gap when smear > 0."""
    bg, purple = world.BACKGROUNDS["gray"], world.COLORS["purple"]
    im = Image.new("RGB", (256, 256), bg)
    draw = ImageDraw.Draw(im)
    for x0 in (12, 28 + gap):
        world.draw_shape(draw, "circle", (x0, 24, x0 + 16, 40), purple, bg, 4)
    if smear:
        half = tuple((p + q) // 2 for p, q in zip(purple, bg))
        draw.rectangle([27 * 4, (32 - smear / 2) * 4, (29 + gap) * 4, (32 + smear / 2) * 4], fill=half)
    im = im.resize((64, 64), Image.Resampling.BOX)
    return im.filter(ImageFilter.GaussianBlur(blur)) if blur else im


@pytest.mark.parametrize("gap", [4, 5])
@pytest.mark.parametrize("blur", [0.6, 1.0])
def test_two_circles_joined_by_a_smear_touch(gap, blur):
    # the smear is faint enough that the detector keeps the two circles apart
    v = check_image(TWO_PURPLE, two_circles(gap, 2, blur))
    assert not v.approved and any("circle and the purple circle touch" in i for i in v.issues), v.issues


@pytest.mark.parametrize("gap", [3, 4])
@pytest.mark.parametrize("blur", [0.0, 0.6, 1.0])
def test_two_clean_circles_as_close_pass(gap, blur):
    v = check_image(TWO_PURPLE, two_circles(gap, 0, blur))
    assert v.approved, v.issues
