"""critic:detector on shapes the canvas edge cuts and circles with a bump (issue 22: approval_holdout7's two
wrong approvals were a white circle pressed against the bottom edge with a bump below it), drawn here
with the world's own `draw_shape`; and their right counterparts, which must still pass."""
from __future__ import annotations

import pytest
from PIL import Image, ImageDraw, ImageFilter

from agent.core.types import ObjectSpec, SceneSpec
from local_models.shapes import world
from local_models.shapes.scene_check import check_image

WHITE_CIRCLE = SceneSpec(include=[ObjectSpec(cls="circle", color="white")], background="gray")


def picture(shapes, background="gray", blur=0.0, knobs=()):
    """The shapes (kind, colour, box on the 64 px canvas; a box may run past it) and knobs (colour, box
    of a small disc stuck on a shape), drawn at 4x and box-averaged, then blurred as generated images are."""
    im = Image.new("RGB", (256, 256), world.BACKGROUNDS[background])
    draw = ImageDraw.Draw(im)
    for kind, colour, box in shapes:
        world.draw_shape(draw, kind, box, world.COLORS[colour], world.BACKGROUNDS[background], 4)
    for colour, box in knobs:
        draw.ellipse([v * 4 for v in box], fill=world.COLORS[colour])
    im = im.resize((64, 64), Image.Resampling.BOX)
    return im.filter(ImageFilter.GaussianBlur(blur)) if blur else im


CUT = {  # a 20 px circle running 1 px and 4 px past each edge
    "top": [(20, -1, 40, 19), (20, -4, 40, 16)],
    "bottom": [(40, 45, 60, 65), (40, 48, 60, 68)],
    "left": [(-1, 20, 19, 40), (-4, 20, 16, 40)],
    "right": [(45, 20, 65, 40), (48, 20, 68, 40)],
}


@pytest.mark.parametrize("side", list(CUT))
@pytest.mark.parametrize("past", [0, 1])
def test_a_circle_cut_by_the_edge_is_not_approved_and_the_finding_says_which_edge(side, past):
    box = CUT[side][past]
    v = check_image(WHITE_CIRCLE, picture([("circle", "white", box)], blur=0.5))
    assert not v.approved
    said = [f for f in v.findings if f"{side} edge of the picture" in f.message]
    assert said, [f.message for f in v.findings]
    x0, y0, x1, y1 = said[0].box  # the box is the cut shape's, in image pixels, at the edge
    assert {"top": y0 == 0, "bottom": y1 == 64, "left": x0 == 0, "right": x1 == 64}[side]
    assert x0 <= max(box[0], 0) + 1 and x1 >= min(box[2], 64) - 1


def test_a_circle_pressed_against_the_bottom_edge_with_a_knob_below_is_not_approved():
    im = picture([("circle", "white", (40, 42, 61, 63))], knobs=[("white", (47, 59, 54, 64))], blur=0.6)
    v = check_image(WHITE_CIRCLE, im)
    assert not v.approved
    assert any("bottom edge" in f.message and f.box[3] == 64 for f in v.findings)


def test_a_cut_square_and_a_cut_triangle_are_not_approved():
    square = SceneSpec(include=[ObjectSpec(cls="square", color="blue")], background="beige")
    v = check_image(square, picture([("square", "blue", (44, 20, 68, 44))], "beige", blur=0.5))
    assert not v.approved and any("right edge" in f.message for f in v.findings)
    triangle = SceneSpec(include=[ObjectSpec(cls="triangle", color="yellow")], background="gray")
    v = check_image(triangle, picture([("triangle", "yellow", (30, 44, 50, 68))], blur=0.5))
    assert not v.approved and any("bottom edge" in f.message for f in v.findings)


@pytest.mark.parametrize("knob", [(29, 37, 35, 43), (39, 27, 45, 33), (30, 38, 34, 42), (20, 28, 24, 32)])
def test_a_circle_with_a_bump_is_a_finding_with_the_circles_box(knob):
    v = check_image(WHITE_CIRCLE, picture([("circle", "white", (22, 20, 42, 40))], knobs=[("white", knob)], blur=0.5))
    assert not v.approved
    bad = [f for f in v.findings if f.kind == "artifact" and "not a well-formed circle" in f.message]
    assert bad, [f.message for f in v.findings]
    x0, y0, x1, y1 = bad[0].box
    assert x0 <= 22 and y0 <= 20 and x1 >= 42 and y1 >= 40


NEAR = {"top": (20, 2, 40, 22), "bottom": (40, 42, 60, 62), "left": (2, 20, 22, 40), "right": (42, 20, 62, 40)}


@pytest.mark.parametrize("side", list(NEAR))
@pytest.mark.parametrize("blur", [0.0, 0.8])
def test_a_whole_circle_near_the_edge_is_approved_sharp_or_soft(side, blur):
    v = check_image(WHITE_CIRCLE, picture([("circle", "white", NEAR[side])], blur=blur))
    assert v.approved, v.issues


@pytest.mark.parametrize("blur", [0.0, 0.6, 1.0])
def test_a_round_soft_circle_in_the_middle_is_approved(blur):
    v = check_image(WHITE_CIRCLE, picture([("circle", "white", (22, 20, 42, 40))], blur=blur))
    assert v.approved, v.issues


def test_whole_shapes_two_pixels_from_every_edge_are_approved():
    spec = SceneSpec(include=[ObjectSpec(cls="triangle", color="green"), ObjectSpec(cls="ring", color="blue"),
                              ObjectSpec(cls="square", color="red")], background="lavender")
    im = picture([("triangle", "green", (4, 44, 22, 62)), ("ring", "blue", (42, 2, 62, 22)),
                  ("square", "red", (2, 4, 20, 22))], "lavender", blur=0.6)
    v = check_image(spec, im)
    assert v.approved, v.issues


@pytest.mark.parametrize("side", [12, 13, 16])
def test_a_small_square_whose_sides_bend_in_under_a_pixel_passes_and_a_pinched_one_does_not(side):
    def square(inset):  # a blue square on beige whose sides' middles are pushed in by `inset` px
        im = Image.new("RGB", (256, 256), world.BACKGROUNDS["beige"])
        a, b, m = 24 * 4, (24 + side) * 4, inset * 4
        mid = (a + b) / 2
        ImageDraw.Draw(im).polygon([(a, a), (mid, a + m), (b, a), (b - m, mid), (b, b), (mid, b - m), (a, b), (a + m, mid)],
                                   fill=world.COLORS["blue"])
        return im.resize((64, 64), Image.Resampling.BOX).filter(ImageFilter.GaussianBlur(0.6))
    spec = SceneSpec(include=[ObjectSpec(cls="square", color="blue")], background="beige")
    assert check_image(spec, square(0.7)).approved
    v = check_image(spec, square(1.2))
    assert not v.approved and any("pinched" in i for i in v.issues), v.issues


@pytest.mark.parametrize("name,file,right", [
    # labelled right by eye: small squares a pixel sharper at the corners than at the sides (0.94 of their hull)
    # (approval_holdout3's 087, the README's three blue squares, is refused since the square dent limit 0.055:
    # its small square's sides dip 0.063 of its size, which the judge and a stricter eye call pinched)
    ("approval_holdout9", "256.png", True), ("approval_holdout10", "260.png", True),
    # labelled wrong: "the orange square is pinched (concave sides)", 0.929 of its hull
    ("approval_holdout", "130.png", False),
    # labelled wrong: a yellow circle with a pointed nub on top (its bump 0.078; right circles at most 0.072)
    ("approval_holdout10", "080.png", False), ("approval_holdout10", "171.png", False)])
def test_shapes_labelled_by_eye(name, file, right):
    import json
    from pathlib import Path
    folder = Path(__file__).parent / "fixtures" / name
    row = next(r for r in map(json.loads, (folder / "labels.jsonl").read_text().splitlines()) if r["file"] == file)
    assert row["right"] is right
    from agent.core.spec_parser import parse_spec
    v = check_image(parse_spec(row["brief"]), folder / file)
    assert v.approved is right, v.issues


def _triangle(y1, skew, blur):
    """An 18 px green triangle on beige whose base's bottom is at `y1` and apex `skew` px right of its middle."""
    im = Image.new("RGB", (256, 256), world.BACKGROUNDS["beige"])
    x0, side = 22, 18
    ImageDraw.Draw(im).polygon([((x0 + side / 2 + skew) * 4, (y1 - side) * 4), ((x0 + side) * 4, y1 * 4),
                                (x0 * 4, y1 * 4)], fill=world.COLORS["green"])
    im = im.resize((64, 64), Image.Resampling.BOX)
    return im.filter(ImageFilter.GaussianBlur(blur)) if blur else im


def _ring(y0, lump, blur):
    """A 20 px yellow ring on gray with its top at `y0` and a lump of radius `lump` on its lower right."""
    im = Image.new("RGB", (256, 256), world.BACKGROUNDS["gray"])
    draw, x0, y = ImageDraw.Draw(im), 80, y0 * 4
    draw.ellipse([x0, y, x0 + 80, y + 80], fill=world.COLORS["yellow"])
    if lump:
        draw.ellipse([x0 + 56 - lump * 4, y + 56 - lump * 4, x0 + 56 + lump * 4, y + 56 + lump * 4], fill=world.COLORS["yellow"])
    draw.ellipse([x0 + 24, y + 24, x0 + 56, y + 56], fill=world.BACKGROUNDS["gray"])
    im = im.resize((64, 64), Image.Resampling.BOX)
    return im.filter(ImageFilter.GaussianBlur(blur)) if blur else im


GREEN_TRIANGLE = SceneSpec(include=[ObjectSpec(cls="triangle", color="green")], background="beige")
YELLOW_RING = SceneSpec(include=[ObjectSpec(cls="ring", color="yellow")], background="gray")


@pytest.mark.parametrize("blur", [0.0, 0.6])
def test_a_triangle_whose_base_sits_on_the_last_row_is_not_approved_and_one_clear_of_it_is(blur):
    # approval_holdout9's 000 and 178: triangles standing on the bottom edge, labelled wrong
    on = check_image(GREEN_TRIANGLE, picture([("triangle", "green", (22, 43.5, 42, 63.5))], "beige", blur=blur))
    assert not on.approved and any("bottom edge" in f.message and f.box[3] == 64 for f in on.findings), on.issues
    v = check_image(GREEN_TRIANGLE, picture([("triangle", "green", (22, 42, 42, 62))], "beige", blur=blur))
    assert v.approved, v.issues  # 2 px clear of it, as the world draws: whole
    # 1 px clear: its antialiased base reaches the last row, and people see it touching the edge
    v = check_image(GREEN_TRIANGLE, picture([("triangle", "green", (22, 43, 42, 63))], "beige", blur=blur))
    assert not v.approved and any("touching the bottom edge" in i for i in v.issues), v.issues


@pytest.mark.parametrize("blur", [0.0, 0.6])
def test_a_slightly_lopsided_triangle_passes_clear_of_the_edge_but_not_flush_with_it(blur):
    assert check_image(GREEN_TRIANGLE, _triangle(40, 4, blur)).approved
    assert check_image(GREEN_TRIANGLE, _triangle(62, 4, blur)).approved
    v = check_image(GREEN_TRIANGLE, _triangle(63.4, 4, blur))
    assert not v.approved and any("flush with the bottom edge" in i for i in v.issues), v.issues


def test_a_lumpy_ring_touching_the_top_edge_is_not_approved_and_clear_of_it_passes():
    # approval_holdout9's 180: a lumpy yellow ring touching the top edge, labelled wrong
    v = check_image(YELLOW_RING, _ring(0.5, 6, 0.6))
    assert not v.approved and any("top edge" in f.message and f.box[1] == 0 for f in v.findings), v.issues
    assert check_image(YELLOW_RING, _ring(2, 6, 0.6)).approved
    assert check_image(YELLOW_RING, _ring(20, 6, 0.6)).approved
    v = check_image(YELLOW_RING, _ring(0.5, 0, 0.6))  # a round one touching it: pressed against the edge
    assert not v.approved and any("touching the top edge" in i for i in v.issues), v.issues


@pytest.mark.parametrize("name,file", [
    # approval_holdout10 and 11 (read after their blind scores): shapes whose soft rim reaches the outermost
    # row, labelled "pressed against the edge", that the coverage rules above let through
    ("approval_holdout10", "065.png"), ("approval_holdout10", "105.png"), ("approval_holdout10", "161.png"),
    ("approval_holdout11", "021.png"), ("approval_holdout11", "097.png"), ("approval_holdout11", "111.png"),
    ("approval_holdout11", "201.png")])
def test_a_shape_whose_rim_reaches_the_canvas_edge_is_not_approved(name, file):
    import json
    from pathlib import Path
    from agent.core.spec_parser import parse_spec
    folder = Path(__file__).parent / "fixtures" / name
    row = next(r for r in map(json.loads, (folder / "labels.jsonl").read_text().splitlines()) if r["file"] == file)
    assert row["right"] is False
    v = check_image(parse_spec(row["brief"]), folder / file)
    assert not v.approved and any("edge of the picture" in i for i in v.issues), v.issues


@pytest.mark.parametrize("side", list(NEAR))
def test_a_soft_circle_one_pixel_from_the_edge_touches_it(side):
    x0, y0, x1, y1 = NEAR[side]
    dx = {"left": -1, "right": 1}.get(side, 0)
    dy = {"top": -1, "bottom": 1}.get(side, 0)
    v = check_image(WHITE_CIRCLE, picture([("circle", "white", (x0 + dx, y0 + dy, x1 + dx, y1 + dy))], blur=0.8))
    assert not v.approved and any(f"touching the {side} edge" in i for i in v.issues), v.issues
