"""A clip run in the chat UI, without a browser: the desk runs a brief that asks for motion on a video
model, and the page's values are checked (the chat's best result is a video player on an MP4 of the
run folder, the gallery shows the clip, the verdict lists the frames). On a fast fake (`testvid:clip`
with `critic:frames`, tests/fakes_video.py) always, and on the embedded `local:shapes-video` once its
weights exist."""
from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest

pytest.importorskip("gradio", reason="the UI needs the ui extra: pip install 'atelier[ui]'")
av = pytest.importorskip("av", reason="clips need PyAV")

from agent.surfaces import ui_support as ui  # noqa: E402
from tests import fakes, fakes_video  # noqa: E402
from tests.test_ui_harness import free_port  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
VIDEO_WEIGHTS = ROOT / "local_models" / "shapes" / "weights-video" / "model_index.json"
BRIEF = "a red circle moving to the right"
REAL = pytest.param("real", marks=pytest.mark.skipif(
    not VIDEO_WEIGHTS.is_file(), reason="the local:shapes-video weights are not in local_models/shapes/"
    "weights-video/ yet (the video model is being trained)"))


@pytest.fixture(autouse=True)
def fake_backends(monkeypatch):
    from agent.core import registry
    from agent.critics import CRITICS
    monkeypatch.setitem(CRITICS, "frames", "tests.fakes_video:FrameCritic")
    with registry.override("video", "testvid", "tests.fakes_video:ClipBackend"):
        yield from fakes.installed(monkeypatch, approve={4})


def clip_settings(variant: str) -> ui.Settings:
    if variant == "fake":  # seed 3 is rejected (frame 5 flagged), seed 4 approved
        return ui.Settings(video_model="testvid:clip", critic="critic:frames", max_iterations=2, seed=3)
    return ui.Settings(video_model="local:shapes-video", max_iterations=1, seed=0)


def run_on_a_desk(runs: Path, settings: ui.Settings, timeout: float = 300) -> ui.Desk:
    desks = ui.Desks(runs)
    desk = desks.attach(None, "browser:test")
    desks.submit(desk, ui.Job("brief", BRIEF, settings))
    deadline = time.monotonic() + timeout
    while desk.busy:
        assert time.monotonic() < deadline, "the clip run did not finish"
        time.sleep(0.1)
    return desk


def frames_in(path: Path) -> int:
    with av.open(str(path)) as container:
        return sum(1 for _ in container.decode(video=0))


@pytest.mark.parametrize("variant", ["fake", REAL])
def test_a_clip_runs_best_result_is_a_video_player_on_an_mp4_of_the_run_folder(tmp_path, variant):
    import gradio as gr

    from agent.surfaces import ui as app
    runs = (tmp_path / "runs").resolve()
    desk = run_on_a_desk(runs, clip_settings(variant))
    final = next(m for m in reversed(desk.chat) if (m.get("key") or "").startswith("final:"))
    run_id = desk.current
    (path, kind), = final["media"]
    assert kind == "video" and path.endswith(".mp4") and Path(path).parent == runs / run_id

    # what the page gets: the text, then a video player (autoplaying, looping) on that MP4 (Gradio
    # plays a copy of it from its cache: the runs folder itself is never served)
    asked: list[Path] = []

    def served(p):
        asked.append(Path(p))
        return str(p) if ui.servable(p, [runs]) else None
    value = app.chat_value(desk.chat, served)
    players = [part for part in value[-1]["content"] if isinstance(part, gr.Video)]
    assert len(players) == 1 and players[0].autoplay and players[0].loop
    assert asked[-1] == Path(path) and players[0].value["path"].endswith(".mp4")
    assert Path(players[0].value["path"]).read_bytes() == Path(path).read_bytes()
    assert frames_in(Path(path)) >= 8
    message = gr.Chatbot().postprocess(value).root[-1]  # Gradio takes it: a video component in the chat
    assert [c.component for c in message.content if c.type == "component"] == ["video"]

    # every attempt is a clip; the gallery shows each as a looping GIF with its verdict in the caption
    record = json.loads((runs / run_id / "run.json").read_text())
    assert record["attempts"] and all(a["action"] == "video" for a in record["attempts"])
    items, refs = ui.gallery_items([_load(runs, run_id)])
    assert all(caption.startswith("🎞 ") for _, caption in items) and len(refs) == len(items)
    preview = ui.clip_preview(items[0][0], tmp_path / "scratch")
    from PIL import Image
    with Image.open(preview) as gif:
        assert gif.format == "GIF" and gif.n_frames >= 8


def _load(runs: Path, run_id: str):
    from agent.core.records import RunStore
    return RunStore(runs).load(run_id)


def test_the_verdict_panel_lists_the_frames(tmp_path):
    runs = (tmp_path / "runs").resolve()
    desk = run_on_a_desk(runs, clip_settings("fake"))
    record = _load(runs, desk.current)
    rejected, approved = record.attempts
    assert len(rejected.verdict.frames) == 8
    # the chat's verdict: how many frames are fine, and the flagged ones
    text = ui.verdict_text(rejected.verdict)
    assert "frames: 7 of 8 without an issue" in text and "  - frame 5: the circle jumps back" in text
    assert "frames: 8 of 8 without an issue" in ui.verdict_text(approved.verdict)
    # the viewer: every frame, with what the critic saw there
    viewer = ui.viewer_text(record.run_id, rejected)
    assert "**Clip:** 8 frames at 8 fps · MP4" in viewer and "Frame by frame" in viewer
    assert "- frame 0 (0.00 s) ✓ · saw red circle" in viewer
    assert "- frame 5 (0.62 s) ✗ 1 issue · saw red circle" in viewer and "No layout" not in viewer
    # the gallery caption and the table
    items, _ = ui.gallery_items([record])
    assert items[0][1].endswith("✗ 1/8 frames") and items[1][1].startswith("🎞 ✅ ★ #1")
    assert items[1][1].endswith("✓ 8 frames")  # an approved clip: no ✗ at all
    rows = ui.verdict_rows([record])
    assert rows[0][0] == "🎞 0" and rows[0][4].endswith("; ✗ in frame 5")
    # a verdict without frames (an image's, or a critic that cannot judge clips) reads as before
    assert ui.frame_span([0, 1, 3, 5, 6, 7]) == "frames 0-1, 3, 5-7"
    assert "without an issue" not in ui.verdict_text(rejected.verdict.model_copy(update={"frames": []}))
    # critic:vlm judges the frames it saw as a whole: which ones, and no per-frame tally
    from agent.core.types import FrameCheck
    whole = rejected.verdict.model_copy(update={"frames": [FrameCheck(index=i) for i in (0, 2, 5, 7)]})
    text = ui.verdict_text(whole)
    assert "judged on frames 0, 2, 5, 7 as a whole" in text and "without an issue" not in text


def test_clip_helpers_and_what_may_be_served(tmp_path):
    runs = tmp_path / "runs"
    runs.mkdir()
    mp4 = runs / "c.mp4"
    mp4.write_bytes(fakes_video.encode(fakes_video.frames_of(12), 8, "mp4"))
    gif = runs / "c.gif"
    gif.write_bytes(fakes_video.encode(fakes_video.frames_of(8), 8, "gif"))
    assert ui.plays_as_video(mp4) and not ui.plays_as_video(gif) and not ui.plays_as_video("a.png")
    assert len(ui.clip_frames(mp4)) == 12 and len(ui.clip_frames(gif)) == 8
    assert ui.clip_preview(gif, tmp_path / "scratch") == gif  # a GIF is its own preview
    first = ui.clip_preview(mp4, tmp_path / "scratch")
    assert first.suffix == ".gif" and ui.clip_preview(mp4, tmp_path / "scratch") == first  # made once
    (runs / "broken.mp4").write_bytes(b"not a video")
    assert ui.clip_preview(runs / "broken.mp4", tmp_path / "scratch") is None

    # only files under the runs folder (or the page's scratch) reach the page: no path elsewhere,
    # no link out of it, no folder
    outside = tmp_path / "secret.mp4"
    outside.write_bytes(mp4.read_bytes())
    (runs / "link.mp4").symlink_to(outside)
    assert ui.servable(mp4, [runs]) == mp4.resolve()
    for bad in (outside, runs / "link.mp4", runs / ".." / "secret.mp4", runs, "/etc/passwd", None):
        assert ui.servable(bad, [runs]) is None, bad
    from agent.surfaces import ui as app
    chat = [ui.msg("x", media=[(outside, "video"), (mp4, "video"), ("/etc/hostname", "image")])]
    parts = app.chat_value(chat, lambda p: str(p) if ui.servable(p, [runs]) else None)[0]["content"]
    assert [type(p).__name__ for p in parts] == ["str", "Video"]


def test_local_shapes_video_is_a_choice():
    assert "local:shapes-video" in ui.VIDEO_CHOICES
    s = ui.Settings.from_form("offline", "local:shapes", "local:shapes-video", "critic:detector", "agent", 1,
                              "", "", 1, "", False, True)
    assert s.video_model == "local:shapes-video"


def test_the_app_builds_with_a_video_model(tmp_path):
    """The page with a clip model by default: it builds, launches and names the model."""
    import urllib.request

    from agent.surfaces import ui as app
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    demo = app.build_app(tmp_path / "runs", clip_settings("fake"))
    port = free_port()
    demo.launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True,
                **app.launch_kwargs(demo))
    try:
        config = json.loads(urllib.request.urlopen(f"http://127.0.0.1:{port}/config", timeout=30).read())
        ids = {c.get("props", {}).get("elem_id") for c in config["components"]}
        assert {"viewer-video", "viewer-image", "set-video"} <= ids
        assert "clips: **testvid:clip**" in json.dumps(config)
    finally:
        demo.close()
