"""The chat UI's "Advanced settings" (steps, guidance, size, sampler: agent.core.image_settings) reach
the embedded model and the attempt's PNG info, and a value the image model does not take is refused
in the status line before the brief is queued, in the words every surface uses."""
from __future__ import annotations

import re

import pytest
from PIL import Image

from tests.test_ui_handlers import Tab, app, text_of  # noqa: F401  (app: the module's own app fixture)


@pytest.mark.parametrize("fields, words", [
    ({"steps": "101"}, "bad run options: steps: local:shapes takes 1..100, not 101"),
    ({"sampler": "euler"}, "bad run options: sampler: local:shapes has one sampler of its own (it takes no "
                           "sampler setting)"),
    ({"size": "100x100"}, "bad run options: size: local:shapes makes 64x64, 128x128, 256x256, 512x512, not 100x100"),
    ({"size": "big"}, "bad run options: size: 'big' is not WIDTHxHEIGHT, e.g. 512x512"),
    ({"guidance": "lots"}, "the guidance must be a number, not 'lots'")])
def test_a_setting_the_model_cannot_take_is_refused_before_the_brief_is_queued(app, fields, words):  # noqa: F811
    tab = Tab(app)
    tab.set(**fields)
    out = tab.send("a red circle")
    assert out[app.page.started] is False and not tab.desk.busy
    assert words in text_of(out[app.page.status])


@pytest.mark.slow  # a run on the embedded model: about 10 s on one core
def test_the_advanced_settings_reach_the_model_and_the_png_info(app):  # noqa: F811
    assert app.page.steps.label.startswith("Steps") and app.page.sampler.elem_id == "set-sampler"
    tab = Tab(app)
    tab.set(steps="6", guidance="4.5", size="128x128", max_iterations=1)
    out = tab.send("a red circle")
    assert out[app.page.started] is not False, text_of(out[app.page.status])
    tab.watch()
    record = app.archive.load(tab.desk.current).record
    request = record.attempts[0].artifact.request
    assert (request.steps, request.guidance, request.width, request.height) == (6, 4.5, 128, 128)
    params = Image.open(record.attempts[0].artifact.path).text["parameters"]
    assert re.search(r"Steps: 6, Sampler: dpm\+\+, CFG scale: 4\.5, Seed: \d+, Size: 128x128", params), params
    assert (record.options.steps, record.options.guidance, record.options.size) == (6, 4.5, "128x128")
