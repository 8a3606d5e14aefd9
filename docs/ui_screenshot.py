"""Takes docs/ui.png (the chat UI after a finished run, 1280x800), docs/ui-viewer.png (the viewer on
one attempt, layout boxes drawn) and docs/ui-phone.png (the page on a 390x844 phone as it loads),
in headless chromium (Debian's /usr/bin/chromium).

    python docs/ui_screenshot.py            # the offline default when its weights exist, else a sketch

Without the shapes model's weights it registers a stand-in image back end (`sketch:`) that draws
the shapes world's ground truth for the prompt, leaving one object out on the first attempt so the
real critic (critic:detector) has something to reject; each image takes a second, so the picture
lets the run be watched.
"""
from __future__ import annotations

import random
import re
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

BRIEF = "two red circles left of a blue square"


class SketchBackend:
    def __init__(self, model: str = ""):
        from agent.core.protocols import ModelInfo
        self.info = ModelInfo(name="sketch", sizes=[(64, 64)], default_steps=1, default_guidance=5.0,
                              edits=["img2img", "inpaint"])

    def generate(self, request, out_dir):
        from agent.core.artifacts import save_image
        from agent.core.spec_parser import parse_spec
        from local_models.shapes.world import render, scene_for_spec
        time.sleep(1.0)
        out = []
        for i in range(request.n):
            seed = request.seed + i
            rng = random.Random(seed)
            spec = parse_spec(request.prompt)
            scene = scene_for_spec(rng, spec, "beige")
            if seed % 3 == 0 and len(scene.objects) > 1:  # a flawed first try
                scene.objects = scene.objects[:1]
            image = render(scene)
            out.append(save_image(image, out_dir, request.model_copy(update={"seed": seed, "n": 1}), index=i))
        return out

    def edit(self, request, out_dir):
        return self.generate(request, out_dir)


def main() -> None:
    from agent.surfaces import ui as app
    from agent.core import registry
    from agent.surfaces.ui_support import Settings
    from playwright.sync_api import sync_playwright
    from tests.test_ui_harness import CHROMIUM_ARGS, free_port, offline_default_missing

    if offline_default_missing():
        registry.register("image", "sketch", "docs.ui_screenshot:SketchBackend")
        defaults = Settings(image_model="sketch:shapes", max_iterations=4, seed=3)
    else:
        defaults = Settings(max_iterations=4, seed=3)
    runs = Path("/tmp/atelier-ui-shot/runs")
    demo = app.build_app(runs, defaults)
    port = free_port()
    demo.launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True,
                **app.launch_kwargs(demo))
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", headless=True, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 800})
        page.goto(f"http://127.0.0.1:{port}/")
        page.locator("#status").get_by_text("Ready").wait_for(timeout=60_000)
        page.locator("#brief textarea").fill(BRIEF)
        page.locator("#brief textarea").press("Enter")
        from playwright.sync_api import expect
        expect(page.locator("#chat").get_by_text(re.compile(r"attempt\(s\) in \d+ round"))).to_have_count(
            1, timeout=300_000)
        expect(page.locator("#status")).not_to_contain_text("⏳", timeout=60_000)
        page.evaluate("window.scrollTo(0, 0)")
        time.sleep(0.5)
        page.screenshot(path=str(ROOT / "docs" / "ui.png"))
        page.locator("#gallery button.thumbnail-item").last.click()
        expect(page.locator("#viewer-image img")).to_have_js_property("complete", True, timeout=60_000)
        time.sleep(0.5)
        page.screenshot(path=str(ROOT / "docs" / "ui-viewer.png"))
        phone = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True,
                                    has_touch=True).new_page()
        phone.goto(f"http://127.0.0.1:{port}/")
        phone.locator("#status").get_by_text("Ready").wait_for(timeout=60_000)
        time.sleep(1.0)
        phone.screenshot(path=str(ROOT / "docs" / "ui-phone.png"))
        phone.locator("#brief textarea").fill(BRIEF)
        phone.locator("#brief textarea").press("Enter")
        expect(phone.locator("#chat").get_by_text(re.compile(r"attempt\(s\) in \d+ round"))).to_have_count(
            1, timeout=300_000)
        phone.locator("#gallery button.thumbnail-item").first.click()
        expect(phone.locator("#viewer-image img")).to_have_js_property("complete", True, timeout=60_000)
        time.sleep(0.5)
        phone.screenshot(path=str(ROOT / "docs" / "ui-phone-viewer.png"))
        browser.close()
    demo.close()
    print("wrote docs/ui.png, docs/ui-viewer.png, docs/ui-phone.png and docs/ui-phone-viewer.png")


if __name__ == "__main__":
    threading.excepthook = lambda args: None
    main()
