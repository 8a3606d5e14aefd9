"""The chat UI in a real browser (as tests/test_ui_browser.py, whose server, browser and waits it
uses): the viewer's keyboard and previous/next, captions under their thumbnails, and the phone
layout (the status in view on load, the viewer's Close reachable, the verdicts table scrollable)."""
from __future__ import annotations

import pytest

pytest.importorskip("gradio", reason="the UI needs the ui extra: pip install 'atelier[ui]'")
pytest.importorskip("playwright.sync_api", reason="browser tests need: pip install playwright")
from tests.test_ui_browser import (browser, expect, open_app, page, pytestmark, runs, send,  # noqa: E402,F401
                                   server, wait_finished)

BELOW = """(sel) => Array.from(document.querySelectorAll(sel)).every(item => {
  const img = item.querySelector('img'), cap = item.querySelector('.caption-label');
  if (!img || !cap) return false;
  return cap.getBoundingClientRect().top >= img.getBoundingClientRect().bottom - 1; })"""
IN_VIEW = """(sel) => { const r = document.querySelector(sel).getBoundingClientRect();
  return r.top >= 0 && r.bottom <= window.innerHeight && r.width > 0; }"""


def test_the_viewer_steps_with_the_keyboard_and_captions_sit_under_thumbnails(page):
    send(page, "two red circles left of a blue square")
    wait_finished(page)
    thumbs = page.locator("#gallery button.thumbnail-item")
    expect(thumbs).to_have_count(2)
    page.wait_for_function(f"() => ({BELOW})('#gallery button.thumbnail-item')")
    thumbs.first.click()
    info = page.locator("#viewer-info")
    expect(info).to_contain_text("Attempt 0 · seed 7")
    expect(page.locator("#viewer-prev")).to_be_disabled()
    page.keyboard.press("ArrowRight")
    expect(info).to_contain_text("Attempt 1 · seed 8")
    expect(page.locator("#viewer-next")).to_be_disabled()
    page.locator("#viewer-prev").click()
    expect(info).to_contain_text("Attempt 0 · seed 7")
    page.keyboard.press("Escape")
    expect(page.locator("#viewer")).to_be_hidden()


def test_the_phone_layout(browser, server):
    context = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True)
    phone = context.new_page()
    try:
        open_app(phone, server)
        phone.wait_for_function(f"() => ({IN_VIEW})('#status')")  # not scrolled past it on load
        send(phone, "two red circles left of a blue square")
        wait_finished(phone)
        table = phone.locator("#verdicts")
        # scrolled to by the page's own scrollIntoView: Playwright's scroll_into_view_if_needed first waits for the
        # element to be still for two frames, and on a loaded machine the phone page was still laying out for 30 s
        table.evaluate("el => el.scrollIntoView({block: 'center'})")
        expect(table).to_contain_text("✅ yes")
        # wider than the phone, the table scrolls inside its frame instead of being cut off
        phone.wait_for_function("""() => { const t = document.querySelector('#verdicts table');
          let e = t.parentElement; while (e && e.id !== 'verdicts') {
            const s = getComputedStyle(e).overflowX;
            if (e.scrollWidth > e.clientWidth + 1) return s === 'auto' || s === 'scroll';
            e = e.parentElement; } return true; }""")
        phone.locator("#gallery button.thumbnail-item").first.click()
        expect(phone.locator("#viewer-info")).to_contain_text("Attempt 0")
        phone.wait_for_function(f"() => ({IN_VIEW})('#viewer-close')")
        phone.locator("#viewer-close").click()
        expect(phone.locator("#viewer")).to_be_hidden()
    finally:
        context.close()
