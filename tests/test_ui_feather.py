"""The edit panel's feather: the painted region's edge softened by that many pixels. Through the UI's
own handlers (tests/test_ui_handlers.py's Tab) on a tiny diffusers inpainting pipeline, the mask the
pipeline is sent has a soft edge as wide as the feather asks (0: a hard one), the attempt records it,
and a model that repaints hard-edged regions (local:shapes) or an edit with nothing painted is
refused in the status line in one line before the edit is queued."""
from __future__ import annotations

import os

import numpy as np
import pytest
from PIL import Image

from tests import fakes
from tests.test_ui_handlers import Tab, text_of

pytest.importorskip("gradio", reason="the UI needs the ui extra: pip install 'atelier[ui]'")

BOX = (8, 8, 24, 24)  # the painted square on the 32x32 attempt


@pytest.fixture
def backends(monkeypatch):
    yield from fakes.installed(monkeypatch, approve={8}, tinyspy="tests.test_image_settings:spied")


@pytest.fixture
def app(tmp_path, backends):
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    from agent.surfaces import ui
    from agent.surfaces.ui_support import Settings
    return ui.build_app(tmp_path / "runs", Settings(image_model="tinyspy:sd", critic="critic:seed", max_iterations=1,
                                                    seed=8), review_timeout=60).atelier_ui


def painted(size=(32, 32)) -> dict:
    """The image editor's value with a square painted in the fixed brush colour."""
    layer = Image.new("RGBA", size, (0, 0, 0, 0))
    layer.paste((255, 0, 255, 255), BOX)
    return {"background": Image.new("RGB", size), "layers": [layer], "composite": None}


def one_run(app) -> Tab:
    tab = Tab(app)
    tab.send("a red circle")
    tab.watch()
    app.show_attempt(tab.desk, 0)
    assert tab.desk.selected
    return tab


def edit(app, tab, feather, editor=None):
    return app.take_edit(tab.key, tab.owner, painted() if editor is None else editor, "a blue square", "", 1.0,
                         "3", feather, False, *tab.form)


def soft_band(mask: Image.Image) -> int:
    """How many pixels of the row through the square's middle are neither masked nor unmasked."""
    row = np.asarray(mask.convert("L"))[mask.height // 2]
    return int(((row > 2) & (row < 253)).sum())


def test_the_feather_softens_the_mask_the_pipeline_is_sent(app, monkeypatch):
    from local_models import inpainting
    masks: list[Image.Image] = []
    real = inpainting.model_images  # what the back end hands the pipeline as image and mask_image

    def model_images(inputs):
        source, mask = real(inputs)
        masks.append(mask)
        return source, mask
    monkeypatch.setattr(inpainting, "model_images", model_images)
    tab = one_run(app)
    bands = {}
    for feather in ("0", "3", ""):
        masks.clear()
        out = edit(app, tab, feather)
        assert "st-error" not in out[app.page.status], text_of(out[app.page.status])
        tab.watch()
        (mask,) = masks
        assert mask.size == (32, 32)
        bands[feather] = soft_band(mask)
        record = app.archive.load(tab.desk.current).record
        last = record.attempts[-1]
        assert last.action == "edit" and "painted mask" in last.note
        if feather:
            assert f"feather {feather} px" in last.note and last.artifact.meta["mask_blur"] == int(feather)
        else:  # blank: the model's own blur (1 px at 32x32, inpainting.default_blur)
            assert "feather" not in last.note and last.artifact.meta["mask_blur"] == 1
    assert bands["0"] == 0  # a hard edge: only 0 and 255 on either side of the square
    assert bands["3"] > bands[""] > 0  # wider than the model's own 1-px blur
    assert "(painted region, feather 3 px)" in tab.chat_text()


def test_a_feather_the_edit_cannot_use_is_refused_before_it_is_queued(app, monkeypatch):
    tab = one_run(app)
    queued = len(app.archive.load(tab.desk.current).record.attempts)
    for feather, editor, line in (
            ("4", {"background": None, "layers": [], "composite": None},
             "feather: paint a region first (a feather softens the painted region's edge)"),
            ("400", None, "feather: 0 to 128 pixels, not 400"),
            ("soft", None, "the feather must be a whole number ≥ 0, not 'soft'")):
        out = edit(app, tab, feather, editor)
        assert line in text_of(out[app.page.status]), text_of(out[app.page.status])
        assert "st-error" in out[app.page.status]
    # local:shapes repaints whole boxes on its latent grid: a feather would change nothing, so it is refused
    from agent.core.registry import resolve
    from tools.edit_image import feather_problem
    assert feather_problem(resolve("image", "local:shapes").info, 4, True) == \
        "feather: local:shapes repaints a hard-edged region (it takes no feather); leave it blank"
    assert feather_problem(resolve("image", "test:flat").info, 4, True).startswith("feather: test:flat repaints")
    assert not tab.desk.busy and len(app.archive.load(tab.desk.current).record.attempts) == queued
