"""Live denoising progress (issue 25, "step 12/20" with a preview): back ends that declare
`ModelInfo.reports_steps` call the caller's hook once per step, each request of a batched call only
its own; a run turns the steps into `progress` events; the UI's status line reads them."""
from __future__ import annotations

import threading
import time

import numpy as np
import pytest
from PIL import Image

from agent.core.progress import StepProgress, preview_url, reporting_steps
from agent.core.types import Event, GenerationRequest

pytest.importorskip("diffusers")


def pixels(image, size) -> np.ndarray:
    return np.asarray(image.convert("RGB").resize(size, Image.Resampling.BOX), dtype=np.float32)


@pytest.fixture(scope="module")
def shapes():
    from local_models.shapes.backend import ShapesBackend
    return ShapesBackend("shapes")


def test_the_embedded_model_reports_each_step_with_a_preview_of_its_picture(shapes, tmp_path):
    assert shapes.info.reports_steps
    seen: list[StepProgress] = []
    request = GenerationRequest(prompt="a red circle on a blue background", model="local:shapes", seed=3)
    with reporting_steps(seen.append):
        art, = shapes.generate(request, tmp_path)
    assert [(p.step, p.total) for p in seen] == [(i, 20) for i in range(1, 21)]
    # a preview with the first and the last step, and at most one every PREVIEW_EVERY_S between
    assert all(p.preview is not None and p.preview.size == (16, 16) for p in (seen[0], seen[-1]))
    assert all(p.preview is None or p.preview.size == (16, 16) for p in seen)
    final = pixels(Image.open(art.path), (16, 16))
    first, last = (np.abs(pixels(p.preview, (16, 16)) - final).mean() for p in (seen[0], seen[-1]))
    assert last < 30 and last < first / 2  # the last preview is the picture made, in approximate colours
    seen.clear()
    shapes.generate(request, tmp_path / "quiet")  # outside the block nobody hears the steps
    assert seen == []


def test_previews_come_at_most_every_so_often_on_a_slow_pipeline(shapes, tmp_path, monkeypatch):
    from local_models import step_progress
    monkeypatch.setattr(step_progress, "PREVIEW_EVERY_S", 3600.0)
    seen: list[StepProgress] = []
    with reporting_steps(seen.append):
        shapes.generate(GenerationRequest(prompt="a blue star", model="local:shapes", seed=4), tmp_path)
    assert [p.step for p in seen] == list(range(1, 21))  # every step is still reported
    assert [p.step for p in seen if p.preview is not None] == [1, 20]


def test_a_layout_counts_its_steps_over_every_pass(shapes, tmp_path):
    from agent.core.layout import Layout, LayoutBox as Box
    if shapes.info.layouts != "regions":
        pytest.skip("the inpainting weights are not here")
    layout = Layout(width=64, height=64, boxes=[Box(object=0, kind="circle", color="red", box=(4, 4, 28, 28)),
                                                 Box(object=1, kind="square", color="blue", box=(36, 36, 60, 60))])
    request = GenerationRequest(prompt="a red circle and a blue square", model="local:shapes", layout=layout)
    seen: list[StepProgress] = []
    with reporting_steps(seen.append):
        shapes.generate(request, tmp_path)
    total = shapes.planned_steps(request)
    assert [(p.step, p.total) for p in seen] == [(i, total) for i in range(1, total + 1)]


def test_two_requests_batched_together_each_hear_only_their_own_steps(shapes, tmp_path):
    owner = shapes.owner
    window, owner.window_s = owner.window_s, 1.0  # the second caller arrives well within the window
    heard: dict[int, list[StepProgress]] = {}
    made: dict[int, object] = {}
    before = owner.stats.calls

    def caller(seed: int) -> None:
        heard[seed] = []
        request = GenerationRequest(prompt="a green triangle on a white background", model="local:shapes", seed=seed)
        with reporting_steps(heard[seed].append):
            made[seed], = shapes.generate(request, tmp_path / str(seed))

    try:
        threads = [threading.Thread(target=caller, args=(seed,)) for seed in (11, 12)]
        for t in threads:
            t.start()
            time.sleep(0.05)
        for t in threads:
            t.join()
    finally:
        owner.window_s = window
    assert owner.stats.calls == before + 1  # one pipeline call served both
    for seed, other in ((11, 12), (12, 11)):
        assert [p.step for p in heard[seed]] == list(range(1, 21))
        mine = pixels(Image.open(made[seed].path), (16, 16))
        theirs = pixels(Image.open(made[other].path), (16, 16))
        last = pixels(heard[seed][-1].preview, (16, 16))
        assert np.abs(last - mine).mean() < np.abs(last - theirs).mean()  # its own picture, not the other's


def test_a_listener_that_fails_never_fails_the_picture(shapes, tmp_path):
    def broken(p):
        raise RuntimeError("the UI went away")
    request = GenerationRequest(prompt="a red circle", model="local:shapes", seed=1, steps=4)
    with reporting_steps(broken):
        art, = shapes.generate(request, tmp_path)
    assert art.path.is_file()


def test_a_tiny_diffusers_pipeline_reports_its_steps_per_request(tmp_path):
    from local_models import tiny_pipelines as tiny

    backend = tiny.backend("sd")
    assert backend.info.reports_steps
    heard: dict[int, list[StepProgress]] = {}

    def caller(seed: int) -> None:
        heard[seed] = []
        with reporting_steps(heard[seed].append):
            backend.generate(GenerationRequest(prompt="two red circles", model="local:tiny-sd", seed=seed, steps=3,
                                               n=1 + seed % 2), tmp_path / str(seed))

    caller(0)
    assert [(p.step, p.total) for p in heard[0]] == [(1, 3), (2, 3), (3, 3)]
    assert heard[0][-1].preview is not None and heard[0][-1].preview.mode == "RGB"
    threads = [threading.Thread(target=caller, args=(seed,)) for seed in (1, 2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert all([p.step for p in heard[s]] == [1, 2, 3] for s in (1, 2))


def test_a_run_streams_progress_events_before_each_attempt(tmp_path):
    from agent.surfaces.api import Studio

    studio = Studio(llm="offline", image_model="local:shapes", critic="critic:detector", runs_dir=tmp_path)
    events = list(studio.stream("a red circle", budget={"max_iterations": 1}, seed=2))
    kinds = [e.type for e in events]
    steps = [e for e in events if e.type == "progress"]
    assert steps and kinds.index("progress") < kinds.index("attempt_made")
    first = kinds.index("attempt_made")
    before = [e.data["step"] for e in events[:first] if e.type == "progress"]
    assert before == list(range(1, before[-1] + 1)) and before[-1] == steps[0].data["total"]
    assert steps[-1].message == f"step {steps[-1].data['step']}/{steps[-1].data['total']}"
    assert steps[-1].data["preview"].startswith("data:image/png;base64,")
    # steps made without a preview of their own carry the last one: a viewer keeps its picture
    assert all(e.data["preview"].startswith("data:image/png;base64,") for e in steps)
    Event.model_validate_json(steps[-1].model_dump_json())  # travels as JSON (server-sent events)


def test_the_status_line_shows_the_step_and_the_picture_so_far():
    from agent.surfaces.ui_text import progress_text, status_html

    url = preview_url(Image.new("RGB", (16, 16), (200, 30, 30)))
    now = time.monotonic()
    p = {"planned": 4, "done": 1, "started": now - 6, "first_at": now - 3, "last_at": now - 3,
         "step": (12, 20), "preview": url}
    assert progress_text(p, now).startswith("attempt 2 of 4 · step 12/20 · 6 s")
    html = status_html(progress_text(p, now), "busy", 0.4, url)
    assert 'class="step-preview"' in html and url in html and "step 12/20" in html
    assert "<img" not in status_html("x", "busy", 0.4, "https://elsewhere.example/p.png")  # our own PNGs only
    assert "step" not in progress_text({**p, "step": None}, now)


def test_a_desk_turns_progress_events_into_its_status_line():
    from agent.surfaces.ui_desks import Desk

    desk = Desk("k", "me")
    desk.busy = True
    now = time.monotonic()
    desk.progress = {"phase": "run", "planned": 2, "done": 0, "started": now, "kind": "brief", "max_seconds": None,
                     "step": (3, 20), "preview": "data:image/png;base64,AAAA"}
    text, kind, fraction, preview = desk.status_line()
    assert "attempt 1 of 2 · step 3/20" in text and kind == "busy" and preview == "data:image/png;base64,AAAA"


def test_a_late_follower_of_a_server_run_gets_the_latest_step_only():
    from agent.surfaces.server.hub import LiveRun

    live = LiveRun("r", "me", None)
    for step in (1, 2, 3):
        live.add(Event(type="progress", run_id="r", message=f"step {step}/3", data={"step": step, "total": 3}))
    live.add(Event(type="attempt_made", run_id="r"))
    live.add(Event(type="progress", run_id="r", data={"step": 1, "total": 3}))
    assert [(n, k) for n, k, _ in live.events] == [(2, "progress"), (3, "attempt_made"), (4, "progress")]
    assert '"step":3' in live.events[0][2]


def test_a_listener_that_takes_no_steps_costs_no_step_previews(tmp_path, monkeypatch):
    """`atelier brief`'s table and `atelier run`'s lines print no steps (`hears_steps = False`): a run
    with only such listeners makes no step preview; one listener that takes steps still gets them all."""
    import agent.run.context as context
    from agent.surfaces.api import Studio
    from agent.surfaces.batch.scheduler import _Batch
    from agent.surfaces.cli import progress

    assert _Batch.on_event.hears_steps is False and progress.hears_steps is False
    previews = []
    monkeypatch.setattr(context, "preview_url", lambda image: previews.append(image) or None)

    def quiet(event):
        heard.append(event.type)
    quiet.hears_steps = False
    heard: list[str] = []
    studio = Studio(llm="offline", image_model="local:shapes", critic="critic:detector", runs_dir=tmp_path,
                    on_event=quiet)
    studio.run("a red circle", budget={"max_iterations": 1}, seed=2)
    assert previews == [] and "progress" not in heard and "attempt_made" in heard
    loud: list[str] = []
    studio.run("a red circle", budget={"max_iterations": 1}, seed=2, on_event=lambda e: loud.append(e.type))
    # a preview made for some steps only (PREVIEW_EVERY_S); every step is heard
    assert previews and loud.count("progress") == heard.count("progress") >= len(previews)
