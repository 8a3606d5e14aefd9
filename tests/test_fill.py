"""fill.harmonise: what an inpainting pass paints round its object becomes the canvas, on crafted passes."""
import numpy as np
from PIL import Image, ImageDraw

from local_models.shapes import world
from local_models.shapes.fill import harmonise

BEIGE, LAVENDER = world.BACKGROUNDS["beige"], world.BACKGROUNDS["lavender"]
BLUE, RED = world.COLORS["blue"], world.COLORS["red"]


def _pass(speck=None, neighbour=False):
    """A pass on a beige canvas: inside the box (8..40) a lavender patch with a blue circle drawn
    antialiased (4x supersampled), optionally a pale speck and a red neighbour reaching into the box."""
    big = Image.new("RGB", (256, 256), BEIGE)
    d = ImageDraw.Draw(big)
    d.rectangle((32, 32, 159, 159), fill=LAVENDER)
    d.ellipse((56, 56, 136, 136), fill=BLUE)
    if neighbour:
        d.rectangle((144, 64, 200, 120), fill=RED)
    im = big.resize((64, 64), Image.Resampling.BOX)
    if speck:
        im.putpixel(speck, (235, 235, 200))  # a pale yellow fleck beside the circle
    mask = Image.new("L", (64, 64), 0)
    ImageDraw.Draw(mask).rectangle((8, 8, 39, 39), fill=255)
    return im, mask


def test_the_patch_round_the_object_becomes_the_canvas_exactly():
    im, mask = _pass()
    out = np.asarray(harmonise(im, BEIGE, mask)).astype(int)
    assert (out[9, 9] == BEIGE).all() and (out[38, 12] == BEIGE).all()  # lavender patch corners
    assert (out[25, 25] == np.asarray(im)[25, 25]).all()  # the object's inside is kept as painted


def test_the_antialiased_edge_is_its_share_of_object_over_the_canvas():
    im, mask = _pass()
    out = np.asarray(harmonise(im, BEIGE, mask)).astype(float)
    # every pixel inside the box now lies on the line canvas -> object colour (no lavender tint left)
    box = out[8:40, 8:40].reshape(-1, 3)
    a, b = np.asarray(BEIGE, float), np.asarray(im, float)[24, 24]
    t = np.clip((box - a) @ (b - a) / ((b - a) @ (b - a)), 0, 1)
    off_line = np.linalg.norm(box - (a + t[:, None] * (b - a)), axis=1)
    assert off_line.max() < 6


def test_a_speck_beside_the_object_is_painted_over():
    im, mask = _pass(speck=(12, 24))
    out = np.asarray(harmonise(im, BEIGE, mask)).astype(int)
    assert (out[24, 12] == BEIGE).all()


def test_a_neighbour_of_another_colour_inside_the_mask_is_left_as_painted():
    im, mask = _pass(neighbour=True)
    out = np.asarray(harmonise(im, BEIGE, mask)).astype(int)
    assert (out[24, 38] == np.asarray(im)[24, 38]).all()
    assert np.linalg.norm(out[24, 38] - np.asarray(RED)) < 10


def test_a_removal_leaves_only_the_canvas_and_pixels_outside_the_mask_untouched():
    big = Image.new("RGB", (64, 64), BEIGE)
    ImageDraw.Draw(big).rectangle((10, 10, 30, 30), fill=LAVENDER)
    mask = Image.new("L", (64, 64), 0)
    ImageDraw.Draw(mask).rectangle((8, 8, 24, 24), fill=255)
    out = np.asarray(harmonise(big, BEIGE, mask)).astype(int)
    assert (out[8:25, 8:25] == BEIGE).all()
    assert (out[28, 28] == LAVENDER).all()


def test_a_removal_paints_over_a_fleck_too_small_to_be_an_object():
    big = Image.new("RGB", (64, 64), BEIGE)
    ImageDraw.Draw(big).rectangle((14, 14, 15, 15), fill=RED)  # 4 px of object colour: a fleck
    mask = Image.new("L", (64, 64), 0)
    ImageDraw.Draw(mask).rectangle((8, 8, 24, 24), fill=255)
    out = np.asarray(harmonise(big, BEIGE, mask)).astype(int)
    assert (out[8:25, 8:25] == BEIGE).all()


def _glow_scene():
    """A gray canvas shaded left to right (as text-to-image draws it), a white square (20..36) whose soft
    glow reaches 3 px past it, and a red bar from the right edge of a mask round the square on past it."""
    x = np.arange(64, dtype=np.float32)
    px = np.zeros((64, 64, 3), np.float32) + 128
    px[:, :, 1] += (x - 32) * 0.4  # a greenish right side: 115..141 in green
    canvas = px.copy()
    d = np.maximum(np.maximum(20 - x, x - 35).clip(0)[None, :], np.maximum(20 - x, x - 35).clip(0)[:, None])
    glow = np.clip(1 - d / 4, 0, 1)[..., None]  # 1 inside the square, 0.75..0.25 over 3 px round it
    px = px * (1 - glow) + 250 * glow
    px[30:50, 38:48] = world.COLORS["red"]
    mask = Image.new("L", (64, 64), 0)
    ImageDraw.Draw(mask).rectangle((18, 18, 37, 37), fill=255)  # the square's box grown by 2: the glow pokes out
    return Image.fromarray(np.rint(px).astype(np.uint8)), mask, canvas


def test_a_removal_on_a_shaded_canvas_takes_the_shade_round_it_not_one_flat_colour():
    from local_models.shapes.fill import canvas_field
    im, mask, canvas = _glow_scene()
    colour = (128, 128, 128)
    field = canvas_field(im, mask, colour)
    out = np.asarray(harmonise(Image.new("RGB", (64, 64), (150, 150, 160)), field, mask)).astype(float)
    inside = np.asarray(mask) > 0
    assert np.abs(out - canvas)[inside].max() < 6  # the shade goes on through the box: no tinted rectangle
    flat = np.asarray(harmonise(Image.new("RGB", (64, 64), (150, 150, 160)), colour, mask)).astype(float)
    assert np.abs(flat - canvas)[inside].max() > np.abs(out - canvas)[inside].max()


def test_the_glow_a_removed_object_leaves_past_its_mask_is_cleared_and_a_neighbour_kept():
    from local_models.shapes.fill import canvas_field, clear_fringe
    im, mask, canvas = _glow_scene()
    removed = harmonise(Image.new("RGB", (64, 64), (150, 150, 160)), canvas_field(im, mask, (128, 128, 128)), mask)
    removed = Image.composite(removed, im, mask)
    out, grown = clear_fringe(removed, mask, (128, 128, 128))
    out = np.asarray(out).astype(float)
    off = np.linalg.norm(out - canvas, axis=-1)
    assert off[14:42, 14:18].max() < 8 and off[14:18, 14:42].max() < 8  # no frame of glow left and above
    assert (out[30:50, 38:48] == np.asarray(world.COLORS["red"])).all()  # the bar going on past the ring is kept
    assert (np.asarray(grown) > 0).sum() > (np.asarray(mask) > 0).sum()  # the cleared pixels join the mask
