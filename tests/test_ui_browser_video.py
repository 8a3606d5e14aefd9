"""A clip run in a real browser (Debian's chromium, Playwright, as in tests/test_ui_browser.py): the
chat plays the clip in a `<video>` element, the gallery shows it, and the viewer plays it with its
verdict frame by frame. On the fast fake video model (`testvid:clip`, `critic:frames`:
tests/fakes_video.py), and on the embedded `local:shapes-video` once its weights exist."""
from __future__ import annotations

import os
import re
from contextlib import contextmanager
from pathlib import Path

import pytest

pytest.importorskip("gradio", reason="the UI needs the ui extra: pip install 'atelier[ui]'")
pytest.importorskip("playwright.sync_api", reason="browser tests need: pip install playwright")
# the browser, its marks (browser; skipped without chromium) and the waits are test_ui_browser.py's
from tests.test_ui_browser import FINISHED, T, browser, expect, pytestmark  # noqa: E402,F401
from tests.test_ui_harness import free_port  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
VIDEO_WEIGHTS = ROOT / "local_models" / "shapes" / "weights-video" / "model_index.json"
SERVED_MP4 = re.compile(r"/gradio_api/file=.*\.mp4")


@contextmanager
def clip_app(runs: Path, variant: str):
    """The app on a free loopback port with a video model by default; yields its URL."""
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    from agent.core import registry
    from agent.critics import CRITICS
    from agent.surfaces import ui as app
    from agent.surfaces.ui_support import Settings
    from tests import fakes
    with pytest.MonkeyPatch.context() as mp, registry.override("video", "testvid", "tests.fakes_video:ClipBackend"):
        mp.setitem(CRITICS, "frames", "tests.fakes_video:FrameCritic")
        mp.setattr(fakes, "APPROVE_SEEDS", {4})
        settings = (Settings(video_model="testvid:clip", critic="critic:frames", max_iterations=2, seed=3)
                    if variant == "fake" else Settings(video_model="local:shapes-video", max_iterations=1, seed=0))
        demo = app.build_app(runs, settings, review_timeout=60)
        port = free_port()
        demo.launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True,
                    **app.launch_kwargs(demo))
        try:
            yield f"http://127.0.0.1:{port}/"
        finally:
            demo.close()
            registry.resolve.cache_clear()


@pytest.mark.parametrize("variant", ["fake", pytest.param("real", marks=pytest.mark.skipif(
    not VIDEO_WEIGHTS.is_file(), reason="the local:shapes-video weights are not in "
    "local_models/shapes/weights-video/ yet (the video model is being trained)"))])
def test_a_clip_plays_in_the_chat_gallery_and_viewer(browser, tmp_path, variant):
    wait = T if variant == "fake" else 300_000
    with clip_app(tmp_path / "runs", variant) as url:
        context = browser.new_context(viewport={"width": 1400, "height": 1000})
        page = context.new_page()
        page.goto(url)
        expect(page.locator("#status")).to_contain_text("Ready", timeout=T)
        page.locator("#brief textarea").fill("a red circle moving to the right")
        page.locator("#brief textarea").press("Enter")
        expect(page.locator("#chat").get_by_text(FINISHED)).to_have_count(1, timeout=wait)

        # the best result plays in the chat: a <video> with a src the page serves (a copy of the MP4)
        best = page.locator("#chat video").last
        expect(best).to_have_attribute("src", SERVED_MP4, timeout=T)
        if variant == "fake":
            expect(page.locator("#chat")).to_contain_text("Final choice: attempt 1 (seed 4)", timeout=T)
            expect(page.locator("#chat")).to_contain_text("frame 5: the circle jumps back", timeout=T)
        page.wait_for_function("v => v.readyState >= 1 && v.duration > 0", arg=best.element_handle(), timeout=T)

        # the gallery shows each clip (a looping GIF) with its verdict in the caption
        thumbs = page.locator("#gallery button.thumbnail-item")
        expect(thumbs.first.locator("img")).to_have_attribute("src", re.compile(r"\.gif"), timeout=T)
        expect(page.locator("#gallery")).to_contain_text("🎞", timeout=T)

        # a selected clip plays in the viewer, its verdict listed frame by frame
        thumbs.first.click()
        expect(page.locator("#viewer-video video")).to_have_attribute("src", SERVED_MP4, timeout=T)
        expect(page.locator("#viewer-info")).to_contain_text("Clip:", timeout=T)
        if variant == "fake":
            expect(page.locator("#viewer-info")).to_contain_text("Frame by frame", timeout=T)
        expect(page.locator("#selected")).to_contain_text("This is a clip", timeout=T)
        expect(page.locator("body")).not_to_contain_text("Traceback")
        context.close()
