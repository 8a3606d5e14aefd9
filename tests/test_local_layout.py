"""Grounded generation on a tiny random pipeline of a real family (SD, inpainting): the picture
from the prompt with the layout in words, then each group repainted in its boxes only; every
pass counted. A family that cannot inpaint takes the layout in words."""
from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("diffusers")
from PIL import Image  # noqa: E402

from agent.core.layout import Layout, LayoutBox  # noqa: E402
from agent.core.types import GenerationRequest  # noqa: E402
from local_models import tiny_pipelines as tiny  # noqa: E402

LAYOUT = Layout(width=64, height=64, boxes=[
    LayoutBox(object=0, kind="square", color="blue", box=(36, 8, 60, 32)),
    LayoutBox(object=1, kind="circle", color="red", box=(4, 8, 24, 28)),
    LayoutBox(object=1, kind="circle", color="red", box=(4, 36, 24, 56))])


def pixels(path) -> np.ndarray:
    with Image.open(path) as im:
        return np.asarray(im.convert("RGB"), dtype=np.int16)


def test_sd_composes_a_layout_region_by_region(tmp_path):
    backend = tiny.backend("sd")
    assert backend.info.layouts == "regions"
    request = GenerationRequest(prompt="two red circles left of a blue square", model="local:tiny-sd", seed=3,
                                width=32, height=32, layout=LAYOUT)
    (art,) = backend.generate(request, tmp_path / "composed")
    assert art.meta["denoiser_steps"] == 3 * art.request.steps  # the picture and two groups
    assert art.request.layout.width == 32 and art.request.layout.boxes[0].box == (18, 4, 30, 16)
    # the record says what was painted: the grown boxes, blurred
    from local_models.compose import grow_box
    grown = sorted(list(grow_box(b.box, 32, 32)) for b in art.request.layout.boxes)
    assert sorted(art.meta["edit_regions"]) == grown
    assert art.meta["mask_blur"] == 1 and art.meta["edit_mask_exact"] and art.meta["mask_crops"] == []
    # outside the blurred boxes the composed image is the first pass, exactly
    base = request.model_copy(update={"layout": None, "prompt": f"{request.prompt}; {LAYOUT.words()}"})
    (plain,) = backend.generate(base, tmp_path / "plain")
    a, p = pixels(art.path), pixels(plain.path)
    touched = painted(art.meta, (32, 32))
    assert np.array_equal(a[~touched], p[~touched]) and (~touched).sum() > 150
    assert np.abs(a - p)[touched].max() > 10  # and the boxes were repainted


def painted(meta, size) -> np.ndarray:
    """Where an edit may have changed pixels: its recorded boxes, blurred by its recorded blur."""
    from PIL import ImageFilter

    mask = Image.new("L", size, 0)
    for box in meta["edit_regions"]:
        mask.paste(255, tuple(box))
    return np.asarray(mask.filter(ImageFilter.GaussianBlur(meta["mask_blur"]))) > 0


def test_a_family_without_inpainting_takes_the_layout_in_words():
    from tools.generate_image import with_layout
    info = tiny.backend("sd").info.model_copy(update={"layouts": "words"})
    req = with_layout(GenerationRequest(prompt="two red circles left of a blue square"), LAYOUT, None, info)
    assert req.layout is None and "a red circle at the" in req.prompt and "a blue square at the" in req.prompt
