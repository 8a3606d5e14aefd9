"""The Settings tab's "Advanced settings" accordion in a real browser (as tests/test_ui_browser.py,
whose browser, waits and helpers it uses): opened, steps and size set, a brief sent, and the run's
record and its image's PNG info hold them; a value the image model does not take is refused in the
status line in one line, and no run starts. The image model is test:flat taking steps 1..50
(tests/test_mcp_settings.py's `stepped:flat`), so the settings have somewhere to go. The edit panel's
brush size (the editor's own control) and feather reach the painted mask, or are refused."""
from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

pytest.importorskip("gradio", reason="the UI needs the ui extra: pip install 'atelier[ui]'")
pytest.importorskip("playwright.sync_api", reason="browser tests need: pip install playwright")
from tests.test_ui_browser import (FINISHED, browser, chat, expect, open_app, pytestmark, run_id_of,  # noqa: E402,F401
                                   send, status, wait_finished)
from tests.test_ui_harness import serve  # noqa: E402


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    return tmp_path_factory.mktemp("ui-settings") / "runs"


@pytest.fixture(scope="module")
def server(runs):
    from agent.core import registry
    with registry.override("image", "stepped", "tests.test_mcp_settings:SteppedFlat"), serve("fake", runs) as url:
        yield url


@pytest.fixture
def page(browser, server):
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    open_app(page, server)
    yield page
    context.close()


def advanced(page, **fields):
    """On the Settings tab: the stepped model chosen, the accordion opened, `fields` typed into it."""
    page.get_by_role("tab", name="Settings").click()
    model = page.locator("#set-image input")
    model.fill("stepped:flat")
    model.press("Enter")
    steps = page.locator("#set-steps textarea, #set-steps input").first
    expect(steps).to_be_hidden()  # a new tab's accordion is closed; a click opens it
    page.locator("#set-advanced").get_by_text("Advanced settings").first.click()
    expect(steps).to_be_visible()
    for name, value in fields.items():
        box = page.locator(f"#set-{name} textarea, #set-{name} input").first
        box.fill(str(value))
        box.blur()
        expect(box).to_have_value(str(value))
    page.get_by_role("tab", name="Attempts").click()


def test_the_advanced_settings_reach_the_run_and_its_png_info(page, runs):
    advanced(page, steps=5, size="48x32", sampler="euler a")
    send(page, "a red circle")
    wait_finished(page)
    run_id = run_id_of(page)
    expect(status(page)).to_contain_text("seed 8")
    # the record: run.json's options hold what was set (written before the chat says the run ended)
    record = json.loads((runs / run_id / "run.json").read_text())
    assert {k: record["options"][k] for k in ("image_model", "steps", "size", "sampler")} == \
        {"image_model": "stepped:flat", "steps": 5, "size": "48x32", "sampler": "euler a"}
    # and the attempt's file says so when dropped on PNG info, as a user would read it back
    page.get_by_role("tab", name="PNG info").click()
    page.locator("#png-drop input[type=file]").set_input_files(record["attempts"][0]["artifact"]["path"])
    info = page.locator("#png-info")
    expect(info).to_contain_text("Steps: 5")
    expect(info).to_contain_text("Sampler: euler a")
    expect(info).to_contain_text("Size: 48x32")


@pytest.mark.parametrize("fields, line", [
    ({"steps": "60"}, "bad run options: steps: stepped:flat takes 1..50, not 60"),
    ({"size": "64x64"}, "bad run options: size: stepped:flat makes 32x32, 48x32, not 64x64")])
def test_a_value_the_model_does_not_take_is_refused_in_the_status_line(page, runs, fields, line):
    before = set(runs.iterdir()) if runs.exists() else set()
    advanced(page, **fields)
    send(page, "a blue square")
    expect(status(page)).to_contain_text(line)
    expect(status(page).locator(".st-error")).to_contain_text(line)  # one line, marked as refused
    expect(page.locator("#brief textarea")).to_have_value("a blue square")  # kept, to fix and send again
    expect(chat(page).get_by_text(FINISHED)).to_have_count(0)
    assert (set(runs.iterdir()) if runs.exists() else set()) == before  # no run was made


def test_the_brush_size_and_the_feather_reach_the_painted_mask(page, runs):
    """The editor's own Brush Size control sets how wide a stroke masks (its radius in the attempt's
    pixels); a feather on a model that takes none (test:flat) is the one-line refusal, no mask kept;
    blank, the edit runs with the painted mask."""
    send(page, "a blue square")
    wait_finished(page)
    run_id = run_id_of(page)
    page.locator("#gallery button.thumbnail-item").first.click()
    page.locator("#viewer-edit").click()
    expect(page.locator("#selected")).to_contain_text("Selected: attempt 0")
    editor = page.locator("#editor")
    editor.scroll_into_view_if_needed()
    editor.get_by_role("button", name="Brush", exact=True).click()
    editor.get_by_role("button", name="Brush Size").click()
    size = editor.locator("input[type=range]")
    expect(size).to_have_value("25")  # Gradio's default, wider than the whole 32x32 attempt
    size.fill("2")
    expect(size).to_have_value("2")
    page.keyboard.press("Escape")
    canvas = editor.locator("canvas").first
    expect(canvas).to_be_visible()
    box = canvas.bounding_box()
    x, y = box["x"] + box["width"] / 2 - 100, box["y"] + box["height"] / 2
    page.mouse.move(x, y)
    page.mouse.down()
    for step in range(1, 21):  # a horizontal stroke across the middle of the picture
        page.mouse.move(x + 10 * step, y, steps=2)
    page.mouse.up()

    page.locator("#edit-feather textarea, #edit-feather input").first.fill("4")
    page.locator("#iterate").click()
    expect(status(page).locator(".st-error")).to_contain_text(
        "feather: test:flat repaints a hard-edged region (it takes no feather); leave it blank")
    assert not list((runs / run_id).glob("ui-mask-*.png"))  # refused before the mask was kept

    page.locator("#edit-feather textarea, #edit-feather input").first.fill("")
    page.locator("#iterate").click()
    expect(chat(page)).to_contain_text("(painted region)")
    expect(chat(page).get_by_text(FINISHED)).to_have_count(2)
    (mask,) = (runs / run_id).glob("ui-mask-0-*.png")  # kept before the edit was queued
    painted = np.asarray(Image.open(mask).convert("L")) > 127
    rows, cols = np.flatnonzero(painted.any(axis=1)), np.flatnonzero(painted.any(axis=0))
    assert 2 <= len(rows) <= 6, rows  # a radius-2 stroke: about 4 pixels tall (size 25 covers the whole picture)
    assert len(cols) >= 20, cols  # across the middle
