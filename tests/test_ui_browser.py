"""The chat UI in a real browser: Debian's chromium driven by Playwright against the app on a
loopback port. Most tests use fast fake back ends; the shipped default (offline planner,
local:shapes, critic:detector) is tried once its weights exist. Every read of the page goes through
Playwright's auto-waiting `expect(...)`, so a busy machine only makes a test slower, never wrong."""
from __future__ import annotations

import os
import re
import struct
import subprocess
import sys
import time
import urllib.request
import zlib
from pathlib import Path

import pytest

from tests.test_ui_harness import CHROMIUM, CHROMIUM_ARGS, ROOT, free_port, offline_default_missing, serve

pytest.importorskip("gradio", reason="the UI needs the ui extra: pip install 'atelier[ui]'")
playwright = pytest.importorskip("playwright.sync_api", reason="browser tests need: pip install playwright")
from playwright.sync_api import expect  # noqa: E402

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason=f"no browser at {CHROMIUM}: apt-get install chromium"),
]

T = 30_000  # ms; generous for a loaded 2-core machine
expect.set_options(timeout=T)
RUN_ID = re.compile(r"\d{8}-\d{6}-[0-9a-f]{6}")
FINISHED = re.compile(r"attempt\(s\) in \d+ round")


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    return tmp_path_factory.mktemp("ui-fake") / "runs"


@pytest.fixture(scope="module")
def server(runs):
    with serve("fake", runs) as url:
        yield url


@pytest.fixture(scope="module")
def browser():
    with playwright.sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture
def page(browser, server):
    context = browser.new_context(viewport={"width": 1400, "height": 1000}, accept_downloads=True)
    page = context.new_page()
    open_app(page, server)
    yield page
    context.close()


def open_app(page, url):
    page.goto(url)
    expect(page.locator("#status")).to_contain_text("Ready")


def chat(page):
    return page.locator("#chat")


def status(page):
    return page.locator("#status")


def send(page, text):
    page.locator("#brief textarea").fill(text)
    page.locator("#brief textarea").press("Enter")


def wait_finished(page, count: int = 1):
    expect(chat(page).get_by_text(FINISHED)).to_have_count(count)
    expect(status(page)).not_to_contain_text("⏳")


def settings(page, **fields):
    """Type into Settings text fields by elem_id suffix (seed, seconds, image...)."""
    page.get_by_role("tab", name="Settings").click()
    for name, value in fields.items():
        box = page.locator(f"#set-{name} input, #set-{name} textarea").first
        box.fill(str(value))
        box.press("Enter") if name in ("image", "llm", "critic") else box.blur()
    page.get_by_role("tab", name="Attempts").click()


def run_id_of(page) -> str:
    code = chat(page).locator("code", has_text=RUN_ID).last
    expect(code).to_be_visible()
    return RUN_ID.search(code.text_content()).group(0)


def never_raw_codes(page):
    for raw in ("budget_spent", "Traceback", "✔ finished", "✔ ended"):
        expect(page.locator("body")).not_to_contain_text(raw)


# ---- a run, start to end -------------------------------------------------------------------------
def test_brief_shows_prompt_attempts_verdicts_and_approved_image(page):
    send(page, "two red circles left of a blue square")
    wait_finished(page)
    expect(chat(page)).to_contain_text("Changed from your brief")  # the refined prompt and its diff
    expect(chat(page)).to_contain_text("✅ approved by critic:seed")
    expect(chat(page)).to_contain_text("seed 7 is not liked")  # the rejected attempt's issue
    expect(chat(page)).to_contain_text("Final choice: attempt 1 (seed 8)")
    expect(page.locator("#gallery")).to_contain_text("✅ ★ #1 seed 8")
    expect(status(page)).to_contain_text("Approved — seed 8 after 2 attempts")
    expect(status(page).locator(".st-ok")).to_be_visible()
    never_raw_codes(page)


@pytest.mark.skipif(bool(offline_default_missing()), reason=str(offline_default_missing()))
def test_the_offline_default_runs_in_the_browser(browser, tmp_path):
    with serve("offline", tmp_path / "runs") as url:
        context = browser.new_context(viewport={"width": 1400, "height": 1000})
        page = context.new_page()
        open_app(page, url)
        send(page, "a red circle left of a blue square")
        expect(chat(page).get_by_text(FINISHED)).to_have_count(1, timeout=180_000)
        expect(chat(page)).to_contain_text(re.compile(r"(not )?approved by"))
        page.locator("#gallery button.thumbnail-item").first.click()
        expect(page.locator("#viewer-info")).to_contain_text(re.compile(r"Layout|No layout"))
        context.close()


# ---- 1. status and chat tell the truth ----------------------------------------------------------
def test_a_failed_run_reads_as_failed(page):
    settings(page, image="broken:gpu")
    send(page, "a red circle")
    expect(status(page).locator(".st-error")).to_contain_text("Failed")
    expect(status(page)).not_to_contain_text("✅")
    expect(status(page)).not_to_contain_text("✔")
    expect(chat(page)).to_contain_text("the GPU is on fire")
    expect(chat(page)).to_contain_text("Failed —")
    never_raw_codes(page)


def test_an_unknown_model_is_refused_as_a_failure(page):
    settings(page, image="nope:model")
    send(page, "a red circle")
    expect(status(page).locator(".st-error")).to_contain_text("unknown image back end 'nope:model'")
    expect(page.locator("#brief textarea")).to_have_value("a red circle")  # the text is kept
    never_raw_codes(page)


def test_budget_spent_and_stopped_in_plain_words(page):
    settings(page, seed=100, iterations=2)
    send(page, "a blue square")
    wait_finished(page)
    expect(status(page).locator(".st-warn")).to_contain_text("Budget spent — no approval within 2 attempts")
    expect(chat(page)).to_contain_text("Budget spent — no approval within 2 attempts")
    page.get_by_role("tab", name="History").click()
    expect(page.locator("#history-table")).to_contain_text("budget spent")
    page.get_by_role("tab", name="Attempts").click()
    settings(page, image="slow:flat", seed=100, iterations=10)  # long enough to be stopped on a busy machine
    send(page, "a green square")
    expect(status(page)).to_contain_text("attempt 1 of")
    page.locator("#stop").click()
    expect(status(page).locator(".st-stopped")).to_contain_text("Stopped by you")
    never_raw_codes(page)


# ---- 2. each run's messages are its own ---------------------------------------------------------
def test_a_second_brief_keeps_the_first_prompt_block(page):
    send(page, "a red circle")
    wait_finished(page)
    send(page, "a yellow triangle")
    wait_finished(page, 2)
    prompts = chat(page).get_by_text("📝 Prompt")
    expect(prompts).to_have_count(2)
    expect(chat(page)).to_contain_text("a red circle")
    expect(chat(page).locator("blockquote", has_text="red circle")).not_to_have_count(0)
    expect(chat(page).locator("blockquote", has_text="yellow triangle")).not_to_have_count(0)


# ---- 3. sending while busy queues the brief ------------------------------------------------------
def test_a_brief_sent_while_busy_is_queued(page):
    page.locator("#review-on input").check()
    send(page, "a red circle")
    expect(page.locator("#review-text textarea")).not_to_have_value("")  # waiting for the review
    send(page, "a purple square")
    expect(chat(page)).to_contain_text("Queued")
    expect(chat(page)).to_contain_text("a purple square")
    expect(page.locator("#brief textarea")).to_have_value("")
    page.locator("#review-accept").click()
    expect(page.locator("#review-text textarea")).not_to_have_value("")  # the queued one's review
    page.locator("#review-accept").click()
    wait_finished(page, 2)
    expect(chat(page).get_by_text("📝 Prompt")).to_have_count(2)


# ---- 4. a run survives a reload -------------------------------------------------------------------
def test_a_run_survives_a_reload(page):
    settings(page, seed=8, iterations=3)
    page.locator("#review-on input").check()
    send(page, "a calm red circle")
    expect(page.locator("#review-text textarea")).not_to_have_value("")  # the run is in flight
    page.reload()
    expect(chat(page)).to_contain_text("a calm red circle")  # the chat is back
    expect(page.locator("#review-text textarea")).not_to_have_value("")  # and the run, still waiting
    expect(status(page)).to_contain_text("waiting for you to review")
    page.get_by_role("tab", name="Settings").click()
    expect(page.locator("#set-seed input, #set-seed textarea").first).to_have_value("8")  # the settings
    page.get_by_role("tab", name="Attempts").click()
    page.locator("#review-accept").click()
    wait_finished(page)
    expect(chat(page)).not_to_contain_text("stopped by the user")
    expect(status(page)).to_contain_text("Approved")


# ---- 5. progress in words and a bar ---------------------------------------------------------------
def test_progress_reads_attempt_time_and_a_bar(page):
    settings(page, image="slow:flat", seed=100, iterations=3)
    send(page, "a blue circle")
    expect(status(page)).to_contain_text(re.compile(r"attempt [12] of 3 · \d+ s"))
    expect(status(page).get_by_role("progressbar")).to_be_visible()
    expect(status(page)).to_contain_text(re.compile(r"attempt [23] of 3 · \d+ s · (about \d+ s left|almost done)"))
    wait_finished(page)
    expect(status(page).get_by_role("progressbar")).to_have_count(0)


# ---- 6. the viewer --------------------------------------------------------------------------------
def test_the_viewer_shows_seed_prompt_verdict_and_acts(page):
    send(page, "a red circle left of a blue square")
    wait_finished(page)
    page.locator("#gallery button.thumbnail-item").nth(1).click()
    viewer = page.locator("#viewer")
    expect(viewer).to_be_visible()
    expect(page.locator("#viewer-info")).to_contain_text("Attempt 1 · seed 8")
    expect(page.locator("#viewer-info")).to_contain_text("Prompt:")
    expect(page.locator("#viewer-info")).to_contain_text("approved by critic:seed")
    expect(page.locator("#viewer-info")).to_contain_text("No layout")  # test:flat composes no layout
    expect(page.locator("#viewer-image img")).to_have_js_property("complete", True)
    with page.expect_download() as original:
        page.locator("#viewer-download").click()
    assert original.value.suggested_filename.endswith(".png")
    with page.expect_download() as big:
        page.locator("#viewer-download-big").click()
    assert "-x4" in big.value.suggested_filename
    page.locator("#viewer-seed").click()
    expect(status(page)).to_contain_text("Seed 8 set")
    page.locator("#viewer-edit").click()
    expect(viewer).to_be_hidden()
    expect(page.locator("#selected")).to_contain_text("Selected: attempt 1")
    expect(page.locator("#edit-prompt textarea")).not_to_have_value("")
    page.get_by_role("tab", name="Settings").click()
    expect(page.locator("#set-seed input, #set-seed textarea").first).to_have_value("8")


def test_iterate_on_an_attempt(page):
    send(page, "a blue square")
    wait_finished(page)
    page.locator("#gallery button.thumbnail-item").first.click()
    page.locator("#viewer-edit").click()
    expect(page.locator("#selected")).to_contain_text("Selected: attempt 0")
    expect(page.locator("#edit-prompt textarea")).not_to_have_value("")  # the attempt's prompt
    page.locator("#edit-instruction textarea").fill("make it brighter")
    page.locator("#iterate").click()  # test:flat declares no "instruct" edit: said, not ignored
    expect(status(page).locator(".st-error")).to_contain_text("test:flat cannot follow an instruction")
    page.locator("#edit-instruction textarea").fill("")
    page.locator("#iterate").click()
    expect(chat(page)).to_contain_text("Iterate on attempt 0")
    expect(chat(page).get_by_text(re.compile(r"Attempt \d+ · round \d+ · edited")).last).to_be_visible()
    expect(status(page)).not_to_contain_text("⏳")


# ---- 7. checks before running ---------------------------------------------------------------------
def test_brief_length_counter_and_refusal_keep_the_text(page):
    long = "a red circle " * 400  # 5200 characters
    page.locator("#brief textarea").fill(long)
    expect(page.locator("#brief-count .over")).to_contain_text("/ 4,000 characters")
    page.locator("#brief textarea").press("Enter")
    expect(status(page).locator(".st-error")).to_contain_text("the limit is 4,000")
    expect(page.locator("#brief textarea")).to_have_value(long)
    expect(chat(page).locator(".message")).to_have_count(0)  # nothing echoed into the chat


def test_a_negative_time_budget_is_refused(page):
    settings(page, seconds=-5)
    send(page, "a red circle")
    expect(status(page).locator(".st-error")).to_contain_text("max_seconds: Input should be greater than 0")  # RunOptions: the same words on every surface
    expect(page.locator("#brief textarea")).to_have_value("a red circle")


def png_header(width: int, height: int) -> bytes:
    """A PNG whose header claims width x height (no pixel data needed to be refused)."""
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(b"")) + chunk(b"IEND", b""))


@pytest.mark.parametrize("name, content, why", [
    ("notes.png", b"this is text, not a picture", "not an image file: notes.png"),
    ("huge.png", png_header(12000, 12000), "image too large: huge.png"),
], ids=["text-renamed-png", "12000x12000"])
def test_uploads_are_checked_on_upload(page, tmp_path, name, content, why):
    (tmp_path / name).write_bytes(content)
    page.locator("#brief input[type=file]").set_input_files(str(tmp_path / name))
    expect(status(page).locator(".st-error")).to_contain_text(why)
    expect(status(page)).not_to_contain_text("/tmp")
    expect(status(page)).not_to_contain_text(str(tmp_path))
    expect(page.locator("#brief")).not_to_contain_text(name)  # taken out of the box


def test_model_availability_is_shown_in_settings(page):
    page.get_by_role("tab", name="Settings").click()
    note = page.locator("#models-note")
    expect(note).to_contain_text("Not available here")
    # a local server URL is not allowed for UI users unless the operator opted in
    expect(note).to_contain_text("openai-compatible:qwen2.5@http://localhost:11434/v1 (not allowed here)")
    page.locator("#set-llm input").click()
    expect(page.get_by_role("option", name=re.compile(r"openai-compatible.* — ✗ not allowed here"))).to_be_visible()
    expect(page.get_by_role("option", name="offline", exact=True)).to_be_visible()


# ---- 8. readable, on a phone too ------------------------------------------------------------------
DUPLICATE_IDS = """() => { const seen = {}; document.querySelectorAll('[id]').forEach(e => {
  if (e.id && !e.closest('svg')) seen[e.id] = (seen[e.id] || 0) + 1; });
  return Object.keys(seen).filter(k => seen[k] > 1).join(','); }"""
CUT_TEXT = """(sel) => Array.from(document.querySelectorAll(sel)).filter(e => e.offsetParent !== null
  && e.scrollWidth > e.clientWidth + 1).map(e => e.textContent.trim()).join(' | ')"""
LETTER_WRAPPED = """() => Array.from(document.querySelectorAll('#verdicts th, #history-table th'))
  .filter(e => e.offsetParent !== null).filter(e => {
    const r = document.createRange(); r.selectNodeContents(e);
    const lines = new Set(Array.from(r.getClientRects()).filter(x => x.width > 0).map(x => Math.round(x.top)));
    return lines.size > e.textContent.trim().split(/\\s+/).length; })
  .map(e => e.textContent.trim()).join('|')"""


@pytest.mark.parametrize("width", [1400, 390])
def test_tables_and_gallery_are_readable(browser, server, width):
    context = browser.new_context(viewport={"width": width, "height": 900})
    page = context.new_page()
    try:
        open_app(page, server)
        send(page, "two red circles left of a blue square")
        wait_finished(page)
        page.wait_for_function(f"() => !({DUPLICATE_IDS})()")
        expect(page.locator("#gallery .caption-label").first).to_be_visible()
        page.wait_for_function(f"() => ({CUT_TEXT})('#gallery .caption-label') === ''")
        thumb = page.locator("#gallery button.thumbnail-item").first.bounding_box()
        assert thumb["width"] <= 200  # one or two items are not blown up and cropped
        page.wait_for_function(f"() => ({LETTER_WRAPPED})() === ''")
        page.get_by_role("tab", name="History").click()
        page.locator("#refresh-history").click()
        expect(page.locator("#history-table")).to_contain_text("two red circles")
        expect(page.locator("#history-table")).to_contain_text("approved")
        page.wait_for_function(f"() => ({LETTER_WRAPPED})() === ''")
        if width < 500:  # nothing wider than the phone
            page.wait_for_function("() => document.documentElement.scrollWidth <= window.innerWidth + 1")
    finally:
        context.close()


# ---- sessions: two at once, each its own ----------------------------------------------------------
def test_two_sessions_at_once_do_not_see_each_others_runs(browser, server):
    a_ctx, b_ctx = (browser.new_context() for _ in range(2))
    a, b = a_ctx.new_page(), b_ctx.new_page()
    try:
        open_app(a, server)
        open_app(b, server)
        send(a, "a yellow circle")  # both at once
        send(b, "a purple square")
        wait_finished(a)
        wait_finished(b)
        expect(chat(a)).not_to_contain_text("a purple square")
        expect(chat(b)).not_to_contain_text("a yellow circle")
        for p in (a, b):
            expect(status(p)).to_contain_text("Approved")
        a_run, b_run = run_id_of(a), run_id_of(b)
        for p, mine, theirs in ((a, a_run, b_run), (b, b_run, a_run)):
            p.get_by_role("tab", name="History").click()
            p.locator("#refresh-history").click()
            expect(p.locator("#history-table")).to_contain_text(mine)
            expect(p.locator("#history-table")).not_to_contain_text(theirs)
        b.locator("#stop").click()  # another session's stop button stops nothing of theirs
        expect(status(b)).to_contain_text("nothing is running")
    finally:
        a_ctx.close()
        b_ctx.close()


def test_open_a_past_run_from_history(page, server):
    send(page, "a green triangle")
    wait_finished(page)
    run_id = run_id_of(page)
    later = page.context.new_page()  # the same browser, another tab: its runs are still its own
    open_app(later, server)
    later.get_by_role("tab", name="History").click()
    cell = later.locator("#history-table [data-testid^=cell-]", has_text=run_id).first
    cell.click()
    expect(later.locator("#run-pick input")).to_have_value(re.compile(run_id))
    later.locator("#open-run").click()
    expect(chat(later)).to_contain_text(f"Reopened run {run_id}")
    expect(chat(later)).to_contain_text("a green triangle")
    expect(chat(later)).to_contain_text("Final choice")
    later.get_by_role("tab", name="Attempts").click()
    expect(later.locator("#gallery img")).not_to_have_count(0)


def test_edit_a_rewritten_prompt(page):
    page.locator("#review-on input").check()
    send(page, "a red circle")
    box = page.locator("#review-text textarea")
    expect(box).not_to_have_value("")  # the director's proposal, shown for review
    box.fill("a red circle, edited by me")
    page.locator("#review-accept").click()
    wait_finished(page)
    expect(chat(page)).to_contain_text("edited by the user")
    expect(chat(page)).to_contain_text("a red circle, edited by me")
    expect(page.locator("#review-box")).to_be_hidden()


# ---- 11. logged-in users cannot fetch each other's files ------------------------------------------
def test_users_cannot_fetch_each_others_files(browser, tmp_path):
    runs = tmp_path / "runs"
    with serve("fake", runs, auth=[("alice", "pa"), ("bob", "pb")]) as url:
        contexts = {}
        for user, password in (("alice", "pa"), ("bob", "pb")):
            ctx = contexts[user] = browser.new_context()
            ctx.request.post(url + "login", form={"username": user, "password": password})
        alice, bob = contexts["alice"].new_page(), contexts["bob"].new_page()
        open_app(alice, url)
        open_app(bob, url)
        expect(status(alice)).to_contain_text("signed in as alice")
        send(alice, "a red circle")
        wait_finished(alice)
        run_id = run_id_of(alice)
        expect(alice.locator("#gallery img").first).to_have_js_property("complete", True)
        shown = alice.locator("#gallery img").first.get_attribute("src")
        assert "gradio_api/file=" in shown and str(runs) not in shown  # a cached copy, not the runs folder
        files = [runs / "index.sqlite", runs / run_id / "run.json", *sorted((runs / run_id).rglob("*.png"))]
        assert len(files) > 2 and all(f.exists() for f in files)
        for f in files:
            for path in (str(f), f"{runs}/../{f.relative_to(runs.parent)}"):
                response = contexts["bob"].request.get(url + "gradio_api/file=" + path)
                assert response.status in (403, 404), (path, response.status)
        # nor through the page's own routes
        bob.get_by_role("tab", name="History").click()
        bob.locator("#refresh-history").click()
        expect(bob.locator("#history-table")).not_to_contain_text(run_id)
        for ctx in contexts.values():
            ctx.close()


# ---- 9. where the server listens ----------------------------------------------------------------
def wait_http(url: str, seconds: float = 90) -> int:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                return r.status
        except OSError:
            time.sleep(0.5)
    return 0


@pytest.mark.parametrize("flag", [False, True])
def test_gradio_server_port_is_honoured_and_flags_win(browser, tmp_path, flag):
    env_port, flag_port = free_port(), free_port()
    env = {**os.environ, "GRADIO_SERVER_PORT": str(env_port), "GRADIO_SERVER_NAME": "127.0.0.1",
           "GRADIO_ANALYTICS_ENABLED": "False"}
    args = [sys.executable, str(ROOT / "app.py"), "--runs", str(tmp_path / "runs")]
    args += ["--port", str(flag_port)] if flag else []
    proc = subprocess.Popen(args, env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        port = flag_port if flag else env_port
        assert wait_http(f"http://127.0.0.1:{port}/") == 200
        page = browser.new_page()
        open_app(page, f"http://127.0.0.1:{port}/")
        page.close()
        if flag:
            assert wait_http(f"http://127.0.0.1:{env_port}/", seconds=1) == 0
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def test_reads_use_expect_everywhere():
    source = Path(__file__).read_text()
    assert source.count("inner_" + "text(") == 0 and ".wait_" + "for(" not in source
