"""local_models/shapes/judge_quality.py, the judge's second look at the shapes it accepted: a shape
discoloured by a streak or spot of another shade is wrong, so is a circle drawn as a rounded square or
a lumpy blob; the model's gently shaded shapes and soft round circles stay right."""
from __future__ import annotations

import math

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFilter

from agent.core.types import ObjectSpec, SceneSpec
from local_models.shapes import world
from local_models.shapes.judge import judge

SS = 4  # drawn 4x larger and box-downscaled, as the world antialiases


def _spec(kind: str, color: str, count: int = 1) -> SceneSpec:
    return SceneSpec(include=[ObjectSpec(cls=kind, count=count, color=color)])


def _canvas(background: str, draw_big, sigma: float = 0.0) -> Image.Image:
    """A 64 px picture drawn by `draw_big(ImageDraw, scale)` at 4x, box-downscaled, blurred by `sigma`."""
    im = Image.new("RGB", (64 * SS, 64 * SS), world.BACKGROUNDS[background])
    draw_big(ImageDraw.Draw(im), SS)
    im = im.resize((64, 64), Image.Resampling.BOX)
    return im.filter(ImageFilter.GaussianBlur(sigma)) if sigma else im


def _triangle(streak=None, shade: float = 0.0):
    """A red triangle in (18, 16, 46, 44); `streak` a colour drawn 3 px wide across its middle; `shade`
    lightens its middle gently (the model's shading), by up to this RGB amount."""
    def draw(d, s):
        world.draw_shape(d, "triangle", (18, 16, 46, 44), world.COLORS["red"], world.BACKGROUNDS["beige"], s)
        if streak:
            d.line([(26 * s, 36 * s), (38 * s, 30 * s)], fill=world.COLORS[streak], width=3 * s)
    image = _canvas("beige", draw)
    if shade:
        a = np.asarray(image).astype(np.float64)
        yy, xx = np.mgrid[:64, :64]
        a += shade * np.exp(-((xx - 32) ** 2 + (yy - 34) ** 2) / 30.0)[..., None]
        image = Image.fromarray(np.clip(a, 0, 255).astype(np.uint8))
    return image


def test_a_triangle_with_a_streak_of_another_hue_is_discoloured():
    j = judge(_triangle(streak="purple"), _spec("triangle", "red"))
    assert not j.right and "colour" in j.kinds, j.reasons
    assert any("discoloured" in r for r in j.reasons)


@pytest.mark.parametrize("shade", [0.0, 20.0])
def test_a_flat_or_gently_shaded_triangle_is_right(shade):
    j = judge(_triangle(shade=shade), _spec("triangle", "red"))
    assert j.right, j.reasons


def test_a_white_circle_with_a_grey_spot_is_discoloured_and_a_clean_one_right():
    def draw(spot):
        def f(d, s):
            world.draw_shape(d, "circle", (16, 14, 44, 42), world.COLORS["white"], 0, s)
            if spot:
                d.ellipse((27 * s, 25 * s, 33 * s, 31 * s), fill=(170, 170, 175))
        return _canvas("lavender", f, 0.6)
    assert judge(draw(False), _spec("circle", "white")).right
    j = judge(draw(True), _spec("circle", "white"))
    assert not j.right and any("discoloured" in r for r in j.reasons), j.reasons


def _lumpy(lumps: int, depth: float = 0.08):
    """A blue blob of radius 8 whose radius swells `depth` of itself `lumps` times round it (4: a rounded
    square or diamond; 3 or 5: a lumpy blob), drawn where a circle would be."""
    def draw(d, s, cx=30.0, cy=30.0, r=8.0):
        pts = [(s * (cx + r * (1 + depth * math.cos(lumps * t)) * math.cos(t)),
                s * (cy + r * (1 + depth * math.cos(lumps * t)) * math.sin(t)))
               for t in np.linspace(0, 2 * math.pi, 180, endpoint=False)]
        d.polygon(pts, fill=world.COLORS["blue"])
    return draw


@pytest.mark.parametrize("lumps, what", [(4, "rounded square or diamond"), (3, "lumpy"), (5, "lumpy")])
@pytest.mark.parametrize("sigma", [0.0, 0.6])
def test_a_circle_drawn_squarish_or_lumpy_is_not_round(lumps, what, sigma):
    """Lumps too slight for the fit and the outline rule (each blob is read as a circle first)."""
    j = judge(_canvas("lavender", _lumpy(lumps), sigma), _spec("circle", "blue"))
    assert not j.right and j.kinds == ["malformed"], j.reasons
    assert "not round" in j.reasons[0] and what in j.reasons[0], j.reasons


@pytest.mark.parametrize("side", [12, 16, 22, 30])
@pytest.mark.parametrize("sigma", [0.0, 0.5, 0.9])
def test_round_circles_of_every_size_crisp_and_soft_are_right(side, sigma):
    def draw(d, s):
        world.draw_shape(d, "circle", (17, 15, 17 + side, 15 + side), world.COLORS["blue"], 0, s)
    j = judge(_canvas("lavender", draw, sigma), _spec("circle", "blue"))
    assert j.right, j.reasons



def test_a_circle_shaded_darker_at_its_middle_is_right():
    """The model shades a round shape's middle (people accept it); a grey hole in it is another matter."""
    def draw(d, s):
        world.draw_shape(d, "circle", (14, 14, 34, 34), world.COLORS["red"], 0, s)
    a = np.asarray(_canvas("gray", draw, 0.5)).astype(np.float64)
    yy, xx = np.mgrid[:64, :64]
    toward_canvas = 0.18 * np.exp(-((xx - 23.5) ** 2 + (yy - 23.5) ** 2) / 8.0)[..., None]
    a = a + toward_canvas * (np.asarray(world.BACKGROUNDS["gray"], dtype=np.float64) - a)
    j = judge(Image.fromarray(np.clip(a, 0, 255).astype(np.uint8)), _spec("circle", "red"))
    assert j.right, j.reasons
