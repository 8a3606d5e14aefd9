"""The chat UI's typeset edit in a real browser (as tests/test_ui_browser.py, whose server, browser and
waits it uses): pick an attempt, type the words, pick where and the font, set them; the chat says what
was asked, and the run gains an attempt made by typesetting, with the words and font it was given."""
from __future__ import annotations

import json

import pytest

pytest.importorskip("gradio", reason="the UI needs the ui extra: pip install 'atelier[ui]'")
pytest.importorskip("playwright.sync_api", reason="browser tests need: pip install playwright")
from tests.test_ui_browser import (browser, chat, expect, open_app, page, pytestmark, run_id_of, runs,  # noqa: E402,F401
                                   send, server, status, wait_finished)


def pick(page, dropdown: str, choice: str) -> None:
    """Choose `choice` in a Gradio dropdown by clicking it in the opened list."""
    page.locator(f"{dropdown} input").click()
    option = page.get_by_role("option", name=choice, exact=True)
    expect(option).to_be_visible()
    option.click()
    expect(page.locator(f"{dropdown} input")).to_have_value(choice)
    expect(option).to_be_hidden()  # the list has closed: the choice is the dropdown's value


def test_set_the_words_on_an_attempt(page, runs):
    send(page, "a blue square with the word OK at the top")
    wait_finished(page)
    page.locator("#typeset").click()  # nothing picked yet: said in the status line
    expect(status(page).locator(".st-error")).to_contain_text("pick an attempt")
    page.locator("#gallery button.thumbnail-item").first.click()
    page.locator("#viewer-edit").click()
    expect(page.locator("#selected")).to_contain_text("Selected: attempt 0")
    page.locator("#typeset").click()
    expect(status(page).locator(".st-error")).to_contain_text("type the words")
    page.locator("#typeset-words textarea").fill("OK")
    # each choice is clicked in its open list: Enter picks whichever option is highlighted, and under
    # load that was still 'bottom' while the box already read the typed 'top'
    pick(page, "#typeset-place", "top")
    pick(page, "#typeset-font", "DejaVu Serif")
    expect(page.locator("#typeset-place input")).to_have_value("top")  # still, once the list has closed
    page.locator("#typeset").click()
    expect(chat(page)).to_contain_text("Set the words “OK” on attempt 0")
    expect(chat(page)).to_contain_text("at the top, in DejaVu Serif")
    expect(chat(page).get_by_text("Edit ", exact=False).last).to_be_visible()
    expect(status(page)).not_to_contain_text("⏳")
    record = json.loads(next(runs.rglob(f"{run_id_of(page)}/run.json")).read_text())
    lettered = record["attempts"][-1]
    assert lettered["note"].startswith("typeset 'OK' onto attempt 0")
    layer = lettered["artifact"]["meta"]["typeset"][0]
    assert layer["text"] == "OK" and layer["font"] == "DejaVu Serif"
    # in the viewer, the lettered attempt slides against the attempt it was set on; the first has no slider
    thumbs = page.locator("#gallery button.thumbnail-item")
    thumbs.last.click()
    compare = page.locator("#viewer-compare")
    expect(compare).to_be_visible()
    expect(compare).to_contain_text(f"Before (attempt 0) / after (attempt {lettered['index']})")
    expect(compare.locator("img")).to_have_count(2)
    page.locator("#viewer-close").click()
    thumbs.first.click()
    expect(page.locator("#viewer-info")).to_contain_text("Attempt 0")
    expect(compare).to_be_hidden()
