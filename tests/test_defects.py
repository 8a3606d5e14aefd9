"""The learned defect check: its synthetic training pictures, and the shipped network on pictures
whose flaws are known (rendered by the world, never taken from a labelled set)."""
from __future__ import annotations

import random

import numpy as np
import pytest
from PIL import ImageDraw

from local_models.shapes import defect_data, defects, explain, world


def test_every_flawed_pixel_is_marked_and_a_clean_picture_has_none():
    rng = random.Random(7)
    flawed = clean = 0
    for _ in range(40):
        picture, target = defect_data.sample(rng)
        assert picture.shape == (64, 64, 3) and target.shape == (64, 64)
        assert 0 <= picture.min() and picture.max() <= 255
        flawed += bool(target.any())
        clean += not target.any()
    assert flawed >= 15 and clean >= 5  # both kinds are drawn


def test_the_same_seed_draws_the_same_pictures():
    a = defect_data.batch(random.Random(3), 4)
    b = defect_data.batch(random.Random(3), 4)
    assert np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1])


def test_a_speck_is_marked_where_it_was_drawn():
    rng = random.Random(11)
    scene = world.scene_for_spec(rng, world._spec([("circle", 1, "blue")]), "gray")
    clean = defect_data._render(scene, [world.COLORS["blue"]], world.BACKGROUNDS["gray"], {}, 5, [])
    im = defect_data.Image.fromarray(clean.astype(np.uint8))
    ImageDraw.Draw(im).ellipse((4, 4, 6, 6), fill=world.COLORS["orange"])
    target = np.linalg.norm(np.asarray(im, dtype=np.float32) - clean, axis=-1) > defect_data.TARGET_LEVEL
    assert target[5, 5] and not target[40:, 40:].any()


needs_weights = pytest.mark.skipif(defects.load() is None, reason="weights-defects/ not shipped")


def _scene(kind="square", colour="blue", background="gray", seed=2):
    return world.scene_for_spec(random.Random(seed), world._spec([(kind, 1, colour)]), background)


@needs_weights
def test_the_network_leaves_a_clean_render_alone():
    for seed, (kind, colour, bg) in enumerate([("square", "blue", "gray"), ("circle", "red", "beige"),
                                                ("star", "yellow", "lavender"), ("ring", "green", "gray")]):
        px = np.asarray(world.render(_scene(kind, colour, bg, seed)), dtype=np.float32)
        assert not (defects.load().flaw_map(px) >= explain.FLAW_P).sum() >= explain.FLAW_AREA, (kind, colour, bg)


@needs_weights
def test_a_faint_box_below_the_measured_threshold_is_found():
    scene = _scene("circle", "blue", "gray", 4)
    im = world.render(scene)
    draw = ImageDraw.Draw(im)
    x0, y0, x1, y1 = scene.objects[0].box
    box = (max(0, x0 - 6), max(0, y0 - 6), min(63, x1 + 6), min(63, y1 + 6))
    draw.rectangle(box, fill=(136, 136, 136))  # 8 levels lighter: under explain.RESIDUAL
    world.draw_shape(draw, "circle", scene.objects[0].box, world.COLORS["blue"], (136, 136, 136), 1)
    px = np.asarray(im, dtype=np.float32)
    marks = explain.learned_marks(px, [])
    assert marks, "a faint box around the shape is a flaw"
