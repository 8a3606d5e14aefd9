"""The UI's helpers without a browser: settings, the review gate, stop, chat messages, masks."""
from __future__ import annotations

import threading

import pytest
from PIL import Image

from agent import Studio
from agent.core.errors import AtelierError
from agent.surfaces import ui_support as ui
from tests import fakes


@pytest.fixture(autouse=True)
def fake_backends(monkeypatch):
    yield from fakes.installed(monkeypatch, approve={8})


def studio(tmp_path):
    return Studio(image_model="test:flat", critic="critic:seed", runs_dir=tmp_path / "runs")


def test_settings_from_the_form():
    s = ui.Settings.from_form("offline", "test:flat", "(none)", "critic:seed", "loop", 3, "", "0", 2, "12", True, False)
    assert (s.video_model, s.max_seconds, s.max_cost_usd, s.seed, s.review, s.mode) == (None, None, 0.0, 12, True, "loop")
    unlimited = ui.Settings.from_form("offline", "test:flat", "(none)", "critic:seed", "loop", 3, "", "", 2, "", 0, 0)
    assert unlimited.max_cost_usd is None  # blank: no limit; 0 (above): spend nothing
    assert s.brief_fields()["rewrite"] == "review" and s.brief_fields()["budget"]["max_iterations"] == 3
    with pytest.raises(ValueError, match="the seed must be a whole number"):
        ui.Settings.from_form("offline", "x", None, "c", "agent", 3, "", "", 1, "abc", False, True)
    with pytest.raises(ValueError, match="time budget must be a number"):
        ui.Settings.from_form("offline", "x", None, "c", "agent", 3, "soon", "", 1, "", False, True)


def run_with_review(tmp_path, answer):
    """A run whose rewrite is reviewed from another thread, as the UI's buttons do."""
    pump = ui.Pump(heartbeat=0.05)
    gate = ui.ReviewGate(pump, timeout=10)
    s = studio(tmp_path)
    pump.start(lambda: [pump.on_event(e) for e in s.stream("a lake", seed=7, rewrite="review", review=gate,
                                                              budget={"max_iterations": 1})])
    events = []
    for kind, payload in pump:
        if kind == "review":
            assert payload["brief"] == "a lake" and payload["proposed"]
            threading.Thread(target=answer, args=(gate, payload["proposed"])).start()
        elif kind == "event":
            events.append(payload)
    return next(e for e in events if e.type == "prompt_refined"), events[-1]


def test_review_accept_edit_refuse(tmp_path):
    accepted, _ = run_with_review(tmp_path, lambda g, p: g.answer("accept", p))
    assert accepted.data["how"] == "accepted by the user"
    edited, last = run_with_review(tmp_path, lambda g, p: g.answer("accept", "a lake, my way"))
    assert edited.data["how"] == "edited by the user" and edited.data["prompt"] == "a lake, my way"
    assert last.type == "run_finished" and last.data["summary"]["best"]["prompt"] == "a lake, my way"
    refused, _ = run_with_review(tmp_path, lambda g, p: g.answer("refuse"))
    assert refused.data["prompt"] == "a lake" and "refused" in refused.data["how"]


def test_review_times_out_to_the_proposal(tmp_path):
    pump = ui.Pump()
    gate = ui.ReviewGate(pump, timeout=0.05)
    assert gate("a lake", "a lake, misty") == "a lake, misty" and gate.timed_out
    assert not gate.answer("accept", "late")  # nothing is waiting any more


def test_stop_reaches_only_its_own_session(tmp_path):
    hub, s = ui.Hub(), studio(tmp_path)
    pump = ui.Pump(heartbeat=0.05)
    live = hub.begin("tab-a", s)
    assert hub.begin("tab-a", s) is None  # one run at a time per tab
    assert hub.stop("tab-b") == "nothing is running"
    assert "as soon as the run starts" in hub.stop("tab-a")  # stop before run_started still counts

    def work():
        for e in s.stream("a lake", seed=1, budget={"max_iterations": 5}):
            if e.type == "run_started":
                hub.started("tab-a", e.run_id)
            pump.on_event(e)
    pump.start(work)
    last = [p for k, p in pump if k == "event"][-1]
    assert live.stop_requested and last.data["summary"]["status"] == "stopped"
    hub.end("tab-a")
    assert hub.get("tab-a") is None


def test_run_view_tells_the_story(tmp_path):
    chat = []
    view = ui.RunView(chat)
    for event in studio(tmp_path).stream("a calm lake", seed=7, budget={"max_iterations": 3}):
        view.apply(event)
    text = "\n".join(m["text"] for m in chat)
    assert "📝 **Prompt**" in text and "Changed from your brief" in text
    assert "**Attempt 0**" in text and "❌ **not approved**" in text and "seed 7 is not liked" in text
    assert "✅ **approved**" in text and "Final choice: **attempt 1** (seed 8)" in text
    assert sum(m["key"].startswith("attempt:") for m in chat if m["key"]) == 2  # one message per attempt
    log = next(m for m in chat if m["title"])
    assert log["status"] == "done" and "run " in log["text"]
    assert view.status == "approved"


def test_a_past_run_as_messages_and_gallery(tmp_path):
    s = studio(tmp_path)
    record = s.run("a calm lake", seed=7, owner="me", budget={"max_iterations": 3}).record
    msgs = ui.record_msgs(record)
    assert msgs[1] == ui.msg("a calm lake", role="user") and "Final choice" in msgs[-1]["text"]
    items, refs = ui.gallery_items([record])
    assert refs == [(record.run_id, 0), (record.run_id, 1)] and items[1][1].startswith("✅ ★ #1 seed 8")
    assert ui.may_open(s, "me", record.run_id) and not ui.may_open(s, "someone else", record.run_id)
    assert ui.may_open(s, "someone else", record.run_id, all_runs=True)
    assert [r[-1] for r in ui.history_rows(ui.visible_runs(s, "me"))] == [record.run_id]
    assert ui.visible_runs(s, "someone else") == []


def test_mask_from_painted_layers():
    layer = Image.new("RGBA", (64, 64), (0, 0, 0, 0))
    layer.paste((255, 0, 255, 255), (10, 10, 20, 20))
    mask = ui.mask_from_layers([layer], (32, 32))
    assert mask.mode == "L" and mask.size == (32, 32) and mask.getbbox() == (5, 5, 10, 10)
    assert ui.mask_from_layers([Image.new("RGBA", (32, 32))], (32, 32)) is None  # nothing painted


def test_small_pieces():
    assert ui.changes_markdown("-calm +misty +grey") == "~~calm~~ **+misty grey**"
    assert ui.owner_id("ann", "tok", "s") == "user:ann" and ui.owner_id(None, "tok", "s") == "browser:tok"
    assert ui.owner_id(None, None, "s") == "session:s"
    assert ui.error_msg("boom")["text"] == "⚠️ **Error:** boom"


def test_status_in_plain_words():
    attempts = [{"seed": 1}, {"seed": 2}, {"seed": 3}, {"seed": 4}]
    assert ui.status_words({"status": "budget_spent", "attempts": attempts}) == (
        "Budget spent — no approval within 4 attempts; the best one is kept.", "warn")
    text, kind = ui.status_words({"status": "failed", "error": "generate_image failed: IndexError", "attempts": []})
    assert kind == "error" and text.startswith("Failed — generate_image failed")
    assert ui.status_words({"status": "stopped", "attempts": attempts[:1]})[0] == "Stopped by you after 1 attempt."
    for status in ("approved", "budget_spent", "stopped", "ended", "failed", "running"):
        words = ui.status_words({"status": status, "attempts": []})[0] + ui.final_msg(
            {"status": status, "attempts": [], "run_id": "r", "stop_reason": "x"})["text"]
        assert "budget_spent" not in words and "✔" not in words


def test_checks_before_running():
    assert "limit is 4,000" in ui.check_brief("x" * 5000) and ui.check_brief("a lake") is None
    assert "empty" in ui.check_brief("  ")
    with pytest.raises(AtelierError, match="max_seconds: Input should be greater than 0"):  # as every surface says
        ui.Settings.from_form("offline", "x", None, "c", "agent", 3, "-5", "", 1, "", False, True)
    with pytest.raises(AtelierError, match="max_seconds: Input should be greater than 0"):  # 0 s is no time, not no limit
        ui.Settings.from_form("offline", "x", None, "c", "agent", 3, "0", "", 1, "", False, True)
    assert ui.scrub("failed: /srv/runs/abc/error.log", "/srv/runs") == "failed: abc/error.log"


def test_listen_address_flags_win_over_the_environment():
    env = {"GRADIO_SERVER_NAME": "0.0.0.0", "GRADIO_SERVER_PORT": "9999"}
    assert ui.listen_address(None, None, env) == ("0.0.0.0", 9999)
    assert ui.listen_address("127.0.0.1", 7000, env) == ("127.0.0.1", 7000)
    assert ui.listen_address(None, None, {}) == ("127.0.0.1", 7860)


def test_a_models_note_is_shown_once_per_run_in_a_web_users_words():
    from agent.core.types import Artifact, Attempt, Event, GenerationRequest
    from local_models.shapes.backend import out_of_vocabulary_warning
    warning = out_of_vocabulary_warning("a red circle next to a dog")
    assert warning and "dog" in warning and "--image-model" not in warning
    chat: list[dict] = []
    view = ui.RunView(chat)
    view.apply(Event(type="run_started", run_id="r1", message="", data={}))
    for i in range(3):
        a = Attempt(index=i, iteration=i + 1, prompt="a red circle next to a dog", seed=i,
                    artifact=Artifact(path=f"/tmp/a{i}.png", sha256="0" * 64, meta={"warning": warning},
                                      request=GenerationRequest(prompt="p")))
        view.apply(Event(type="attempt_made", run_id="r1", message="", attempt=a))
        view.apply(Event(type="verdict", run_id="r1", message="", attempt=a))
    assert sum(warning in m["text"] for m in chat) == 1


def test_the_directors_steps_read_as_words():
    line = ui.step_line("generate_image", {"prompt": "two red circles", "seed": 8, "n": 2})
    assert line == "🎨 generate · “two red circles” · seed 8 · 2 images"
    assert ui.step_line("edit_image", {"attempt": 1, "prompt": "a blue square"}).startswith("🖌 edit attempt 1")
