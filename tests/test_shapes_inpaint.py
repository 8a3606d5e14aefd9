"""The shipped inpainting model of the shapes world (weights-inpaint/, 9 input channels, stock
`StableDiffusionInpaintPipeline`): it adds the object the prompt names inside a box, removes one
(fills its box with background) and recolours one, while every pixel outside the box stays as it
was; and it composes a layout. Judged by the exact detector, over several seeds."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

pytest.importorskip("diffusers")

from agent.core.layout import plan_layout  # noqa: E402
from agent.core.spec_parser import parse_spec  # noqa: E402
from agent.core.types import Artifact, GenerationRequest  # noqa: E402
from local_models.shapes import detector, world  # noqa: E402
from local_models.shapes.backend import INPAINT_WEIGHTS, PASS_STEPS, ShapesBackend  # noqa: E402

pytestmark = pytest.mark.skipif(not (INPAINT_WEIGHTS / "model_index.json").is_file(), reason="no inpainting weights")
SEEDS = range(4)


@pytest.fixture(scope="module")
def backend():
    return ShapesBackend("shapes")


def scene_png(folder: Path, objects, background="gray") -> Path:
    path = folder / "scene.png"
    world.render(world.Scene(background, [world.Obj(*o) for o in objects], None, "")).save(path)
    return path


def box_mask(folder: Path, box) -> Path:
    mask = Image.new("L", (64, 64), 0)
    mask.paste(255, box)
    path = folder / f"mask-{'-'.join(map(str, box))}.png"
    mask.save(path)
    return path


def seen(path) -> list:
    return detector.detect(Image.open(path).convert("RGB"))


def edit(backend, folder, source, mask, prompt, seed):
    req = GenerationRequest(prompt=prompt, seed=seed, source_image=source, mask=mask, strength=1.0)
    return backend.edit(req, folder)[0].path


def outside_unchanged(a, b, box):
    x, y = np.asarray(Image.open(a), dtype=np.int16), np.asarray(Image.open(b), dtype=np.int16)
    keep = np.ones((64, 64), bool)
    keep[box[1]:box[3], box[0]:box[2]] = False
    return np.abs(x - y)[keep].max() <= 1


def test_stock_pipeline_loads_it_offline():
    from diffusers import StableDiffusionInpaintPipeline
    pipe = StableDiffusionInpaintPipeline.from_pretrained(INPAINT_WEIGHTS, local_files_only=True)
    assert pipe.unet.config.in_channels == 9


def test_adds_an_object_in_a_box(backend, tmp_path):
    source = scene_png(tmp_path, [("square", "blue", (38, 20, 56, 38))])
    box = (4, 20, 28, 44)
    ok = 0
    for seed in SEEDS:
        out = edit(backend, tmp_path, source, box_mask(tmp_path, box), "a photo of a red circle", seed)
        got = [d for d in seen(out) if d.kind == "circle" and d.color == "red"]
        ok += bool(got) and all(box[0] - 2 <= d.box[0] and d.box[2] <= box[2] + 2 for d in got)
        assert outside_unchanged(out, source, box)
    assert ok >= 3, f"added a red circle in the box for {ok} of {len(SEEDS)} seeds"


def test_removes_and_recolours(backend, tmp_path):
    source = scene_png(tmp_path, [("square", "blue", (38, 20, 56, 38)), ("star", "yellow", (6, 22, 24, 40))])
    box = (4, 20, 28, 44)
    removed = recoloured = 0
    for seed in SEEDS:
        out = edit(backend, tmp_path, source, box_mask(tmp_path, box), "empty background", seed)
        removed += [(d.kind, d.color) for d in seen(out)] == [("square", "blue")]
        out = edit(backend, tmp_path, source, box_mask(tmp_path, box), "a photo of a green star", seed)
        recoloured += sorted((d.kind, d.color) for d in seen(out)) == [("square", "blue"), ("star", "green")]
        assert outside_unchanged(out, source, box)
    assert removed >= 3 and recoloured >= 3, (removed, recoloured)


def test_composes_a_layout(backend, tmp_path):
    prompt = "two red circles left of a blue square"
    spec = parse_spec(prompt)
    approved = 0
    for seed in SEEDS:
        req = GenerationRequest(prompt=world.canonical_prompt(spec), seed=seed, layout=plan_layout(spec, seed=seed))
        art: Artifact = backend.generate(req, tmp_path)[0]
        assert art.meta["denoiser_steps"] == 3 * PASS_STEPS  # one pass per box, half the default steps each
        approved += detector.DetectorCritic().critique(art, prompt, spec).approved
    assert approved >= 3, f"{approved} of {len(SEEDS)} layouts drawn right"


def test_an_edit_at_the_delivery_size_keeps_the_words_typeset_on_it(backend, tmp_path):
    """A 256 px picture (how a brief with words is delivered) with a word typeset under the shapes: a box
    edit above the word repaints only its box; the word's pixels, and every other one outside the box,
    stay exactly as they were (not the 64 px model's round trip, which would turn the letters to blocks)."""
    from agent.core.typeset import named_box, typeset
    scene = world.render(world.Scene("beige", [world.Obj("circle", "red", (8, 8, 24, 24))], None, ""), size=256)
    lettered, _ = typeset(scene, "SALE", named_box("bottom", 256, 256))
    source = tmp_path / "lettered.png"
    lettered.save(source)
    mask = Image.new("L", (256, 256), 0)
    mask.paste(255, (128, 32, 224, 128))
    mask.save(tmp_path / "mask.png")
    req = GenerationRequest(prompt="a photo of a blue square", seed=0, source_image=source, mask=tmp_path / "mask.png",
                            strength=1.0, width=256, height=256)
    out = np.asarray(Image.open(backend.edit(req, tmp_path)[0].path).convert("RGB"), dtype=np.int16)
    keep = np.ones((256, 256), bool)
    keep[32:128, 128:224] = False
    assert out.shape == (256, 256, 3) and np.abs(out - np.asarray(lettered, dtype=np.int16))[keep].max() == 0


def test_a_mask_of_two_areas_is_two_boxes_and_a_prompt_for_one():
    """A mask painted over two stars is two box masks on the latent grid (not their bbox, which the model
    fills with a cluster of new shapes), areas whose boxes touch are one; each pass's prompt names one."""
    from local_models.shapes.backend import mask_regions, one_of
    mask = Image.new("L", (64, 64), 0)
    mask.paste(255, (5, 6, 20, 21)), mask.paste(255, (40, 38, 58, 57)), mask.paste(255, (42, 10, 50, 14))
    mask.paste(255, (46, 15, 52, 20))  # 1 px below the last one: the same latent cells, one box
    assert sorted(m.getbbox() for m in mask_regions(mask)) == [(4, 4, 20, 24), (40, 8, 52, 20), (40, 36, 60, 60)]
    assert one_of("a photo of two blue stars") == "a photo of a blue star"
    assert one_of("a photo of three orange circles") == "a photo of an orange circle"
    assert one_of("a photo of blue rings") == "a photo of a blue ring"
    assert one_of("two red circles and a square") == "two red circles and a square"  # which goes where: unknown


def test_recolours_every_area_of_a_painted_mask(backend, tmp_path):
    from agent.core.progress import reporting_steps
    """"Make the stars green": a mask over each of two stars recolours both, each in its own place, and
    adds nothing between them (one pass over their bbox repainted the square between them too)."""
    stars = [("star", "yellow", (6, 6, 22, 22)), ("star", "yellow", (40, 40, 58, 58))]
    source = scene_png(tmp_path, stars + [("square", "blue", (40, 6, 56, 22))])
    mask = Image.new("L", (64, 64), 0)
    for _, _, (x0, y0, x1, y1) in stars:
        mask.paste(255, (x0 - 2, y0 - 2, x1 + 2, y1 + 2))
    mask.save(tmp_path / "stars.png")
    ok = 0
    for seed in SEEDS:
        seen_steps = []
        req = GenerationRequest(prompt="a photo of two green stars", seed=seed, source_image=source,
                                mask=tmp_path / "stars.png", strength=1.0)
        with reporting_steps(lambda p: seen_steps.append((p.step, p.total))):
            art = backend.edit(req, tmp_path)[0]
        assert art.meta["denoiser_steps"] == backend.planned_steps(req, edit=True) == 2 * 20  # a pass per star
        assert seen_steps[-1] == (40, 40) and seen_steps[19] == (20, 40)  # counted over both passes
        got = seen(art.path)  # (the model draws a 16 px star small: the detector may read it as a circle)
        ok += sorted((d.kind, d.color) for d in got if d.kind == "square") == [("square", "blue")] and \
            sorted(d.color for d in got) == ["blue", "green", "green"] and \
            all(any(d.color == "green" and d.box[0] >= x0 - 2 and d.box[2] <= x1 + 2 for d in got)
                for _, _, (x0, _, x1, _) in stars)
        changed = np.abs(np.asarray(Image.open(art.path), dtype=np.int16) - np.asarray(Image.open(source), dtype=np.int16))
        keep = np.ones((64, 64), bool)
        keep[4:24, 4:24] = keep[36:60, 36:60] = False  # the stars' masks on the latent grid
        assert changed[keep].max() <= 1  # the square and the canvas between them as they were
    assert ok >= 3, f"both stars green and nothing else changed for {ok} of {len(SEEDS)} seeds"
