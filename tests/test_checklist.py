"""Approved means right: the brief's checklist (parser and requirements), each checker on crafted
pictures (a patch, a seam, touching shapes, a fifth small shape, a wrong background), the prompt the
user accepted re-deriving the checklist and the layout, and a brief nobody can check ending the run
at once with its own status and exit code."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest
from PIL import Image, ImageDraw

from agent.core.requirements import checklist
from agent.core.spec_parser import parse_spec
from agent.core.types import SceneSpec
from local_models.shapes import detector, world


@pytest.mark.parametrize("text, want", [
    ("three blue squares on a beige background", {"background": "beige", "count": 3, "at_least": None}),
    ("a purple square against a plain lavender backdrop", {"background": "lavender", "count": 1}),
    ("at least two red circles", {"count": 2, "at_least": True}),
    ("two red circles or more", {"count": 2, "at_least": True}),
    ("red circles", {"count": 2, "at_least": True}),
    ("a blue circle", {"count": 1, "at_least": None}),
    ("4 green triangles on a grey background", {"count": 4, "background": "gray"}),
    ("only a yellow star", {"only": True, "count": 1}),
    ("a yellow star and nothing else", {"only": True}),
])
def test_the_parser_reads_counts_backgrounds_and_only(text, want):
    spec = parse_spec(text)
    first = spec.include[0]
    got = {"background": spec.background, "only": spec.only, "count": first.count, "at_least": first.at_least}
    assert {k: got[k] for k in want} == want


def test_the_checklist_says_exactly_what_an_approval_needs():
    spec = parse_spec("two red circles left of a blue square on a beige background, and no stars")
    items = [r.text for r in checklist(spec)]
    assert items == ["exactly 1 blue square", "exactly 2 red circles", "the red circles left of the blue square",
                     "no stars", "a beige background", "no patch, seam, stray mark or malformed shape"]
    assert [r.kind for r in checklist(None, "a moody sunset")] == ["free"]


def _canvas(bg="gray", objs=(), patch=None, seam=None):
    scene = world.Scene(bg, [world.Obj(k, c, b) for k, c, b in objs], SceneSpec(), "")
    im = world.render(scene, 64)
    draw = ImageDraw.Draw(im)
    if patch:
        draw.rectangle(patch, fill=world.BACKGROUNDS["beige"])
        for k, c, b in objs:  # the objects stay on top of the block, as an inpainting pass leaves them
            if b[0] >= patch[0] and b[2] <= patch[2]:
                world.draw_shape(draw, k, b, world.COLORS[c], world.BACKGROUNDS["beige"], 1)
    if seam:
        draw.line(seam, fill=(175, 175, 175), width=1)  # a 1-pixel seam 47 levels off the canvas
    return im


def _verdict(brief: str, image: Image.Image):
    return detector.check_image(parse_spec(brief), image)


def _failed(v) -> dict[str, str]:
    return {r.kind: r.evidence for r in v.requirements if r.status == "failed"}


CIRCLE, SQUARE = ("circle", "red", (8, 20, 26, 38)), ("square", "blue", (38, 20, 56, 38))


def test_a_clean_picture_passes_every_item():
    v = _verdict("a red circle left of a blue square", _canvas(objs=[CIRCLE, SQUARE]))
    assert v.approved and {r.status for r in v.requirements} == {"passed"}


def test_a_patch_of_another_background_is_found_with_its_box():
    v = _verdict("a red circle left of a blue square", _canvas(objs=[CIRCLE, SQUARE], patch=(34, 16, 60, 42)))
    assert not v.approved and "patch of beige background" in _failed(v)["whole"]
    (f,) = [f for f in v.findings if f.kind == "artifact"]
    assert f.box[0] <= 36 and f.box[2] >= 58


def test_a_seam_is_an_unexplained_mark():
    v = _verdict("a red circle left of a blue square", _canvas(objs=[CIRCLE, SQUARE], seam=(30, 50, 62, 50)))
    assert not v.approved and "unexplained mark" in _failed(v)["whole"]


def test_touching_shapes_are_a_finding():
    touching = ("square", "blue", (25, 20, 43, 38))
    v = _verdict("a red circle left of a blue square", _canvas(objs=[CIRCLE, touching]))
    assert not v.approved and "touch" in _failed(v)["whole"]


def test_a_speck_of_another_colour_in_a_ring_hole_is_a_finding():
    ring = ("ring", "white", (16, 16, 40, 40))
    clean = _canvas(bg="beige", objs=[ring])
    assert _verdict("a white ring", clean).approved
    speck = clean.copy()
    ImageDraw.Draw(speck).rectangle((27, 27, 28, 28), fill=world.COLORS["purple"])  # a 2x2 dot in the hole
    v = _verdict("a white ring", speck)
    assert not v.approved and "in its hole" in _failed(v)["whole"]


def _notched(box, depth=0.18):
    """A triangle with a notch cut up into the middle of its base (an arrowhead): its hull is nearly
    full, so only the depth of the dent shows it."""
    x0, y0, x1, y1 = (v * 8 for v in box)
    cx, w, h = (x0 + x1) / 2, x1 - x0, y1 - y0
    points = [(x0, y1), (cx - 0.1 * w, y1), (cx, y1 - depth * h), (cx + 0.1 * w, y1), (x1, y1), (cx, y0)]
    big = Image.new("RGB", (512, 512), world.BACKGROUNDS["beige"])
    ImageDraw.Draw(big).polygon(points, fill=world.COLORS["orange"])
    return big.resize((64, 64), Image.Resampling.LANCZOS)


def test_a_triangle_with_a_dent_in_its_outline_is_malformed():
    straight = _canvas(bg="beige", objs=[("triangle", "orange", (16, 12, 44, 40))])
    assert _verdict("an orange triangle", straight).approved
    v = _verdict("an orange triangle", _notched((16, 12, 44, 40)))
    assert not v.approved and "notched" in _failed(v)["whole"]


def test_a_ring_with_an_oval_hole_is_malformed():
    big = Image.new("RGB", (512, 512), world.BACKGROUNDS["gray"])
    draw = ImageDraw.Draw(big)
    draw.ellipse((128, 128, 352, 352), fill=world.COLORS["yellow"])
    draw.ellipse((176, 212, 304, 268), fill=world.BACKGROUNDS["gray"])  # a slot, not a round hole
    v = _verdict("a yellow ring", big.resize((64, 64), Image.Resampling.LANCZOS))
    assert not v.approved and "not round" in _failed(v)["whole"]


def test_a_ring_with_a_bite_in_its_hole_is_malformed():
    big = Image.new("RGB", (512, 512), world.BACKGROUNDS["gray"])
    draw = ImageDraw.Draw(big)
    draw.ellipse((128, 128, 352, 352), fill=world.COLORS["yellow"])
    draw.ellipse((184, 184, 296, 296), fill=world.BACKGROUNDS["gray"])
    round_hole = big.resize((64, 64), Image.Resampling.LANCZOS)
    assert _verdict("a yellow ring", round_hole).approved
    draw.ellipse((262, 214, 318, 270), fill=world.COLORS["yellow"])  # the ring bulges into its hole
    v = _verdict("a yellow ring", big.resize((64, 64), Image.Resampling.LANCZOS))
    assert not v.approved and "bite or bump" in _failed(v)["whole"]


def test_a_fifth_small_shape_fails_an_exact_count():
    four = [("triangle", "green", b) for b in [(4, 4, 20, 20), (40, 4, 56, 20), (4, 40, 20, 56), (40, 40, 56, 56)]]
    assert _verdict("four green triangles", _canvas(objs=four)).approved
    v = _verdict("four green triangles", _canvas(objs=four + [("triangle", "green", (26, 26, 37, 37))]))
    assert not v.approved and _failed(v)["object"] == "expected exactly 4 green triangles, found 5"
    assert _verdict("at least four green triangles", _canvas(objs=four + [("triangle", "green", (26, 26, 37, 37))])).approved


def test_a_blue_circle_means_one():
    two = [("circle", "blue", (6, 20, 24, 38)), ("circle", "blue", (38, 20, 56, 38))]
    v = _verdict("a blue circle", _canvas(objs=two))
    assert not v.approved and "found 2" in _failed(v)["object"]
    v = _verdict("a blue circle", _canvas(objs=[two[0], SQUARE]))
    assert not v.approved and "does not ask for" in _failed(v)["whole"]


def test_the_background_is_checked():
    assert _verdict("a red circle on a gray background", _canvas(objs=[CIRCLE])).approved
    v = _verdict("a red circle on a lavender background", _canvas(objs=[CIRCLE]))
    assert not v.approved and _failed(v)["background"].startswith("the background is gray")


def test_the_accepted_prompt_rederives_the_checklist_and_the_layout(tmp_path):
    from agent import Studio
    edited = "a photo of a green star above a purple ring"
    result = Studio(runs_dir=tmp_path).run("a yellow star above a purple ring", seed=3, rewrite="review",
                                           review=lambda brief, proposed: edited, budget={"max_iterations": 1})
    record = result.record
    assert record.refined_prompt == edited
    assert {(o.cls, o.color) for o in record.spec.include} == {("star", "green"), ("ring", "purple")}
    layout = record.attempts[0].artifact.request.layout
    assert layout is not None and {(b.kind, b.color) for b in layout.boxes} == {("star", "green"), ("ring", "purple")}
    assert all(r.text != "exactly 1 yellow star" for r in record.attempts[0].verdict.requirements)


def test_a_brief_nobody_can_check_stops_at_once_unverified(tmp_path):
    r = subprocess.run([sys.executable, "-m", "agent.surfaces.cli", "run", "a cat on a sofa", "--seed", "2",
                        "--out", str(tmp_path), "--json"], capture_output=True, text=True, timeout=300)
    assert r.returncode == 1, r.stderr
    line = json.loads(r.stdout.strip().splitlines()[-1])
    assert line["status"] == "unverified" and not line["approved"] and len(line["attempts"]) == 1
    assert "could not check exactly 1 cat" in line["error"] and r.stderr.strip().splitlines()[-1].startswith("error:")
    assert [q["status"] for q in line["best"]["verdict"]["requirements"]] == ["unchecked"] * 3
    assert "NOT checked" in line["presentation"]


class DownCritic:
    """A critic whose service always fails (a VLM answering 400, or hanging until its deadline)."""

    name = "critic:down"
    kinds = ("image",)

    def __init__(self, arg=None):
        pass

    def critique(self, artifact, brief_text, spec):
        from agent.core.types import Verdict
        return Verdict(critic=self.name, approved=False, error="openai: HTTP 400: invalid_request_error")


def test_a_critic_that_fails_every_time_fails_the_run(tmp_path, monkeypatch):
    from agent import Studio
    from agent.critics import CRITICS
    from tests import fakes

    fake = fakes.installed(monkeypatch)
    next(fake)  # the fakes registered, the registry's cache emptied
    try:
        monkeypatch.setitem(CRITICS, "down", "tests.test_checklist:DownCritic")
        result = Studio(image_model="test:flat", critic="critic:down", runs_dir=tmp_path).run(
            "a lake at dawn", seed=1, budget={"max_iterations": 4})
        assert result.status == "failed" and not result.approved
        assert len(result.attempts) == 2, "it stops at the second failed critique, not at the end of the budget"
        assert "every critique failed" in result.error and "HTTP 400" in result.error
    finally:
        next(fake, None)  # and emptied again, so no fake outlives the test


def test_a_lopsided_triangle_is_malformed():
    """The world's triangles are upright and isosceles: one whose apex leans over a side of its base
    (as the model sometimes draws: approval_holdout4's 107) is not one of them; a narrower upright one,
    within the model's usual stretch, passes."""
    def triangle(width: int, apex_at: float):
        big = Image.new("RGB", (512, 512), world.BACKGROUNDS["gray"])
        x0, y0, y1 = 128, 96, 320
        points = [(x0, y1), (x0 + width, y1), (x0 + apex_at * width, y0)]
        ImageDraw.Draw(big).polygon(points, fill=world.COLORS["yellow"])
        return big.resize((64, 64), Image.Resampling.LANCZOS)

    assert _verdict("a yellow triangle", triangle(224, 0.5)).approved
    assert _verdict("a yellow triangle", triangle(190, 0.5)).approved
    v = _verdict("a yellow triangle", triangle(190, 0.25))
    assert not v.approved and "skewed" in _failed(v)["whole"]


def _blob(a2: float, a3: float, a4: float) -> Image.Image:
    """A red blob whose radius wobbles by the 2nd, 3rd and 4th harmonics (relative amplitudes)."""
    import math
    big = Image.new("RGB", (512, 512), world.BACKGROUNDS["beige"])
    points = []
    for k in range(360):
        t = math.radians(k)
        r = 100 * (1 + a2 * math.cos(2 * t) + a3 * math.cos(3 * t + 1) + a4 * math.cos(4 * t + 2))
        points.append((256 + r * math.cos(t), 256 + r * math.sin(t)))
    ImageDraw.Draw(big).polygon(points, fill=world.COLORS["red"])
    return big.resize((64, 64), Image.Resampling.LANCZOS)


def test_a_lumpy_blob_is_no_circle_though_no_single_harmonic_says_so():
    """Each of its wobbles is under the oval and rounded-square limits; together they are a lump."""
    assert _verdict("a red circle", _blob(0, 0, 0)).approved
    assert _verdict("a red circle", _blob(0.03, 0.03, 0.02)).approved
    v = _verdict("a red circle", _blob(0.045, 0.045, 0.032))
    assert not v.approved and "lumpy blob" in _failed(v)["whole"]


def _chequered(light) -> Image.Image:
    """A purple circle with a chequer of a lighter purple inside (the model's mottled fills)."""
    big = Image.new("RGB", (512, 512), world.BACKGROUNDS["beige"])
    draw = ImageDraw.Draw(big)
    draw.ellipse((144, 144, 368, 368), fill=world.COLORS["purple"])
    for i, x in enumerate(range(176, 336, 24)):
        for j, y in enumerate(range(176, 336, 24)):
            if (i + j) % 2:
                draw.rectangle((x, y, x + 23, y + 23), fill=light)
    return big.resize((64, 64), Image.Resampling.LANCZOS)


def test_a_mottled_circle_is_malformed():
    """A faint chequer (a shading) passes; a clear one is mottling, though every pixel is near purple."""
    assert _verdict("a purple circle", _chequered((150, 60, 198))).approved
    # as faint as approval_holdout8's textured circles both labellers called right (texture 6.7)
    assert _verdict("a purple circle", _chequered((155, 65, 202))).approved
    v = _verdict("a purple circle", _chequered((158, 68, 205)))
    assert not v.approved and "mottled" in _failed(v)["whole"]
