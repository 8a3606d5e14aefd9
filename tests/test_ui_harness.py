"""Starting the chat UI in this process for tests (used by test_ui_browser.py and test_ui_api.py):
registered the way tests/test_director.py does it) or on the offline default once its weights exist."""
from __future__ import annotations

import os
import socket
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SHAPES_WEIGHTS = ROOT / "local_models" / "shapes" / "weights" / "model_index.json"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
FAKE_SEED, FAKE_APPROVED = 7, {8}  # the seed critic rejects attempt 0 (seed 7), approves attempt 1 (seed 8)


def offline_default_missing() -> str | None:
    """Why the offline-default variant cannot run here, or None when it can."""
    if not SHAPES_WEIGHTS.is_file():
        return f"the offline default needs the shapes model's weights ({SHAPES_WEIGHTS.relative_to(ROOT)} is absent)"
    try:
        import local_models.shapes.backend  # noqa: F401
        import local_models.shapes.detector  # noqa: F401
    except ImportError as e:
        return f"the offline default's back end does not import here ({e})"
    return None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def fake_backends():
    import pytest

    from agent.core import registry
    from agent.critics import CRITICS
    from tests import fakes
    with pytest.MonkeyPatch.context() as mp, registry.override(
            "image", "test", "tests.fakes:FlatBackend", broken="tests.test_ui_harness:BrokenBackend",
            slow="tests.test_ui_harness:SlowBackend"):
        mp.setitem(CRITICS, "seed", "tests.fakes:SeedCritic")
        mp.setattr(fakes, "APPROVE_SEEDS", set(FAKE_APPROVED))
        yield


class BrokenBackend:
    """A back end that cannot work: every image fails (the run must end as failed)."""

    def __init__(self, model: str = ""):
        from agent.core.protocols import ModelInfo
        self.info = ModelInfo(name="broken", sizes=[(32, 32)], default_steps=1, default_guidance=5.0)

    def generate(self, request, out_dir):
        raise RuntimeError("the GPU is on fire")

    def edit(self, request, out_dir):
        raise RuntimeError("the GPU is on fire")


class SlowBackend:
    """test:flat, one second per image (so a page can watch a run in flight)."""

    def __init__(self, model: str = ""):
        from tests.fakes import FlatBackend
        self._flat = FlatBackend(model)
        self.info = self._flat.info

    def generate(self, request, out_dir):
        import time
        time.sleep(1.0)
        return self._flat.generate(request, out_dir)

    def edit(self, request, out_dir):
        return self.generate(request, out_dir)


def settings_for(variant: str):
    from agent.surfaces.ui_support import Settings
    if variant == "fake":
        return Settings(image_model="test:flat", critic="critic:seed", max_iterations=3, seed=FAKE_SEED)
    return Settings(max_iterations=2, seed=0)  # offline planner, local:shapes, critic:detector


@contextmanager
def serve(variant: str, runs_dir: Path, auth=None, **build):
    """The app on a free loopback port; yields its URL."""
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    from agent.surfaces import ui as app

    ctx = fake_backends() if variant == "fake" else _nothing()
    with ctx:
        demo = app.build_app(runs_dir, settings_for(variant), review_timeout=60, **build)
        port = free_port()
        demo.launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True,
                    auth=auth, **app.launch_kwargs(demo))
        try:
            yield f"http://127.0.0.1:{port}/"
        finally:
            demo.close()


@contextmanager
def _nothing():
    yield


def test_offline_variant_says_why_it_is_skipped():
    why = offline_default_missing()
    assert why is None or "weights" in why or "import" in why
