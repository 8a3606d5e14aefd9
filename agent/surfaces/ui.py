"""Atelier's chat UI: `python app.py` (or `atelier ui`), both launching this module. A thin Gradio layer over the Python API
(`agent.surfaces.api.Studio`): every decision about a run is the core's; this file lays out the page, turns
events into chat messages (helpers in `agent/surfaces/ui_support.py`) and routes the user's clicks.

- Each browser session has its own chat, runs in flight and selection (gr.State, keyed Stop and
  review buttons by Gradio's session hash). Runs belong to an owner: the logged-in user when auth is
  on, else the browser (a random token in its local storage); History lists only the owner's runs.
  Started with --single-user, History also offers "all runs" (including the CLI's).
- Runs, re-runs and edits go through Gradio's queue (at most --max-runs at once); the quick buttons
  (stop, accept a rewrite) skip the line so they answer at once.
- It listens on 127.0.0.1 unless told otherwise; --auth USER:PASS (or ATELIER_UI_AUTH) turns on
  Gradio's login, and it warns when exposed without one.
"""
from __future__ import annotations

import argparse
import json
import os
import random
import secrets
import sys
import time
from pathlib import Path
from typing import Any

import gradio as gr

from agent.surfaces import ui_support as ui
from agent.core.errors import AtelierError, StopRun

CSS = """
#chat img, #gallery img, #editor canvas { image-rendering: pixelated; }
#chat img { width: 220px !important; height: 220px !important; max-width: 100%; object-fit: contain; }
#status { min-height: 1.6em; font-size: 0.92em; opacity: 0.9; }
#review { border: 2px solid var(--color-accent); border-radius: 10px; padding: 8px; }
footer { display: none !important; }
"""

EXAMPLES = ["two red circles left of a blue square", "a yellow triangle above a green circle",
            "three blue squares on a white background"]


def build_app(runs_dir: str | Path = "runs", defaults: ui.Settings | None = None, *,
              single_user: bool = False, max_runs: int = 4,
              review_timeout: float = ui.REVIEW_TIMEOUT_S) -> gr.Blocks:
    defaults = defaults or ui.Settings()
    runs_dir = Path(runs_dir).expanduser().resolve()
    archive = defaults.studio(runs_dir)  # reads the run index and records; never runs anything
    hub = ui.Hub()

    # ---- turning session state into what the components show ---------------------------------
    def to_chatbot(chat: list[dict]) -> list[dict]:
        out = []
        for m in chat:
            parts: list[Any] = [m["text"]] if m["text"] else []
            for path, kind in m["media"]:
                if kind == "video" and not path.endswith(".gif"):
                    parts.append(gr.Video(path, autoplay=True, loop=True, show_label=False, height=240))
                else:
                    parts.append(gr.Image(path, show_label=False, height=240, container=False,
                                          buttons=["download", "fullscreen"]))
            entry: dict[str, Any] = {"role": m["role"], "content": parts[0] if len(parts) == 1 else parts or "…"}
            if m.get("title"):
                entry["metadata"] = {"title": m["title"], "status": m.get("status") or "done"}
            out.append(entry)
        return out

    def compared_records(session: dict) -> list:
        """The current run and, when comparing, this session's other runs of the same brief."""
        current = session.get("current")
        if not current:
            return []
        try:
            records = {current: archive.load(current).record}
            if session.get("compare", True):
                for run_id in session.get("runs", []):
                    if run_id not in records:
                        r = archive.load(run_id).record
                        if r.brief.text == records[current].brief.text:
                            records[run_id] = r
        except AtelierError:
            return []
        return [records[current]] + [r for k, r in records.items() if k != current]

    def attempts_view(session: dict):
        records = compared_records(session)
        items, refs = ui.gallery_items(records)
        session["refs"] = refs
        return items, ui.verdict_rows(records)

    def history_view(owner: str, all_runs: bool):
        rows = ui.visible_runs(archive, owner, all_runs and single_user)
        return ui.history_rows(rows), gr.Dropdown(choices=ui.history_choices(rows), value=None)

    SKIP = gr.skip

    def view(session, status, *, review=None, attempts=True, history_of=None):
        """The outputs of every long handler: chat, session, gallery, table, status, review box,
        review text, review info, history table, history picker."""
        gallery, table = attempts_view(session) if attempts else (SKIP(), SKIP())
        if review is None:
            box, text, info = SKIP(), SKIP(), SKIP()
        elif review == "hide":
            box, text, info = gr.Group(visible=False), SKIP(), SKIP()
        else:
            box = gr.Group(visible=True)
            text = gr.Textbox(value=review["proposed"])
            changes = ui.changes_markdown(review["changes"]) if review["changes"] else "_no change_"
            info = (f"**Review the rewritten prompt.** Your brief: _{review['brief']}_  \n"
                    f"Changes: {changes}")
        hist, pick = history_view(*history_of) if history_of else (SKIP(), SKIP())
        return (to_chatbot(session["chat"]), session, gallery, table, status, box, text, info, hist, pick)

    # ---- the long handlers: a run, a re-run, an edit --------------------------------------------
    def drive(session, owner, key, pump, live, work, all_runs):
        """Pump one blocking Studio call's events into the chat, yielding a view after each."""
        chat_view = ui.RunView(session["chat"])
        chat_view.run_id = live.run_id  # set already when editing an existing run
        pump.start(work)
        ticks = 0
        try:
            for kind, payload in pump:
                if kind == "tick":
                    ticks += 1
                    if ticks % 2 == 0:
                        spent = time.monotonic() - live.started
                        yield view(session, f"⏳ {chat_view.status[:110]} · {spent:.0f} s", attempts=False)
                    continue
                if kind == "event":
                    chat_view.apply(payload)
                    if payload.type == "run_started":
                        hub.started(key, payload.run_id)
                        if payload.run_id not in session["runs"]:
                            session["runs"].append(payload.run_id)
                        session["current"] = payload.run_id
                        session["selected"] = None
                    hide = "hide" if payload.type == "prompt_refined" else None
                    landed = payload.type in ("verdict", "run_finished", "run_started")
                    yield view(session, f"⏳ {chat_view.status[:110]}", review=hide, attempts=landed)
                elif kind == "review":
                    yield view(session, "✋ waiting for you to review the rewritten prompt", review=payload,
                               attempts=False)
                elif kind == "result":
                    session["chat"].append(ui.final_msg(payload) | {"key": f"final:{payload['run_id']}:{len(session['chat'])}"})
                elif kind == "error":
                    session["chat"].append(ui.error_msg(payload))
                    yield view(session, "⚠️ " + payload, review="hide", attempts=False)
            if live.gate is not None and live.gate.timed_out:
                session["chat"].append(ui.msg(f"⏱ No answer to the review in {review_timeout:.0f} s: "
                                              "the proposed prompt was used."))
        finally:
            if pump.thread and pump.thread.is_alive():  # the page went away mid-run: stop it
                hub.stop(key)
            hub.end(key)
        done = chat_view.status if chat_view.status not in ("starting…", "running") else "finished"
        yield view(session, f"✔ {done}", review="hide", history_of=(owner, all_runs))

    def start_run(session, owner, key, text, refs, settings: ui.Settings, all_runs):
        session["chat"].append(ui.msg(text or "(empty brief)", role="user", media=[(p, "image") for p in refs]))
        try:
            studio = settings.studio(runs_dir)
        except AtelierError as e:
            session["chat"].append(ui.error_msg(str(e)))
            yield view(session, "⚠️ " + str(e), attempts=False)
            return
        pump = ui.Pump()
        gate = ui.ReviewGate(pump, review_timeout) if settings.review else None
        live = hub.begin(key, studio, gate)
        if live is None:
            session["chat"].append(ui.error_msg("a run is already in progress in this tab: stop it or wait"))
            yield view(session, "a run is in progress", attempts=False)
            return
        session["last"] = {"text": text, "refs": [str(p) for p in refs], "seed": settings.seed}
        fields = settings.brief_fields()
        if refs:
            fields["reference_images"] = list(refs)

        def work():
            for event in studio.stream(text, review=gate, owner=owner, **fields):
                pump.on_event(event)
        yield view(session, "⏳ starting…", attempts=False)
        yield from drive(session, owner, key, pump, live, work, all_runs)
        current = session.get("current")
        if current:
            try:
                session["last"]["seed"] = archive.load(current).record.brief.seed
            except AtelierError:
                pass

    def send(request: gr.Request, value, session, owner, review_on, all_runs, *form):
        value = value or {}
        text = (value.get("text") or "").strip()
        try:
            refs = [ui.keep_upload(f if isinstance(f, str) else f.get("path"), runs_dir)
                    for f in value.get("files") or []]
        except OSError as e:
            refs = []
            session["chat"].append(ui.error_msg(f"could not read the attached image ({e.strerror})"))
        try:
            settings = ui.Settings.from_form(*form)
        except ValueError as e:
            session["chat"].append(ui.error_msg(str(e)))
            yield view(session, "⚠️ " + str(e), attempts=False)
            return
        settings.review = bool(review_on)
        yield from start_run(session, owner or _owner(request, None), request.session_hash, text, refs,
                             settings, all_runs)

    def rerun(request: gr.Request, session, owner, review_on, all_runs, *form):
        last = session.get("last")
        if not last:
            session["chat"].append(ui.error_msg("nothing to re-run yet: send a brief first"))
            yield view(session, "", attempts=False)
            return
        try:
            settings = ui.Settings.from_form(*form)
        except ValueError as e:
            session["chat"].append(ui.error_msg(str(e)))
            yield view(session, "⚠️ " + str(e), attempts=False)
            return
        settings.review = bool(review_on)
        if settings.seed is None or settings.seed == last.get("seed"):
            settings.seed = random.randrange(2**31)
        session["chat"].append(ui.msg(f"↻ Re-running with seed {settings.seed} on `{settings.image_model}`"))
        yield from start_run(session, owner or _owner(request, None), request.session_hash, last["text"],
                             [Path(p) for p in last["refs"]], settings, all_runs)

    def iterate(request: gr.Request, session, owner, editor, prompt, instruction, strength, seed, all_runs,
                *form):
        owner = owner or _owner(request, None)
        key = request.session_hash
        selected = session.get("selected")
        if not selected:
            session["chat"].append(ui.error_msg("pick an attempt in the gallery first, then iterate on it"))
            yield view(session, "", attempts=False)
            return
        run_id, index = selected
        try:
            settings = ui.Settings.from_form(*form)
            edit_seed = ui.parse_number(seed, "the edit's seed", int)
            if not ui.may_open(archive, owner, run_id, all_runs and single_user):
                raise AtelierError(f"run {run_id} is not one of yours")
            record = archive.load(run_id).record
            source = record.attempts[index]
            mask = None
            if editor and editor.get("layers"):
                from agent.core.artifacts import load_image
                size = load_image(source.artifact.path).size
                painted = ui.mask_from_layers(editor["layers"], size)
                if painted is not None:
                    mask = archive.store.run_dir(run_id) / f"ui-mask-{index}-{secrets.token_hex(3)}.png"
                    painted.save(mask)
            studio = settings.studio(runs_dir)
        except (AtelierError, OSError, IndexError, ValueError) as e:
            session["chat"].append(ui.error_msg(str(e)))
            yield view(session, "⚠️ " + str(e), attempts=False)
            return
        prompt = (prompt or "").strip() or source.prompt
        what = f"🖌 Iterate on attempt {index} of run `{run_id}`: {prompt}"
        if instruction:
            what += f"  \ninstruction: _{instruction}_"
        what += "  \n(painted region)" if mask else ""
        session["chat"].append(ui.msg(what, role="user"))
        pump = ui.Pump()
        live = hub.begin(key, studio)
        if live is None:
            session["chat"].append(ui.error_msg("a run is already in progress in this tab: stop it or wait"))
            yield view(session, "a run is in progress", attempts=False)
            return
        live.run_id = run_id
        session["current"] = run_id
        if run_id not in session["runs"]:
            session["runs"].append(run_id)

        def work():
            result = studio.iterate(run_id, index, prompt, mask=mask, instruction=instruction or "",
                                    strength=float(strength), seed=edit_seed, on_event=pump.on_event)
            pump.put("result", result.summary())
        yield view(session, "⏳ editing…", attempts=False)
        yield from drive(session, owner, key, pump, live, work, all_runs)

    # ---- quick handlers ------------------------------------------------------------------------
    def stop(request: gr.Request):
        return "⏹ " + hub.stop(request.session_hash)

    def answer(kind):
        def handler(text, request: gr.Request):
            ok = hub.answer(request.session_hash, kind, text)
            return ("✔ thanks — carrying on" if ok else "nothing is waiting for a review"), gr.Group(visible=False)
        return handler

    def select_attempt(session, evt: gr.SelectData):
        refs = session.get("refs") or []
        if not isinstance(evt.index, int) or not 0 <= evt.index < len(refs):
            return session, SKIP(), SKIP(), "Pick an attempt."
        run_id, index = refs[evt.index]
        try:
            attempt = archive.load(run_id).record.attempts[index]
        except (AtelierError, IndexError) as e:
            return session, SKIP(), SKIP(), f"⚠️ {e}"
        session["selected"] = [run_id, index]
        label = (f"**Selected:** attempt {index} of run `{run_id}` (seed {attempt.seed}) — "
                 f"{ui.verdict_text(attempt.verdict).splitlines()[0]}")
        if attempt.artifact.kind != "image":
            return session, None, attempt.prompt, label + "  \n_This is a video: it cannot be edited._"
        path = str(attempt.artifact.path)
        return session, {"background": path, "layers": [], "composite": path}, attempt.prompt, label

    def set_compare(on, session):
        session["compare"] = bool(on)
        items, rows = attempts_view(session)
        return session, items, rows

    def refresh_history(owner, all_runs, request: gr.Request):
        return history_view(owner or _owner(request, None), all_runs)

    def pick_from_table(evt: gr.SelectData):
        row = evt.row_value or []
        return gr.Dropdown(value=row[0]) if row else SKIP()

    def open_run(run_id, session, owner, all_runs, request: gr.Request):
        owner = owner or _owner(request, None)
        if not run_id:
            session["chat"].append(ui.error_msg("pick a run to open"))
            return view(session, "", attempts=False)
        if not ui.may_open(archive, owner, run_id, all_runs and single_user):
            session["chat"].append(ui.error_msg(f"no run {run_id!r} among yours"))
            return view(session, "", attempts=False)
        try:
            record = archive.load(run_id).record
        except AtelierError as e:
            session["chat"].append(ui.error_msg(str(e)))
            return view(session, "", attempts=False)
        session["chat"].extend(ui.record_msgs(record))
        if run_id not in session["runs"]:
            session["runs"].append(run_id)
        session["current"], session["selected"] = run_id, None
        session["last"] = {"text": record.brief.text, "refs": [str(p) for p in record.brief.reference_images],
                           "seed": record.brief.seed}
        return view(session, f"📂 reopened run {run_id}")

    def new_chat(session):
        fresh = new_session()
        return to_chatbot(fresh["chat"]), fresh, [], [], "", None, "", "Pick an attempt in the gallery."

    def init(token, all_runs, request: gr.Request):
        token = token or ui.new_token()
        owner = _owner(request, token)
        hist, pick = history_view(owner, all_runs)
        who = f"signed in as **{request.username}**" if request.username else "runs are kept for this browser"
        return token, owner, hist, pick, f"Ready · {who}"

    def unload(request: gr.Request):
        hub.stop(request.session_hash)

    def new_session() -> dict:
        return {"chat": [], "runs": [], "current": None, "selected": None, "refs": [], "last": None,
                "compare": True}

    # ---- the API, for gradio_client and other programs ----------------------------------------
    def api_run(brief: str, seed: int | None = None, max_iterations: int = 4, image_model: str = "",
                llm: str = "", critic: str = "", request: gr.Request = None) -> str:
        """Run a brief to the end; returns the run's summary as JSON text (the CLI's --json object).
        JSON text, not a dict: gradio_client would replace every {"path": ...} with a downloaded file."""
        settings = ui.Settings(**{**defaults.as_dict(), "review": False})
        settings.image_model = image_model or settings.image_model
        settings.llm, settings.critic = llm or settings.llm, critic or settings.critic
        settings.seed, settings.max_iterations = seed, int(max_iterations)
        try:
            fields = settings.brief_fields()
            result = settings.studio(runs_dir).run(brief, owner=_api_owner(request), **fields)
        except AtelierError as e:
            raise gr.Error(str(e)) from None
        return json.dumps(result.summary())

    def api_history(limit: int = 20, request: gr.Request = None) -> str:
        """This caller's past runs, newest first, as JSON text."""
        return json.dumps(archive.history(int(limit), owner=_api_owner(request)))

    def api_load(run_id: str, request: gr.Request = None) -> str:
        """One of this caller's runs with all its attempts (the run record), as JSON text."""
        if not ui.may_open(archive, _api_owner(request), run_id):
            raise gr.Error(f"no run {run_id!r} among yours")
        return archive.load(run_id).record.model_dump_json(exclude={"messages"})

    def api_iterate(run_id: str, attempt: int, prompt: str, instruction: str = "", strength: float = 0.75,
                    seed: int | None = None, request: gr.Request = None) -> str:
        """Edit one attempt of one of this caller's runs; returns the run's new summary as JSON text."""
        if not ui.may_open(archive, _api_owner(request), run_id):
            raise gr.Error(f"no run {run_id!r} among yours")
        try:
            return json.dumps(defaults.studio(runs_dir).iterate(
                run_id, int(attempt), prompt, instruction=instruction, strength=float(strength),
                seed=seed).summary())
        except (AtelierError, StopRun) as e:
            raise gr.Error(str(e)) from None

    # ---- the page --------------------------------------------------------------------------------
    with gr.Blocks(title="Atelier", analytics_enabled=False) as demo:
        token = gr.BrowserState(None, storage_key="atelier-owner", secret="atelier-ui-owner-token")
        owner = gr.State("")
        session = gr.State(new_session())
        gr.Markdown("## 🎨 Atelier\nDescribe a picture. Atelier rewrites your brief into a prompt, generates, "
                    "has every attempt judged by a critic, and keeps going until one is approved "
                    f"or the budget is spent. Now using **{defaults.llm}** → **{defaults.image_model}**, "
                    f"judged by **{defaults.critic}** (change it under Settings).")
        with gr.Row(equal_height=False):
            with gr.Column(scale=3, min_width=420):
                status = gr.Markdown("Loading…", elem_id="status")
                chat = gr.Chatbot(elem_id="chat", height=620, show_label=False, layout="bubble",
                                  placeholder="**Send a brief** — e.g. _two red circles left of a blue square_.  \n"
                                              "Attach a reference image with 📎 if you have one.",
                                  feedback_options=None, buttons=["copy"])
                with gr.Group(visible=False, elem_id="review") as review_box:
                    review_info = gr.Markdown()
                    review_text = gr.Textbox(label="Prompt to use (edit it if you like)", lines=2,
                                             elem_id="review-text")
                    with gr.Row():
                        accept_btn = gr.Button("✔ Use this prompt", variant="primary", elem_id="review-accept")
                        refuse_btn = gr.Button("✖ Refuse — use my brief as written", elem_id="review-refuse")
                brief = gr.MultimodalTextbox(placeholder="What should Atelier make?", file_types=["image"],
                                             file_count="single", show_label=False, elem_id="brief",
                                             submit_btn="Run", autofocus=True)
                with gr.Row():
                    review_on = gr.Checkbox(defaults.review, label="Let me review the rewritten prompt",
                                            elem_id="review-on", scale=2)
                    stop_btn = gr.Button("⏹ Stop", variant="stop", elem_id="stop", scale=1)
                    rerun_btn = gr.Button("↻ Re-run (new seed / current settings)", elem_id="rerun", scale=2)
                    clear_btn = gr.Button("New chat", elem_id="new-chat", scale=1)
                gr.Examples(EXAMPLES, inputs=brief, label="Try")
            with gr.Column(scale=2, min_width=360):
                with gr.Tabs():
                    with gr.Tab("Attempts", id="attempts"):
                        gallery = gr.Gallery(label="Attempts — ✅ approved, ★ final choice", columns=4, height=300,
                                             elem_id="gallery", allow_preview=False, object_fit="contain",
                                             interactive=False)
                        compare = gr.Checkbox(True, label="Compare with my other runs of the same brief (seeds side by side)")
                        table = gr.Dataframe(headers=ui.TABLE_HEADERS, interactive=False, wrap=True,
                                             elem_id="verdicts", max_height=260)
                        with gr.Accordion("Iterate on the selected attempt", open=True):
                            selected_md = gr.Markdown("Pick an attempt in the gallery.", elem_id="selected")
                            editor = gr.ImageEditor(type="pil", label="Paint where the change goes (optional)",
                                                    sources=(), transforms=(), layers=False, height=300,
                                                    brush=gr.Brush(colors=["#ff00ff"], color_mode="fixed"),
                                                    elem_id="editor")
                            edit_prompt = gr.Textbox(label="What the result (or the painted region) should show",
                                                     elem_id="edit-prompt")
                            instruction = gr.Textbox(label="Instruction (for models that edit by instruction)",
                                                     placeholder="e.g. make the background white",
                                                     elem_id="edit-instruction")
                            with gr.Row():
                                strength = gr.Slider(0.05, 1.0, 0.75, step=0.05, label="Strength")
                                edit_seed = gr.Textbox("", label="Seed (blank: next)", elem_id="edit-seed")
                            iterate_btn = gr.Button("🖌 Iterate on this", variant="primary", elem_id="iterate")
                    with gr.Tab("History", id="history"):
                        all_runs = gr.Checkbox(False, label="All runs in this folder (single-user mode)",
                                               visible=single_user)
                        hist_table = gr.Dataframe(headers=ui.HISTORY_HEADERS, interactive=False, wrap=True,
                                                  elem_id="history-table", max_height=360)
                        run_pick = gr.Dropdown(label="Run", choices=[], elem_id="run-pick")
                        with gr.Row():
                            open_btn = gr.Button("📂 Open this run", variant="primary", elem_id="open-run")
                            refresh_btn = gr.Button("Refresh", elem_id="refresh-history")
                    with gr.Tab("Settings", id="settings"):
                        llm = gr.Dropdown(_with(defaults.llm, ui.LLM_CHOICES), value=defaults.llm,
                                          allow_custom_value=True, label="Director (LLM)", elem_id="set-llm",
                                          info="offline needs no key; others read ANTHROPIC_API_KEY / OPENAI_API_KEY")
                        image_model = gr.Dropdown(_with(defaults.image_model, ui.IMAGE_CHOICES),
                                                  value=defaults.image_model, allow_custom_value=True,
                                                  label="Image model", elem_id="set-image")
                        video_model = gr.Dropdown(_with(defaults.video_model or "(none)", ui.VIDEO_CHOICES),
                                                  value=defaults.video_model or "(none)", allow_custom_value=True,
                                                  label="Video model", elem_id="set-video")
                        critic = gr.Dropdown(_with(defaults.critic, ui.CRITIC_CHOICES), value=defaults.critic,
                                             allow_custom_value=True, label="Critic", elem_id="set-critic")
                        mode = gr.Radio(["agent", "loop"], value=defaults.mode, label="Mode",
                                        info="agent: the director picks each tool; loop: a fixed cycle")
                        max_iterations = gr.Slider(1, 20, defaults.max_iterations, step=1, label="Max iterations",
                                                   elem_id="set-iterations")
                        with gr.Row():
                            max_seconds = gr.Textbox(_blank(defaults.max_seconds), label="Time budget, s (blank: none)")
                            max_cost = gr.Textbox(_blank(defaults.max_cost_usd), label="Money budget, $ (blank: none)")
                        with gr.Row():
                            candidates = gr.Slider(1, 8, defaults.candidates, step=1, label="Images per round")
                            seed = gr.Textbox(_blank(defaults.seed), label="Seed (blank: random)",
                                              elem_id="set-seed")
                        edits = gr.Checkbox(defaults.edits, label="Allow region edits (not only new images)")

        form = [llm, image_model, video_model, critic, mode, max_iterations, max_seconds, max_cost,
                candidates, seed, review_on, edits]
        outs = [chat, session, gallery, table, status, review_box, review_text, review_info, hist_table, run_pick]
        long = dict(concurrency_limit=max_runs, concurrency_id="runs", api_visibility="private")
        quick = dict(concurrency_limit=None, api_visibility="private")

        pending = gr.State(None)  # the brief just sent; the box clears at once
        brief.submit(lambda v: (v, gr.MultimodalTextbox(value=None)), brief, [pending, brief], **quick) \
            .then(send, [pending, session, owner, review_on, all_runs, *form], outs, api_name="ui_send", **long)
        rerun_btn.click(rerun, [session, owner, review_on, all_runs, *form], outs, api_name="ui_rerun", **long)
        iterate_btn.click(iterate, [session, owner, editor, edit_prompt, instruction, strength, edit_seed,
                                    all_runs, *form], outs, api_name="ui_iterate", **long)
        stop_btn.click(stop, None, status, **quick)
        accept_btn.click(answer("accept"), review_text, [status, review_box], **quick)
        refuse_btn.click(answer("refuse"), review_text, [status, review_box], **quick)
        gallery.select(select_attempt, session, [session, editor, edit_prompt, selected_md], **quick)
        compare.change(set_compare, [compare, session], [session, gallery, table], **quick)
        refresh_btn.click(refresh_history, [owner, all_runs], [hist_table, run_pick], **quick)
        all_runs.change(refresh_history, [owner, all_runs], [hist_table, run_pick], **quick)
        hist_table.select(pick_from_table, None, run_pick, **quick)
        open_btn.click(open_run, [run_pick, session, owner, all_runs], outs, **quick)
        clear_btn.click(new_chat, session, [chat, session, gallery, table, status, editor, edit_prompt,
                                            selected_md], **quick)
        demo.load(init, [token, all_runs], [token, owner, hist_table, run_pick, status], **quick)
        demo.unload(unload)

        gr.api(api_run, api_name="run", concurrency_limit=max_runs, concurrency_id="runs")
        gr.api(api_history, api_name="history", concurrency_limit=None)
        gr.api(api_load, api_name="load_run", concurrency_limit=None)
        gr.api(api_iterate, api_name="iterate", concurrency_limit=max_runs, concurrency_id="runs")

    demo.queue(default_concurrency_limit=None)
    demo.atelier_runs_dir = runs_dir  # for allowed_paths when launching
    return demo


def _owner(request: gr.Request | None, token: str | None) -> str:
    return ui.owner_id(getattr(request, "username", None), token, getattr(request, "session_hash", None))


def _api_owner(request: gr.Request | None) -> str:
    if request is not None and request.username:
        return f"user:{request.username}"
    return f"api:{getattr(request, 'session_hash', None) or 'anonymous'}"


def _blank(x) -> str:
    return "" if x is None else str(x)


def _with(value: str, choices: list[str]) -> list[str]:
    return choices if value in choices else [value, *choices]


def launch_kwargs(demo: gr.Blocks) -> dict[str, Any]:
    return {"theme": gr.themes.Soft(primary_hue="violet", neutral_hue="slate"), "css": CSS,
            "allowed_paths": [str(demo.atelier_runs_dir)], "footer_links": ["api"]}


def parse_auth(text: str | None) -> list[tuple[str, str]] | None:
    """"user:pass" or "u1:p1,u2:p2" → Gradio's auth list."""
    if not text:
        return None
    pairs = []
    for item in text.split(","):
        user, sep, password = item.strip().partition(":")
        if not sep or not user or not password:
            raise SystemExit("error: --auth takes USER:PASSWORD (comma-separated for several users)")
        pairs.append((user, password))
    return pairs


def main(host: str = "127.0.0.1", port: int = 7860, share: bool = False, *, auth: str | None = None,
         runs_dir: str | Path = "runs", single_user: bool = False, max_runs: int = 4,
         defaults: ui.Settings | None = None) -> None:
    auth_pairs = parse_auth(auth or os.environ.get("ATELIER_UI_AUTH"))
    exposed = share or host not in ("127.0.0.1", "localhost", "::1")
    if exposed and not auth_pairs:
        print("warning: the UI is reachable from other machines without a login; "
              "pass --auth USER:PASSWORD (or set ATELIER_UI_AUTH)", file=sys.stderr)
    if single_user and auth_pairs and len(auth_pairs) > 1:
        raise SystemExit("error: --single-user shows every run to everyone; not with several users")
    demo = build_app(runs_dir, defaults, single_user=single_user, max_runs=max_runs)
    demo.launch(server_name=host, server_port=port, share=share, auth=auth_pairs, **launch_kwargs(demo))


def cli(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description="Atelier's chat UI")
    p.add_argument("--host", default="127.0.0.1", help="interface to listen on (default: loopback only)")
    p.add_argument("--port", type=int, default=7860)
    p.add_argument("--share", action="store_true", help="make a public Gradio link (use with --auth)")
    p.add_argument("--auth", default=None, help="USER:PASSWORD[,USER2:PASSWORD2] (or ATELIER_UI_AUTH)")
    p.add_argument("--runs", default="runs", help="runs folder (default: runs)")
    p.add_argument("--single-user", action="store_true",
                   help="one person uses this app: History may show every run in the folder")
    p.add_argument("--max-runs", type=int, default=4, help="runs at once across all sessions")
    p.add_argument("--llm", default="offline")
    p.add_argument("--image-model", default="local:shapes")
    p.add_argument("--video-model", default=None)
    p.add_argument("--critic", default="critic:detector")
    p.add_argument("--max-iterations", type=int, default=4)
    a = p.parse_args(argv)
    main(a.host, a.port, a.share, auth=a.auth, runs_dir=a.runs, single_user=a.single_user, max_runs=a.max_runs,
         defaults=ui.Settings(llm=a.llm, image_model=a.image_model, video_model=a.video_model, critic=a.critic,
                              max_iterations=a.max_iterations))


if __name__ == "__main__":
    cli()
