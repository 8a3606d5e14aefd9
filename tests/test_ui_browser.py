"""The chat UI in a real browser: Debian's chromium driven by Playwright against the app on a
loopback port. The "fake" variant (fast fake back ends) always runs; the "offline" variant (the
shipped default: offline planner, local:shapes, critic:detector) runs once the shapes weights exist."""
from __future__ import annotations

import re

import pytest

from tests.test_ui_harness import CHROMIUM, CHROMIUM_ARGS, offline_default_missing, serve

pytest.importorskip("gradio", reason="the UI needs the ui extra: pip install 'atelier[ui]'")
playwright = pytest.importorskip("playwright.sync_api", reason="browser tests need: pip install playwright")

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason=f"no browser at {CHROMIUM}: apt-get install chromium"),
]

T = 30_000  # ms; generous for a loaded 2-core machine


@pytest.fixture(scope="module", params=["fake", "offline"])
def variant(request):
    if request.param == "offline" and (why := offline_default_missing()):
        pytest.skip(why)
    return request.param


@pytest.fixture(scope="module")
def server(variant, tmp_path_factory):
    with serve(variant, tmp_path_factory.mktemp(f"ui-{variant}") / "runs") as url:
        yield url


@pytest.fixture(scope="module")
def browser():
    with playwright.sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture
def page(browser, server):
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    open_app(page, server)
    yield page
    context.close()


def open_app(page, url):
    page.goto(url)
    page.locator("#status").get_by_text("Ready").wait_for(timeout=T)


def chat(page):
    return page.locator("#chat")


def send(page, text):
    page.locator("#brief textarea").fill(text)
    page.locator("#brief textarea").press("Enter")


def wait_finished(page):
    chat(page).get_by_text(re.compile(r"attempt\(s\) in \d+ round")).last.wait_for(timeout=T)


def run_ids(page) -> list[str]:
    return re.findall(r"\d{8}-\d{6}-[0-9a-f]{6}", chat(page).inner_text())


def test_brief_shows_prompt_attempts_verdicts_and_approved_image(page, variant):
    send(page, "two red circles left of a blue square")
    wait_finished(page)
    text = chat(page).inner_text()
    assert "Prompt" in text and "Changed from your brief" in text  # the refined prompt and its diff
    assert "Attempt 0" in text and re.search(r"(not )?approved by", text)  # each attempt with its verdict
    assert "Final choice" in text
    assert chat(page).locator("img").count() >= 2  # attempts and the final choice, in place
    if variant == "fake":
        assert "✅ approved by critic:seed" in text and "Final choice: attempt 1 (seed 8)" in text
        assert "seed 7 is not liked" in text  # the rejected attempt's issue
        assert "✅ ★ #1 seed 8" in page.locator("#gallery").inner_text()
    assert "Traceback" not in text


def test_edit_a_rewritten_prompt(page):
    page.locator("#review-on input").check()
    send(page, "a red circle")
    box = page.locator("#review-text textarea")
    box.wait_for(timeout=T)
    assert box.input_value()  # the director's proposal, shown for review
    box.fill("a red circle, edited by me")
    page.locator("#review-accept").click()
    wait_finished(page)
    text = chat(page).inner_text()
    assert "edited by the user" in text
    assert "> a red circle, edited by me" in text or "a red circle, edited by me" in text
    assert not page.locator("#review-text").is_visible()


def test_iterate_on_an_attempt(page):
    send(page, "a blue square")
    wait_finished(page)
    before = chat(page).get_by_text(re.compile(r"Attempt \d+ · round")).count()
    page.locator("#gallery button.thumbnail-item").first.click()
    page.locator("#selected").get_by_text("Selected: attempt 0").wait_for(timeout=T)
    assert page.locator("#edit-prompt textarea").input_value()  # prefilled with the attempt's prompt
    page.locator("#edit-instruction textarea").fill("make it brighter")
    page.locator("#iterate").click()
    chat(page).get_by_text("edit of attempt 0").first.wait_for(timeout=T)
    chat(page).get_by_text(re.compile(r"Attempt \d+ · round \d+ · edited")).last.wait_for(timeout=T)
    page.wait_for_function("() => !document.querySelector('#status').innerText.includes('⏳')", timeout=T)
    assert chat(page).get_by_text(re.compile(r"Attempt \d+ · round")).count() > before
    assert "Iterate on attempt 0" in chat(page).inner_text()


def test_open_a_past_run_from_history(page, browser, server):
    send(page, "a green triangle")
    wait_finished(page)
    run_id = run_ids(page)[-1]
    later = page.context.new_page()  # the same browser, later: its runs are still its own
    open_app(later, server)
    later.get_by_role("tab", name="History").click()
    later.locator("#history-table [data-testid^=cell-]", has_text=run_id).first.wait_for(timeout=T)
    later.locator("#history-table [data-testid^=cell-]", has_text=run_id).first.click()
    later.wait_for_function(f"() => document.querySelector('#run-pick input').value.includes('{run_id}')", timeout=T)
    later.locator("#open-run").click()
    chat(later).get_by_text(f"Reopened run {run_id}").wait_for(timeout=T)
    text = chat(later).inner_text()
    assert "a green triangle" in text and "Attempt 0" in text and "Final choice" in text
    later.get_by_role("tab", name="Attempts").click()
    assert later.locator("#gallery img").count() >= 1


def test_two_sessions_do_not_see_each_others_runs(browser, server):
    a_ctx, b_ctx = (browser.new_context() for _ in range(2))
    a, b = a_ctx.new_page(), b_ctx.new_page()
    try:
        open_app(a, server)
        open_app(b, server)
        send(a, "a yellow circle")  # both at once
        send(b, "a purple square")
        wait_finished(a)
        wait_finished(b)
        a_text, b_text = chat(a).inner_text(), chat(b).inner_text()
        assert "a yellow circle" in a_text and "a purple square" not in a_text
        assert "a purple square" in b_text and "a yellow circle" not in b_text
        a_run, b_run = run_ids(a)[-1], run_ids(b)[-1]
        for page, mine, theirs in ((a, a_run, b_run), (b, b_run, a_run)):
            page.get_by_role("tab", name="History").click()
            page.locator("#refresh-history").click()
            page.locator("#history-table [data-testid^=cell-]", has_text=mine).first.wait_for(timeout=T)
            assert theirs not in page.locator("#history-table").inner_text()
        # and another session's stop button stops nothing of theirs
        b.locator("#stop").click()
        b.locator("#status").get_by_text("nothing is running").wait_for(timeout=T)
    finally:
        a_ctx.close()
        b_ctx.close()


def test_errors_are_messages_in_the_chat(page):
    page.get_by_role("tab", name="Settings").click()
    page.locator("#set-image input").fill("nope:model")
    page.locator("#set-image input").press("Enter")
    page.get_by_role("tab", name="Attempts").click()
    send(page, "a red circle")
    chat(page).get_by_text("unknown image back end 'nope:model'").wait_for(timeout=T)
    assert "Traceback" not in chat(page).inner_text()
