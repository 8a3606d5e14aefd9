"""critic:detector on shapes whose outline passes but that a person calls malformed (issue 22, approval_holdout8's
false approvals): a triangle or circle with a streak of another hue inside it, a star with an uneven point,
a rounded square read as a circle, a circle with a ring-like centre. Each is drawn here with the world's own
`draw_shape` (at 4x, box-averaged, blurred as generated images are), next to its right counterpart, which
must still pass. And a relation between two alike shapes (holdout8/229, 'a red star left of a red star'),
which held or failed by which star the checklist read first."""
from __future__ import annotations

import math

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFilter

from agent.core.types import ObjectSpec, SceneSpec
from local_models.shapes import shape_quality, world
from local_models.shapes.scene_check import check_image

MAGENTA = (200, 40, 150)


def spec(kind, colour, background):
    return SceneSpec(include=[ObjectSpec(cls=kind, color=colour)], background=background)


def picture(kind, colour, box, background="beige", blur=0.6, paint=None):
    """One world shape in `box` (64 px canvas), then `paint(draw)` on the 4x picture (a defect)."""
    im = Image.new("RGB", (256, 256), world.BACKGROUNDS[background])
    draw = ImageDraw.Draw(im)
    world.draw_shape(draw, kind, box, world.COLORS[colour], world.BACKGROUNDS[background], 4)
    if paint:
        paint(draw)
    im = im.resize((64, 64), Image.Resampling.BOX)
    return im.filter(ImageFilter.GaussianBlur(blur)) if blur else im


def flaws(v):
    return [f.message for f in v.findings if f.kind == "artifact"]


def test_a_red_triangle_with_a_magenta_streak_in_it_is_not_approved_and_the_finding_says_so():
    # holdout8/134, 156, 158: a thin band of magenta across the lower part of a red triangle (2 px high: too
    # little of it for the two-tone check, which needs a tenth of the inside 40 levels off)
    streak = lambda d: d.polygon([(84, 180), (150, 180), (156, 188), (80, 188)], fill=MAGENTA)  # noqa: E731
    v = check_image(spec("triangle", "red", "beige"), picture("triangle", "red", (18, 18, 46, 50), paint=streak))
    assert not v.approved
    said = [m for m in flaws(v) if "streak or patch of another colour" in m]
    assert said, flaws(v)


def test_a_red_circle_with_a_magenta_streak_is_not_approved():
    streak = lambda d: d.rectangle((84, 150, 176, 158), fill=MAGENTA)  # noqa: E731
    v = check_image(spec("circle", "red", "beige"), picture("circle", "red", (18, 18, 46, 46), paint=streak))
    assert not v.approved and any("not a well-formed circle" in m for m in flaws(v)), flaws(v)


# the generator's shapes are about 0.6 px soft (right ones of the nine sets reach a streak measure of 27.9);
# a 12 px shape blurred by a whole pixel has so little flat inside that its soft edge reads as a streak
@pytest.mark.parametrize("kind,box,blur", [(k, b, blur) for k, big, small in (
    ("triangle", (18, 18, 46, 50), (24, 24, 38, 38)), ("circle", (18, 18, 46, 46), (26, 26, 38, 38)))
    for b, blurs in ((big, (0.0, 0.6, 1.0)), (small, (0.0, 0.6))) for blur in blurs])
def test_flat_triangles_and_circles_sharp_or_soft_pass(kind, box, blur):
    v = check_image(spec(kind, "red", "beige"), picture(kind, "red", box, blur=blur))
    assert v.approved, v.issues


def test_a_gently_shaded_triangle_passes():
    # a generated shape is often lit a little: a smooth gradient of its own colour is no streak
    im = np.asarray(picture("triangle", "red", (18, 18, 46, 50)), dtype=float)
    shade = np.linspace(1.08, 0.92, 64)[:, None, None]
    red = np.linalg.norm(im - world.COLORS["red"], axis=-1) < 60
    im = np.where(red[..., None], np.clip(im * shade, 0, 255), im)
    v = check_image(spec("triangle", "red", "beige"), Image.fromarray(im.astype(np.uint8)))
    assert v.approved, v.issues


def _lopsided_star(draw, box, short):
    """The world's star with its point `short` pulled in to the inner radius (a blunt lobe)."""
    x0, y0, x1, y1 = (v * 4 for v in box)
    r = (x1 - x0) / 2 / math.cos(math.radians(18))
    cx, cy = (x0 + x1) / 2, y0 + r
    pts = world._star(cx, cy, r, 0.42 * r)
    for k in short:
        ang = -math.pi / 2 + 2 * k * math.pi / 5
        pts[2 * k] = (cx + 0.55 * r * math.cos(ang), cy + 0.55 * r * math.sin(ang))
    draw.polygon(pts, fill=world.COLORS["green"])


# two neighbouring points blunted (holdout8/017's lopsided blob); one alone stays within what right stars
# of the nine sets show (they are uneven: their least evenness is 0.17, the world's own star's 0.9-0.99)
@pytest.mark.parametrize("short", [(1, 2), (3, 4)])
def test_a_star_with_blunt_points_is_not_approved(short):
    im = Image.new("RGB", (256, 256), world.BACKGROUNDS["gray"])
    _lopsided_star(ImageDraw.Draw(im), (20, 20, 44, 44), short)
    im = im.resize((64, 64), Image.Resampling.BOX).filter(ImageFilter.GaussianBlur(0.5))
    v = check_image(spec("star", "green", "gray"), im)
    assert not v.approved, v.issues


@pytest.mark.parametrize("box", [(20, 20, 44, 44), (26, 26, 40, 40)])
@pytest.mark.parametrize("blur", [0.0, 0.6])
def test_the_worlds_star_passes_large_or_small(box, blur):
    v = check_image(spec("star", "green", "gray"), picture("star", "green", box, "gray", blur=blur))
    assert v.approved, v.issues


def _rounded_square(draw, box, colour="blue"):
    draw.rounded_rectangle([v * 4 for v in box], radius=0.3 * 4 * (box[2] - box[0]), fill=world.COLORS[colour])


def test_a_rounded_square_asked_as_a_circle_is_not_approved():
    # holdout8/024: a blue "circle" that is a square with rounded corners
    im = Image.new("RGB", (256, 256), world.BACKGROUNDS["lavender"])
    _rounded_square(ImageDraw.Draw(im), (22, 22, 40, 40))
    im = im.resize((64, 64), Image.Resampling.BOX).filter(ImageFilter.GaussianBlur(0.7))
    v = check_image(spec("circle", "blue", "lavender"), im)
    assert not v.approved, v.issues


def test_the_rounded_square_measure_tells_a_rounded_square_from_a_circle_and_a_diamond():
    from local_models.shapes.detector import _soft_outline, detect
    from local_models.shapes.explain import background_of

    def measure(im):
        from local_models.shapes.detector import canvas_pixels
        px = canvas_pixels(im)
        d = detect(im)[0]
        soft = _soft_outline(px, background_of(px)[0], np.array(d.mean), d.mask, np.zeros((64, 64), bool))
        return shape_quality.square_phase(soft)

    im = Image.new("RGB", (256, 256), world.BACKGROUNDS["lavender"])
    _rounded_square(ImageDraw.Draw(im), (22, 22, 40, 40))
    rounded = measure(im.resize((64, 64), Image.Resampling.BOX).filter(ImageFilter.GaussianBlur(0.7)))
    round_ = measure(picture("circle", "blue", (22, 22, 40, 40), "lavender", blur=0.7))
    assert rounded > shape_quality.ROUNDED_SQUARE > abs(round_)


@pytest.mark.parametrize("background", ["lavender", "gray"])
def test_a_white_circle_with_a_grey_ring_like_centre_is_not_approved(background):
    # holdout8/018: a white disc whose middle is grey, like a ring's blurred hole (5 px across: one larger or
    # darker is read as a ring, and the brief's circle is then missing)
    hole = lambda d: d.ellipse((118, 118, 138, 138), fill=(180, 180, 190))  # noqa: E731
    im = picture("circle", "white", (18, 18, 46, 46), background, blur=1.0, paint=hole)
    v = check_image(spec("circle", "white", background), im)
    assert not v.approved
    assert any("its centre is another shade" in m for m in flaws(v)), v.issues


@pytest.mark.parametrize("colour", ["white", "purple", "yellow"])
@pytest.mark.parametrize("blur", [0.6, 1.2])
def test_flat_circles_of_each_shade_pass_the_centre_check(colour, blur):
    v = check_image(spec("circle", colour, "lavender"), picture("circle", colour, (18, 18, 46, 46), "lavender", blur=blur))
    assert v.approved, v.issues


# the larger star is read first (the first object takes it): here the right one
@pytest.mark.parametrize("boxes,right", [(((8, 26, 22, 40), (40, 24, 58, 42)), True),  # left of: holds
                                         (((6, 6, 24, 24), (40, 40, 58, 58)), True),    # left of and above
                                         (((24, 6, 42, 24), (24, 40, 42, 58)), False)])  # one above the other
def test_a_red_star_left_of_a_red_star_holds_whichever_star_is_read_first(boxes, right):
    # holdout8/229: the two stars look alike, so the relation holds when one of them is left of the other
    from agent.core.spec_parser import parse_spec
    im = Image.new("RGB", (256, 256), world.BACKGROUNDS["gray"])
    draw = ImageDraw.Draw(im)
    for box in boxes:
        world.draw_shape(draw, "star", box, world.COLORS["red"], world.BACKGROUNDS["gray"], 4)
    im = im.resize((64, 64), Image.Resampling.BOX).filter(ImageFilter.GaussianBlur(0.5))
    v = check_image(parse_spec("a red star left of a red star"), im)
    assert v.approved == right, v.issues
