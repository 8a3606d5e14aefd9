"""The chat UI's handlers called directly, without a browser, on the real embedded model (offline
planner, local:shapes, critic:detector): what each click gives back is what the page would show
(`{component: update}`), so the assertions read the status line, the chat and the tables."""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time

import pytest
from PIL import Image

from tests.test_ui_harness import ROOT, offline_default_missing

pytest.importorskip("gradio", reason="the UI needs the ui extra: pip install 'atelier[ui]'")
pytestmark = pytest.mark.skipif(bool(offline_default_missing()), reason=str(offline_default_missing()))

BRIEF = "a red circle left of a blue square"


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    from agent.surfaces import ui
    from agent.surfaces.ui_support import Settings
    demo = ui.build_app(tmp_path_factory.mktemp("ui-handlers") / "runs", Settings(max_iterations=2, seed=0),
                        review_timeout=60)
    return demo.atelier_ui


class Tab:
    """One browser tab, as the handlers see it: its desk key and owner, and the settings form."""

    def __init__(self, app, token=None):
        self.app, self.p = app, app.page
        out = app.init(token, False, "", None)
        self.key, self.owner, self.token = out[self.p.tab], out[self.p.owner], out[self.p.token]
        self.form = [w.value for w in self.p.form]

    @property
    def desk(self):
        return self.app.desks.get(self.key, self.owner)

    def set(self, **fields):
        for name, value in fields.items():
            self.form[self.p.form_names.index(name)] = value

    def send(self, text, review=False):
        return self.app.take_brief({"text": text}, self.key, self.owner, review, *self.form)

    def watch(self):
        last = {}
        for update in self.app.watch(self.key, self.owner, False):
            last.update(update)
        return last

    def wait_review(self, timeout=120):
        end = time.monotonic() + timeout
        while self.desk.review is None:
            assert time.monotonic() < end, "the run never asked for a review"
            time.sleep(0.05)

    def chat_text(self):
        return "\n".join(m["text"] for m in self.desk.chat)


def prop(update, name):
    """A property of a returned update (gr.Row(visible=...), gr.Dropdown(choices=...), ...)."""
    return update[name] if isinstance(update, dict) else getattr(update, name)


def text_of(html: str) -> str:
    import html as html_lib
    return html_lib.unescape(re.sub(r"<[^>]+>", "", html))


def test_a_brief_runs_to_a_verdict_with_readable_steps_and_png_info(app):
    tab = Tab(app)
    queued = tab.send(BRIEF)
    assert queued[app.page.started] is True and "st-error" not in queued[app.page.status]
    done = tab.watch()
    status = text_of(done[app.page.status])
    assert re.match(r"(✅ Approved|🟠 Budget spent)", status), status
    log = next(m for m in tab.desk.chat if (m["key"] or "").startswith("log:"))
    assert "🎨 generate" in log["text"] and '{"' not in log["text"]  # the director's steps, not JSON
    assert done[app.page.gallery] and done[app.page.hist_table][0][0] == BRIEF
    # the attempt's PNG says only what is known; the x4 download keeps it
    attempt = app.archive.load(tab.desk.current).record.attempts[0]
    params = Image.open(attempt.artifact.path).text["parameters"]
    assert "None" not in params and f"Seed: {attempt.seed}" in params and "Model: local:shapes" in params
    big = app.files.upscaled(attempt.artifact.path)
    assert "Upscale: x4" in Image.open(big).text["parameters"] and Image.open(big).text["atelier"]
    # dropping it on "PNG info" reads the settings back
    info = app.png_info(str(attempt.artifact.path))[app.page.png_info]
    assert f"**Prompt:** {attempt.prompt}" in info and f"seed {attempt.seed}" in info
    assert f"- **CFG scale:** 3.0\n- **Seed:** {attempt.seed}\n- **Size:** 64x64\n- **Model:** local:shapes" in info  # one setting a line
    assert "- **Sampler:** dpm++" in info  # what the model used when no one set it, never left out
    steps = attempt.artifact.meta["denoiser_steps"]  # local:shapes chose them: what it ran is said, never "None"
    assert f"**Denoising steps run:** {steps}" in info and "None" not in info
    # the viewer steps through the attempts, and stops at the ends
    shown = app.show_attempt(tab.desk, 0)
    assert "Attempt 0" in shown[app.page.viewer_info] and prop(shown[app.page.prev_btn], "interactive") is False
    if len(tab.desk.refs) > 1:
        assert "Attempt 1" in app.step_viewer(1, tab.key, tab.owner)[app.page.viewer_info]
    assert prop(app.close_viewer()[app.page.viewer], "visible") is False
    # local:shapes declares no "instruct" edit: an instruction is refused, saying what to do instead
    refused = app.take_edit(tab.key, tab.owner, None, "", "make the background white", 0.75, "", "", False,
                            *tab.form)
    line = text_of(refused[app.page.status])
    assert "local:shapes cannot follow an instruction" in line and "describe the result" in line
    assert "Iterate on" not in tab.chat_text()


def test_several_attempts_download_as_one_zip_of_their_own_files(app):
    import zipfile
    tab, other = Tab(app), Tab(app)
    tab.send(BRIEF)
    tab.watch()
    tab.send(BRIEF)  # the same brief again: its attempts join the gallery beside the first run's
    done = tab.watch()
    choices = prop(done[app.page.zip_pick], "choices")
    assert len(choices) >= 2 and prop(done[app.page.zip_btn], "interactive") is False  # nothing ticked yet
    ticked = [value for _, value in choices]
    button = app.tick(ticked, tab.key, tab.owner)[app.page.zip_btn]
    assert prop(button, "interactive") is True and f"{len(ticked)} attempts (.zip)" in prop(button, "label")
    files = []
    for value in ticked:
        run_id, _, index = value.rpartition(":")
        files.append(app.archive.load(run_id).record.attempts[int(index)].artifact.path)
    served = prop(button, "value")
    assert served["orig_name"] == f"atelier-attempts-{len(ticked)}.zip"
    with zipfile.ZipFile(served["path"]) as z:
        assert sorted(z.namelist()) == sorted(f"{f.parent.name}/{f.name}" for f in files)
        assert all(z.read(f"{f.parent.name}/{f.name}") == f.read_bytes() for f in files)
    # the ticks outlive the next redraw; another tab cannot tick attempts its gallery does not show
    assert prop(app.attempts_view(tab.desk)[app.page.zip_pick], "value") == ticked
    assert prop(app.tick(ticked, other.key, other.owner)[app.page.zip_btn], "interactive") is False
    assert prop(app.tick([], tab.key, tab.owner)[app.page.zip_btn], "interactive") is False


def test_the_viewer_shows_a_changed_attempt_before_and_after(app):
    tab = Tab(app)
    tab.set(max_iterations=1)
    tab.send("a red circle")
    tab.watch()
    run_id = tab.desk.current
    first = app.show_attempt(tab.desk, tab.desk.refs.index((run_id, 0)))
    assert prop(first[app.page.viewer_compare], "visible") is False  # a new picture: nothing before it
    app.take_typeset(tab.key, tab.owner, None, "HI", "bottom", "DejaVu Sans", False, *tab.form)  # no model: quick
    tab.watch()
    changed = app.archive.load(run_id).record.attempts[-1]
    assert changed.source == 0
    shown = app.show_attempt(tab.desk, tab.desk.refs.index((run_id, changed.index)))
    slider = shown[app.page.viewer_compare]
    assert prop(slider, "visible") is True and "Before (attempt 0) / after (attempt 1)" in prop(slider, "label")
    before, after = (Image.open(part["path"]) for part in prop(slider, "value"))
    source = Image.open(app.archive.load(run_id).record.attempts[0].artifact.path)
    assert before.tobytes() == source.convert(before.mode).tobytes()
    assert after.tobytes() == Image.open(changed.artifact.path).convert(after.mode).tobytes() != before.tobytes()


def test_a_conversation_is_kept_across_a_restart_of_the_server(app):
    from agent.surfaces import ui
    from agent.surfaces.ui_support import Settings
    tab = Tab(app)
    tab.set(seed="11")
    tab.send("a yellow star")
    tab.watch()
    run_id, chat = tab.desk.current, tab.chat_text()
    # the server restarts: a new app on the same runs folder; the page comes back with its token and tab key
    again = ui.build_app(app.runs_dir, Settings(max_iterations=2, seed=0), review_timeout=60).atelier_ui
    back = again.init(tab.token, False, tab.key, None)
    assert back[again.page.tab] == tab.key and back[again.page.owner] == tab.owner
    desk = again.desks.get(tab.key, tab.owner)
    assert "\n".join(m["text"] for m in desk.chat) == chat and desk.current == run_id
    assert "kept over a restart" in text_of(back[again.page.status])
    assert back[again.page.gallery] and back[again.page.seed] == "11"  # its settings too
    # someone else bringing that tab key gets a desk of their own, not the kept one
    stranger = again.init(None, False, tab.key, None)
    assert stranger[again.page.tab] != tab.key and not again.desks.get(stranger[again.page.tab],
                                                                       stranger[again.page.owner]).chat
    # a chat whose run was in flight when the server stopped says so when it comes back
    from agent.surfaces.ui.conversations import KeptDesks
    busy = again.desks.get(tab.key, tab.owner)
    busy.busy = True
    again.desks.save(busy)
    told = KeptDesks(app.runs_dir).attach(tab.key, tab.owner).chat[-1]["text"]
    assert "The server restarted while a run of this chat was in flight" in told and "History" in told
    busy.busy = False
    # on disk the file is named by a hash, never by the tab's key
    kept = list((app.runs_dir / ".ui-conversations").iterdir())
    assert kept and all(tab.key not in f.name for f in kept)
    assert all(tab.key not in f.read_text() and tab.owner not in f.read_text() for f in kept)  # nor the owner's token


def test_stop_cancels_the_queued_briefs_and_one_can_be_cancelled(app):
    tab = Tab(app)
    tab.send("a green triangle", review=True)
    tab.wait_review()  # the first run waits for its review: the next two queue behind it
    tab.send("a yellow star")
    queued = tab.send("a purple ring")
    choices = prop(queued[app.page.queue_pick], "choices")
    assert prop(queued[app.page.queue_box], "visible") is True and len(choices) == 2
    assert "Queued" in tab.chat_text()
    # the second is put first in line, then back: the queue is reordered, nothing cancelled
    first = app.cancel_queued(choices[1][1], tab.key, tab.owner, to_front=True)
    assert "Runs next: a purple ring" in text_of(first[app.page.status])
    assert [c[1] for c in prop(first[app.page.queue_pick], "choices")] == [choices[1][1], choices[0][1]]
    app.cancel_queued(choices[0][1], tab.key, tab.owner, to_front=True)
    cancelled = app.cancel_queued(choices[0][1], tab.key, tab.owner)
    assert "Cancelled the queued brief: a yellow star" in text_of(cancelled[app.page.status])
    assert len(prop(cancelled[app.page.queue_pick], "choices")) == 1 and "Cancelled" in tab.chat_text()
    again = app.cancel_queued(choices[0][1], tab.key, tab.owner)
    assert "no longer queued" in text_of(again[app.page.status])
    stopped = app.stop(tab.key, tab.owner)
    assert "1 queued brief cancelled" in text_of(stopped[app.page.status])
    assert prop(stopped[app.page.queue_box], "visible") is False
    done = tab.watch()
    assert "Stopped by you" in text_of(done[app.page.status]) and "⏹" in done[app.page.status]
    assert "a purple ring" not in [m["text"] for m in tab.desk.chat if m["key"] and m["key"].startswith("final")]
    assert [r["brief"] for r in app.archive.history(50, owner=tab.owner)] == ["a green triangle"]  # only it ran


def test_a_second_tab_sees_a_run_in_flight_as_running(app, monkeypatch):
    import threading

    from agent.core import registry
    backend, go = registry.resolve("image", "local:shapes"), threading.Event()
    for name in ("generate", "edit"):  # the model waits until the second tab has looked
        real = getattr(backend, name)
        monkeypatch.setattr(backend, name, lambda request, out, real=real: (go.wait(120), real(request, out))[1])
    first = Tab(app)
    first.send("a white square")
    second = Tab(app, token=first.token)  # the same browser, another tab
    end = time.monotonic() + 120
    while not (rows := [r for r in app.refresh_history(second.owner, False)[app.page.hist_table]
                        if r[0] == "a white square"]):
        assert time.monotonic() < end, "the run never reached the index"
        time.sleep(0.1)
    assert rows[0][1] == "running"
    go.set()
    first.watch()
    row = next(r for r in app.refresh_history(second.owner, False)[app.page.hist_table] if r[0] == "a white square")
    assert row[1] in ("approved", "budget spent")


@pytest.mark.slow  # a run to approval (up to 4 attempts) and an edit: ~30 s on a busy machine
def test_a_rejected_edit_is_not_reported_as_approved(app):
    tab = Tab(app)
    tab.set(max_iterations=4)
    tab.send("a red circle")
    first = tab.watch()
    assert "Approved" in text_of(first[app.page.status]), text_of(first[app.page.status])
    best = app.archive.load(tab.desk.current).record.best_index
    app.show_attempt(tab.desk, tab.desk.refs.index((tab.desk.current, best)))
    # an edit that turns the circle into a blue square: the critic rejects it, and the status says so
    app.take_edit(tab.key, tab.owner, None, "a blue square", "", 1.0, "5", "", False, *tab.form)
    done = tab.watch()
    status = text_of(done[app.page.status])
    assert status.startswith("🟠 Edit not approved") and "Approved" not in status, status
    assert f"the run's best is still attempt {best}" in status
    assert tab.chat_text().count("Edit not approved") == 1


@pytest.mark.slow  # a one-round run and two typesets judged with OCR: ~30 s on a busy machine
def test_the_words_are_set_on_the_selected_attempt_and_judged(app):
    """A run that ended before its words were set (one round): the user sets "SALE" on the attempt, in
    a shipped font, at the bottom, then in a painted region; each joins the run as a new attempt, judged."""
    pytest.importorskip("rapidocr_onnxruntime")
    from agent.surfaces.bench_text import read_words
    tab = Tab(app)
    tab.set(max_iterations=1)
    tab.send("a red circle above the word SALE")
    first = tab.watch()
    assert "Approved" not in text_of(first[app.page.status]), text_of(first[app.page.status])
    run_id = tab.desk.current
    # nothing selected, no words, a painted region with nothing painted: each refused in one line
    tab.desk.selected = None
    assert "pick an attempt" in text_of(app.take_typeset(tab.key, tab.owner, None, "SALE", "bottom", "DejaVu Serif",
                                                         False, *tab.form)[app.page.status])
    app.show_attempt(tab.desk, tab.desk.refs.index((run_id, 0)))
    assert "type the words" in text_of(app.take_typeset(tab.key, tab.owner, None, "  ", "bottom", "DejaVu Serif",
                                                        False, *tab.form)[app.page.status])
    assert "paint where the words go" in text_of(app.take_typeset(
        tab.key, tab.owner, None, "SALE", "painted region", "DejaVu Serif", False, *tab.form)[app.page.status])
    app.take_typeset(tab.key, tab.owner, None, "SALE", "bottom", "DejaVu Serif", False, *tab.form)
    done = tab.watch()
    record = app.archive.load(run_id).record
    # the run set its own words when its one round was spent (words are always delivered); the user's
    # typeset on attempt 0 is the last attempt
    source, lettered = record.attempts[0], record.attempts[-1]
    assert lettered.source == 0 and lettered.note.startswith("typeset 'SALE'") and lettered.index == len(record.attempts) - 1
    (layer,) = lettered.artifact.meta["typeset"]
    assert layer["font"] == "DejaVu Serif" and layer["text"] == "SALE"
    # the words passed; every other item is judged as on the attempt it was set on (nothing else changed)
    status = {r.id: r.status for r in lettered.verdict.requirements}
    assert status.pop("text:0") == "passed" and status.pop("text:only") == "passed"
    assert status == {r.id: r.status for r in source.verdict.requirements if r.id not in ("text:0", "text:only")}
    said = f"Edit {'approved' if lettered.verdict.approved else 'not approved'} — attempt {lettered.index}"
    assert said in text_of(done[app.page.status]), text_of(done[app.page.status])
    assert "Set the words “SALE” on attempt 0" in tab.chat_text()
    with Image.open(lettered.artifact.path) as im:
        assert [t for t, _, _ in read_words(im)] == ["SALE"]
    # in the painted region instead: the words fitted into the box round what was painted
    paint = Image.new("RGBA", lettered_size(lettered), (0, 0, 0, 0))
    paint.paste((255, 0, 255, 255), (40, 196, 216, 240))
    app.show_attempt(tab.desk, tab.desk.refs.index((run_id, 0)))
    app.take_typeset(tab.key, tab.owner, {"layers": [paint]}, "SALE", "painted region", "DejaVu Sans", False, *tab.form)
    tab.watch()
    again = app.archive.load(run_id).record.attempts[-1]
    assert again.source == 0 and list(again.artifact.meta["typeset"][0]["box"]) == [40, 196, 216, 240]


def lettered_size(attempt) -> tuple[int, int]:
    with Image.open(attempt.artifact.path) as im:
        return im.size


def test_a_refusal_does_not_outlive_the_next_brief(app):
    tab = Tab(app)
    empty = tab.send("   ")
    assert "st-error" in empty[app.page.status] and "the brief is empty" in empty[app.page.status]
    accepted = tab.send("a blue circle")
    assert "st-error" not in accepted[app.page.status]
    assert "st-error" not in tab.watch()[app.page.status]


def test_the_negative_prompt_reaches_the_model_and_the_metadata(app):
    tab = Tab(app)
    tab.set(negative="green", max_iterations=1)
    tab.send("a yellow square")
    tab.watch()
    attempt = app.archive.load(tab.desk.current).record.attempts[0]
    assert "green" in attempt.artifact.request.negative_prompt
    assert "Negative prompt: " in Image.open(attempt.artifact.path).text["parameters"]


def test_a_bad_port_is_one_line_and_atelier_ui_takes_the_apps_flags():
    env = {**os.environ, "GRADIO_SERVER_PORT": "abc"}
    for cmd in ([sys.executable, "app.py"], [sys.executable, "-m", "agent.surfaces.cli", "ui"]):
        done = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
        assert done.returncode != 0 and "Traceback" not in done.stderr
        assert done.stderr.strip() == "error: GRADIO_SERVER_PORT must be a port number, not 'abc'"
    from typer.testing import CliRunner

    from agent.surfaces.cli import app as cli_app
    help_text = CliRunner().invoke(cli_app, ["ui", "--help"], terminal_width=200).output
    assert all(flag in help_text for flag in ("--runs", "--auth", "--max-runs", "--single-user"))
    seen = {}
    from agent.surfaces import ui
    import pytest as _pytest
    with _pytest.MonkeyPatch.context() as mp:
        mp.setattr(ui, "main", lambda **kw: seen.update(kw))
        CliRunner().invoke(cli_app, ["ui", "--runs", "elsewhere", "--auth", "a:b", "--max-runs", "2"])
    assert (str(seen["runs_dir"]), seen["auth"], seen["max_runs"]) == ("elsewhere", "a:b", 2)


def test_atelier_ui_takes_the_same_run_defaults_as_app_py(monkeypatch):
    """`atelier ui` says it is `python app.py`: the same flags for the settings' defaults, checked the same way."""
    from typer.testing import CliRunner

    from agent.surfaces import ui
    from agent.surfaces.cli import app as cli_app
    flags = ("--llm", "--image-model", "--video-model", "--critic", "--max-iterations")
    help_text = CliRunner().invoke(cli_app, ["ui", "--help"], terminal_width=200).output
    assert all(flag in help_text for flag in flags)
    seen, app_seen = {}, {}
    monkeypatch.setattr(ui, "main", lambda **kw: seen.update(kw))
    args = ["--image-model", "local:sd15", "--critic", "critic:vlm", "--max-iterations", "3",
            "--video-model", "local:shapes-video"]
    done = CliRunner().invoke(cli_app, ["ui", *args])
    assert done.exit_code == 0, done.output
    d = seen["defaults"]
    assert (d.image_model, d.critic, d.max_iterations, d.video_model) == ("local:sd15", "critic:vlm", 3,
                                                                          "local:shapes-video")
    import agent.surfaces.ui.launch as launch
    monkeypatch.setattr(launch, "main", lambda *a, **kw: app_seen.update(kw))
    ui.cli(args)  # python app.py with the same flags: the same defaults
    assert app_seen["defaults"] == d
    bad = CliRunner().invoke(cli_app, ["ui", "--max-iterations", "99"])
    assert bad.exit_code == 2 and "max_iterations" in bad.output and "Traceback" not in bad.output
