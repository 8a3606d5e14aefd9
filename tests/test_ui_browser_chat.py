"""The chat UI's brief box in a real browser (as tests/test_ui_browser.py, whose server, browser and
waits it uses): an unsent draft comes back after a reload and a sent one does not; an image pasted
or dropped into the box is attached and reaches the run as its reference."""
from __future__ import annotations

import base64
import io

import pytest

pytest.importorskip("gradio", reason="the UI needs the ui extra: pip install 'atelier[ui]'")
pytest.importorskip("playwright.sync_api", reason="browser tests need: pip install playwright")
from tests.test_ui_browser import (browser, chat, expect, open_app, page, pytestmark, runs, send,  # noqa: E402,F401
                                   server, status, wait_finished)


def test_an_unsent_draft_survives_a_reload_and_a_sent_one_does_not(page, server):
    box = page.locator("#brief textarea")
    box.fill("a green triangle above a")  # typed, not sent
    page.reload()
    expect(page.locator("#status")).to_contain_text("Ready")
    expect(box).to_have_value("a green triangle above a")
    expect(page.locator("#brief-count")).to_contain_text("24 / 4,000 characters")
    box.fill("a green triangle")
    box.press("Enter")
    wait_finished(page)
    expect(box).to_have_value("")
    page.reload()
    expect(chat(page)).to_contain_text("a green triangle")  # the chat is back, the sent brief not in the box
    expect(box).to_have_value("")


def png_base64() -> str:
    from PIL import Image
    buf = io.BytesIO()
    Image.new("RGB", (64, 64), (200, 40, 40)).save(buf, format="PNG")
    return base64.b64encode(buf.getvalue()).decode()


# a real ClipboardEvent / DragEvent carrying a PNG file, as the browser makes for a paste or a drop
EVENT = """([kind, data]) => {
  const bytes = Uint8Array.from(atob(data), c => c.charCodeAt(0));
  const transfer = new DataTransfer();
  transfer.items.add(new File([bytes], kind + '.png', {type: 'image/png'}));
  const box = document.querySelector('#brief textarea');
  if (kind === 'pasted') {
    box.dispatchEvent(new ClipboardEvent('paste', {clipboardData: transfer, bubbles: true, cancelable: true}));
  } else {
    for (const type of ['dragenter', 'dragover', 'drop'])  // onto the text: it bubbles to the box's drop zone
      box.dispatchEvent(new DragEvent(type, {dataTransfer: transfer, bubbles: true, cancelable: true}));
  }
}"""


@pytest.mark.parametrize("kind", ["pasted", "dropped"])
def test_an_image_pasted_or_dropped_into_the_brief_is_attached(page, kind):
    page.evaluate(EVENT, [kind, png_base64()])
    expect(page.locator("#brief img")).to_have_count(1)  # the attachment's thumbnail in the box
    send(page, "a red circle")
    wait_finished(page)
    expect(chat(page).locator(".message.user img, .user img").first).to_be_visible()  # sent with the brief
    expect(status(page)).not_to_contain_text("not an image")


def test_ticked_attempts_download_as_a_zip(page):
    import zipfile
    send(page, "two red circles left of a blue square")
    wait_finished(page)
    picks = page.locator("#zip-pick input[type=checkbox]")
    expect(picks).to_have_count(2)
    expect(page.locator("#zip-download")).to_be_disabled()
    picks.nth(0).check()
    picks.nth(1).check()
    button = page.locator("#zip-download")
    expect(button).to_contain_text("2 attempts (.zip)")
    with page.expect_download() as got:
        button.click()
    path = got.value.path()
    assert got.value.suggested_filename.endswith("-2.zip")
    with zipfile.ZipFile(path) as z:
        assert len(z.namelist()) == 2 and all(n.endswith(".png") for n in z.namelist())
