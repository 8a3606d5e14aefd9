"""Atelier's chat UI: `python app.py` (or `atelier ui`), both launching this module. A thin Gradio layer over the Python API
(`agent.surfaces.api.Studio`): every decision about a run is the core's; this file lays out the page, turns
events into chat messages (helpers in `agent/surfaces/ui_support.py`, with the run desks in `ui_desks.py`
and the message text in `ui_text.py`) and routes the user's clicks.

- Each browser tab has a desk on the server (its chat, runs, queued briefs, settings; a key kept in the
  tab's sessionStorage): runs are driven by the desk's worker thread, not by the page, so a reload
  reattaches to them, and a brief sent while one runs is queued behind it. Runs belong to an owner: the logged-in user when auth is
  on, else the browser (a random token in its local storage); History lists only the owner's runs.
  Started with --single-user, History also offers "all runs" (including the CLI's).
- At most --max-runs runs at once across all tabs (the rest wait for a slot, and say so).
- Files reach the page as copies in Gradio's cache: the runs folder is not an allowed path, and only
  files under it (or made by the page itself) are ever copied.
- A clip plays: an MP4 in a video player (looping, in the chat and in the viewer), a GIF as an image;
  the attempts gallery shows each clip as a looping GIF, with its verdict (and how many frames the
  critic flagged) in the caption.
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
import tempfile
import threading
from pathlib import Path
from typing import Any, Callable

from agent.surfaces import ui_support as ui

ui.listen_address(None, None)  # gradio reads GRADIO_SERVER_PORT as it is imported: a bad one is one line
import gradio as gr  # noqa: E402
from agent.core.defaults import DEFAULT_CRITIC, DEFAULT_IMAGE_MODEL, DEFAULT_LLM, EXAMPLE_BRIEFS
from agent.core.errors import AtelierError, StopRun

CSS = """
#chat img, #gallery img, #editor canvas, #viewer-image img, #chat video, #viewer-video video {
  image-rendering: pixelated; }
#chat img, #chat video { width: 220px !important; height: 220px !important; max-width: 100%; object-fit: contain; }
#status { min-height: 1.6em; font-size: 0.95em; }
#status .st { padding: 4px 10px; border-radius: 6px; }
#status .st-error { background: #fde8e8; color: #8b1a1a; border: 1px solid #f2b8b8; }
#status .st-warn { background: #fff3df; color: #7a4300; border: 1px solid #f0c98c; }
#status .st-ok { background: #e6f6eb; color: #1b5e33; border: 1px solid #a9dcb9; }
#status .st-busy, #status .st-queued, #status .st-info { background: var(--background-fill-secondary);
  border: 1px solid var(--border-color-primary); }
#status .bar { height: 6px; border-radius: 3px; margin-top: 4px; background: var(--border-color-primary); }
#status .bar > div { height: 100%; border-radius: 3px; background: var(--color-accent); transition: width .4s; }
#brief-count { font-size: 0.8em; text-align: right; opacity: 0.75; min-height: 1em; }
#brief-count .over { color: #b91c1c; font-weight: 600; opacity: 1; }
#review-box { border: 2px solid var(--color-accent); border-radius: 10px; padding: 8px; }
#viewer { position: fixed !important; inset: 3vh 3vw; z-index: 1000; overflow: auto; width: auto !important;
  min-width: 0 !important; max-width: none !important;
  background: var(--background-fill-primary); border-radius: 12px; padding: 12px;
  box-shadow: 0 0 0 100vmax rgba(0, 0, 0, 0.6); }
#viewer-image img { object-fit: contain; }
#gallery .caption-label { white-space: normal !important; overflow: visible !important;
  text-overflow: clip !important; max-width: none !important; font-size: 0.8em; }
#gallery .thumbnail-item { aspect-ratio: 1 / 1; max-width: 180px; }
#verdicts th, #verdicts th *, #history-table th, #history-table th * { white-space: nowrap !important;
  word-break: keep-all !important; overflow-wrap: normal !important; }
#verdicts td, #verdicts td *, #history-table td, #history-table td * { word-break: normal !important;
  overflow-wrap: normal !important; }
#verdicts table { min-width: 460px; } #history-table table { min-width: 640px; }
footer { display: none !important; }
@media (max-width: 640px) {
  #viewer { inset: 0; border-radius: 0; }
  #chat img { width: 160px !important; height: 160px !important; }
}
"""

EXAMPLES = EXAMPLE_BRIEFS[:3]  # checked on the embedded default by agent/surfaces/bench_examples.py

# the tab's key lives in its sessionStorage: it survives a reload, and a new tab gets its own
READ_TAB_JS = """(token, allRuns, tab) => [token, allRuns, sessionStorage.getItem('atelier-tab') || '']"""
SAVE_TAB_JS = """(tab) => { if (tab) sessionStorage.setItem('atelier-tab', tab); return []; }"""
COUNT_JS = f"""() => {{
  const show = (n) => {{
    const el = document.querySelector('#brief-count');
    if (!el) return;
    el.innerHTML = n ? `<span class="${{n > {ui.MAX_BRIEF_CHARS} ? 'over' : 'ok'}}">${{n.toLocaleString('en')}} / {ui.MAX_BRIEF_CHARS:,} characters</span>` : '';
  }};
  document.addEventListener('input', (e) => {{ if (e.target.closest && e.target.closest('#brief')) show(e.target.value.length); }}, true);
  new MutationObserver(() => {{ const t = document.querySelector('#brief textarea'); if (t && !t.value) show(0); }})
    .observe(document.body, {{subtree: true, childList: true}});
}}"""


def build_app(runs_dir: str | Path = "runs", defaults: ui.Settings | None = None, *,
              single_user: bool = False, max_runs: int = 4,
              review_timeout: float = ui.REVIEW_TIMEOUT_S) -> gr.Blocks:
    defaults = defaults or ui.Settings()
    runs_dir = Path(runs_dir).expanduser().resolve()
    archive = defaults.studio(runs_dir)  # reads the run index and records; never runs anything
    desks = ui.Desks(runs_dir, max_runs=max_runs, review_timeout=review_timeout)
    policy = _policy(defaults)
    scratch = Path(tempfile.mkdtemp(prefix="atelier-ui-"))  # viewer images, upscaled downloads
    ready: dict[str, dict[str, str | None]] = {}
    checked = threading.Event()

    def check_models():  # which back ends would run here (weights, keys, the operator's policy)
        try:
            for kind, specs in (("image", ui.IMAGE_CHOICES), ("video", ui.VIDEO_CHOICES[1:]),
                                ("llm", ui.LLM_CHOICES), ("critic", ui.CRITIC_CHOICES)):
                ready[kind] = {s: ui.availability(kind, s, policy) for s in specs}
        finally:
            checked.set()
    threading.Thread(target=check_models, daemon=True, name="ui-models").start()

    # ---- files: served from Gradio's cache (content-named copies), never from the runs folder ----
    served_memo: dict[tuple[str, float], str] = {}

    def served(path) -> str | None:
        """A copy of `path` in Gradio's cache for the page; None for anything that is not a file under
        the runs folder or the page's own scratch folder (a record can name any path)."""
        p = ui.servable(path, [runs_dir, scratch])
        if p is None:
            return None
        try:
            key = (str(p), p.stat().st_mtime)
        except OSError:
            return None
        if key not in served_memo:
            from gradio import processing_utils, utils
            served_memo[key] = processing_utils.save_file_to_cache(p, utils.get_upload_folder())
        return served_memo[key]

    # ---- turning a desk into what the components show ------------------------------------------
    def to_chatbot(chat: list[dict]) -> list[dict]:
        return chat_value(chat, served)

    def compared_records(desk: ui.Desk) -> list:
        """The current run and, when comparing, this tab's other runs of the same brief."""
        current = desk.current
        if not current:
            return []
        try:
            records = {current: archive.load(current).record}
            if desk.compare:
                for run_id in desk.runs:
                    if run_id not in records:
                        r = archive.load(run_id).record
                        if r.brief.text == records[current].brief.text:
                            records[run_id] = r
        except AtelierError:
            return []
        return [records[current]] + [r for k, r in records.items() if k != current]

    def attempts_view(desk: ui.Desk):
        records = compared_records(desk)
        items, refs = ui.gallery_items(records)
        shown = []
        for (path, caption), ref in zip(items, refs):  # a clip shows as a looping GIF of its frames
            clip = ui.plays_as_video(path) and ui.servable(path, [runs_dir])
            preview = ui.clip_preview(path, scratch) if clip else path
            if (copy := served(preview)) is not None:
                shown.append(((copy, caption), ref))
        desk.refs = [ref for _, ref in shown]
        return [item for item, _ in shown], ui.verdict_rows(records)

    def history_view(owner: str, all_runs: bool):
        rows = ui.visible_runs(archive, owner, all_runs and single_user)
        return ui.history_rows(rows), gr.Dropdown(choices=ui.history_choices(rows), value=None)

    SKIP = gr.skip

    def status_of(desk: ui.Desk | None) -> str:
        if desk is None:
            return ui.status_html("Reload the page to start again.", "warn")
        return ui.status_html(*desk.status_line())

    def render(desk: ui.Desk, *, review=SKIP, history_of=None, attempts=True):
        """The outputs of every long handler: chat, gallery, table, status, review box, review text,
        review info, history table, history picker."""
        gallery, table = attempts_view(desk) if attempts else (SKIP(), SKIP())
        box, text, info = SKIP(), SKIP(), SKIP()
        if review is None:
            box = gr.Column(visible=False)
        elif review is not SKIP:
            box, text = gr.Column(visible=True), gr.Textbox(value=review["proposed"])
            changes = ui.changes_markdown(review["changes"]) if review["changes"] else "_no change_"
            info = (f"**Review the rewritten prompt.** Your brief: _{ui.short(review['brief'])}_  \n"
                    f"Changes: {changes}")
        hist, pick = history_view(*history_of) if history_of else (SKIP(), SKIP())
        return (to_chatbot(desk.chat), gallery, table, status_of(desk), box, text, info, hist, pick)

    def status_only(desk: ui.Desk | None):
        return (SKIP(), SKIP(), SKIP(), status_of(desk), SKIP(), SKIP(), SKIP(), SKIP(), SKIP())

    def watch(tab, owner, all_runs):
        """Stream a tab's desk to the page until it has nothing in flight. Any page of the tab can
        watch (a reload reattaches); the run itself does not depend on it."""
        desk = desks.get(tab, owner)
        if desk is None:
            yield status_only(None)
            return
        seen, shown_review = -1, object()
        while True:
            with desk.cond:
                if desk.version == seen and desk.busy:
                    desk.cond.wait(timeout=1.0)
                version, busy, review = desk.version, desk.busy, desk.review
            if not busy:
                yield render(desk, review=None, history_of=(owner, all_runs))
                return
            if version != seen:
                seen = version
                change = review if review is not shown_review else SKIP
                shown_review = review
                yield render(desk, review=change)
            else:
                yield status_only(desk)

    # ---- the quick handlers that take a request and queue it -----------------------------------
    def settings_from(form, review_on) -> ui.Settings:
        settings = ui.Settings.from_form(*form)
        settings.review = bool(review_on)
        _check_trust(settings, policy)
        ui.preflight(settings)
        return settings

    def refuse(desk, text):
        desk.status = (text, "error")
        desk.bump()
        return status_of(desk)

    def take_brief(value, tab, owner, review_on, *form):
        """Check a sent brief and queue it; on any problem the text stays in the box."""
        desk = desks.get(tab, owner)
        if desk is None:
            return SKIP(), status_of(None), SKIP(), False
        value = value or {}
        text = (value.get("text") or "").strip()
        files = [f if isinstance(f, str) else f.get("path") for f in value.get("files") or []]
        problem = ui.check_brief(text)
        for f in files:
            problem = problem or ui.check_upload(f)
        try:
            settings = settings_from(form, review_on)
        except (ValueError, AtelierError) as e:
            problem = problem or ui.scrub(str(e), runs_dir)
        if problem:
            return SKIP(), refuse(desk, problem), SKIP(), False
        try:
            refs = [str(ui.keep_upload(f, runs_dir)) for f in files]
        except OSError as e:
            return SKIP(), refuse(desk, f"could not read the attached image ({e.strerror})"), SKIP(), False
        desk.form = list(form)
        with desk.cond:
            desk.chat.append(ui.msg(ui.short(text, 2000), role="user", media=[(p, "image") for p in refs]))
            queued = desk.busy
            if queued:
                desk.chat.append(ui.msg(f"🕒 **Queued** — this brief starts when the current run ends "
                                        f"({len(desk.queue) + 1} waiting).", key=f"queued:{len(desk.chat)}"))
        desks.submit(desk, ui.Job("brief", text, settings, refs=refs))
        return gr.MultimodalTextbox(value=None), status_of(desk), to_chatbot(desk.chat), True

    def take_rerun(tab, owner, review_on, *form):
        desk = desks.get(tab, owner)
        if desk is None:
            return status_of(None), SKIP()
        if not desk.last:
            return refuse(desk, "nothing to re-run yet: send a brief first"), SKIP()
        try:
            settings = settings_from(form, review_on)
        except (ValueError, AtelierError) as e:
            return refuse(desk, str(e)), SKIP()
        if settings.seed is None or settings.seed == desk.last.get("seed"):
            settings.seed = random.randrange(2**31)
        desk.chat.append(ui.msg(f"↻ Re-running with seed {settings.seed} on `{settings.image_model}`"))
        desks.submit(desk, ui.Job("brief", desk.last["text"], settings, refs=list(desk.last["refs"])))
        return status_of(desk), to_chatbot(desk.chat)

    def take_edit(tab, owner, editor, prompt, instruction, strength, seed, all_runs, *form):
        desk = desks.get(tab, owner)
        if desk is None:
            return status_of(None), SKIP()
        if not desk.selected:
            return refuse(desk, "pick an attempt in the gallery first, then iterate on it"), SKIP()
        run_id, index = desk.selected
        try:
            settings = settings_from(form, False)
            edit_seed = ui.parse_number(seed, "the edit's seed", int)
            if not ui.may_open(archive, owner, run_id, all_runs and single_user):
                raise AtelierError(f"run {run_id} is not one of yours")
            source = archive.load(run_id).record.attempts[index]
            if source.artifact.kind != "image":
                raise AtelierError(f"attempt {index} is a clip: a clip cannot be edited; send a new brief "
                                   f"(or re-run) to get another")
            mask = None
            if editor and editor.get("layers"):
                from agent.core.artifacts import load_image
                size = load_image(source.artifact.path).size
                painted = ui.mask_from_layers(editor["layers"], size)
                if painted is not None:
                    mask = archive.store.run_dir(run_id) / f"ui-mask-{index}-{secrets.token_hex(3)}.png"
                    painted.save(mask)
        except (AtelierError, OSError, IndexError, ValueError) as e:
            return refuse(desk, ui.scrub(str(e), runs_dir)), SKIP()
        prompt = (prompt or "").strip() or source.prompt
        what = f"🖌 Iterate on attempt {index} of run `{run_id}`: {prompt}"
        if instruction:
            what += f"  \ninstruction: _{instruction}_"
        what += "  \n(painted region)" if mask else ""
        desk.chat.append(ui.msg(what, role="user"))
        with desk.cond:
            desk.current = run_id
            if run_id not in desk.runs:
                desk.runs.append(run_id)
        desks.submit(desk, ui.Job("edit", prompt, settings, run_id=run_id, index=index,
                                  mask=str(mask) if mask else None, instruction=instruction or "",
                                  strength=float(strength), seed=edit_seed))
        return status_of(desk), to_chatbot(desk.chat)

    def check_files(value, tab, owner):
        """Attached files are checked as they arrive: a non-image or an oversized image is taken out
        of the box at once, with a line naming the file (never a server path)."""
        files = [f if isinstance(f, str) else f.get("path") for f in (value or {}).get("files") or []]
        if not files:
            return SKIP(), SKIP()
        bad = [(f, why) for f in files if (why := ui.check_upload(f))]
        if not bad:
            return SKIP(), SKIP()
        desk = desks.get(tab, owner)
        keep = [f for f in files if f not in {b for b, _ in bad}]
        text = "; ".join(why for _, why in bad) + " — attach a PNG, JPEG or WebP picture"
        status = refuse(desk, text) if desk else ui.status_html(text, "error")
        return gr.MultimodalTextbox(value={"text": (value or {}).get("text") or "", "files": keep}), status

    # ---- quick handlers ------------------------------------------------------------------------
    def stop(tab, owner):
        desk = desks.get(tab, owner)
        if desk is None:
            return status_of(None)
        return ui.status_html("⏹ " + desks.stop(desk) if desk.busy else "nothing is running", "info")

    def answer(kind):
        def handler(text, tab, owner):
            desk = desks.get(tab, owner)
            ok = bool(desk) and desks.answer(desk, kind, text)
            return (ui.status_html("thanks — carrying on" if ok else "nothing is waiting for a review", "busy"),
                    gr.Column(visible=False))
        return handler

    def attempt_of(desk, i):
        refs = desk.refs or []
        if not isinstance(i, int) or not 0 <= i < len(refs):
            return None
        run_id, index = refs[i]
        try:
            return run_id, archive.load(run_id).record.attempts[index]
        except (AtelierError, IndexError):
            return None

    def viewer_outputs(desk, run_id, attempt, boxes=True):
        """viewer, its image, its video player, its text, the two download buttons, the boxes checkbox
        and "send to edit" (neither of which a clip has)."""
        original = attempt.artifact.path
        if attempt.artifact.kind == "video":  # a clip plays: an MP4 in the player, a GIF as an image
            video = ui.plays_as_video(original)
            return (gr.Column(visible=True), gr.Image(None if video else served(original), visible=not video),
                    gr.Video(served(original) if video else None, visible=video),
                    ui.viewer_text(run_id, attempt), gr.DownloadButton(value=served(original)),
                    gr.DownloadButton(visible=False), gr.Checkbox(visible=False), gr.Button(visible=False))
        shown = ui.viewer_image(attempt, scratch, boxes=boxes)
        big = ui.upscaled(original, scratch)
        return (gr.Column(visible=True), gr.Image(served(shown), visible=True), gr.Video(None, visible=False),
                ui.viewer_text(run_id, attempt), gr.DownloadButton(value=served(original)),
                gr.DownloadButton(value=served(big), visible=True), gr.Checkbox(visible=True),
                gr.Button(visible=True))

    def select_attempt(tab, owner, evt: gr.SelectData):
        desk = desks.get(tab, owner)
        found = attempt_of(desk, evt.index) if desk else None
        if found is None:
            return (SKIP(),) * 8 + ("Pick an attempt.",)
        run_id, attempt = found
        desk.selected = [run_id, attempt.index]
        label = (f"**Selected:** attempt {attempt.index} of run `{run_id}` (seed {attempt.seed}) — "
                 f"{ui.verdict_text(attempt.verdict).splitlines()[0]}")
        if ui.servable(attempt.artifact.path, [runs_dir]) is None:  # a record naming a file elsewhere
            return (SKIP(),) * 8 + (label + "  \n_Its file is not in the runs folder: it cannot be shown._",)
        if attempt.artifact.kind != "image":
            label += "  \n_This is a clip: it plays in the viewer; it cannot be edited._"
        return viewer_outputs(desk, run_id, attempt) + (label,)

    def selected_attempt(desk):
        if not desk or not desk.selected:
            return None
        try:
            return desk.selected[0], archive.load(desk.selected[0]).record.attempts[desk.selected[1]]
        except (AtelierError, IndexError):
            return None

    def redraw(boxes, tab, owner):
        found = selected_attempt(desks.get(tab, owner))
        if found is None or found[1].artifact.kind != "image" or not ui.servable(found[1].artifact.path, [runs_dir]):
            return SKIP()
        return served(ui.viewer_image(found[1], scratch, boxes=bool(boxes)))

    def use_seed(tab, owner):
        found = selected_attempt(desks.get(tab, owner))
        if found is None:
            return SKIP(), SKIP()
        seed_value = str(found[1].seed)
        return seed_value, ui.status_html(f"Seed {seed_value} set in Settings: the next brief or re-run uses it", "info")

    def send_to_edit(tab, owner):
        found = selected_attempt(desks.get(tab, owner))
        if found is None or found[1].artifact.kind != "image":  # a clip cannot be edited
            return SKIP(), SKIP(), gr.Column(visible=False), SKIP()
        path = served(found[1].artifact.path)
        return ({"background": path, "layers": [], "composite": path}, found[1].prompt, gr.Column(visible=False),
                gr.Accordion(open=True))

    def set_compare(on, tab, owner):
        desk = desks.get(tab, owner)
        if desk is None:
            return SKIP(), SKIP()
        desk.compare = bool(on)
        return attempts_view(desk)

    def refresh_history(owner, all_runs, request: gr.Request):
        return history_view(owner or _owner(request, None), all_runs)

    def pick_from_table(evt: gr.SelectData):
        row = evt.row_value or []
        return gr.Dropdown(value=row[-1]) if row else SKIP()

    def open_run(run_id, tab, owner, all_runs):
        desk = desks.get(tab, owner)
        if desk is None:
            return status_only(None)
        if not run_id:
            return (SKIP(),) * 3 + (refuse(desk, "pick a run to open"),) + (SKIP(),) * 5
        if not ui.may_open(archive, owner, run_id, all_runs and single_user):
            return (SKIP(),) * 3 + (refuse(desk, f"no run {run_id!r} among yours"),) + (SKIP(),) * 5
        try:
            record = archive.load(run_id).record
        except AtelierError as e:
            return (SKIP(),) * 3 + (refuse(desk, ui.scrub(str(e), runs_dir)),) + (SKIP(),) * 5
        with desk.cond:
            desk.chat.extend(ui.record_msgs(record))
            if run_id not in desk.runs:
                desk.runs.append(run_id)
            desk.current, desk.selected = run_id, None
            desk.last = {"text": record.brief.text, "refs": [str(p) for p in record.brief.reference_images],
                         "seed": record.brief.seed}
            if not desk.busy:
                desk.status = (f"Reopened run {run_id}", "info")
        desk.bump()
        return render(desk)

    def new_chat(tab, owner):
        desk = desks.get(tab, owner)
        if desk is None or desk.busy:
            return (SKIP(),) * 3 + (ui.status_html("a run is in progress: stop it first", "warn")
                                    if desk else status_of(None),) + (SKIP(),) * 3
        with desk.cond:
            desk.chat, desk.runs, desk.current, desk.selected, desk.refs, desk.last = [], [], None, None, [], None
            desk.status = ("Ready", "idle")
        desk.bump()
        return [], [], [], status_of(desk), None, "", "Pick an attempt in the gallery."

    def remember(tab, owner, *values):
        desk = desks.get(tab, owner)
        if desk is not None:
            desk.form = list(values)

    def init(token, all_runs, tab, request: gr.Request):
        """A page (re)loads: find the tab's desk (its chat, runs and settings) or start one."""
        token = token or ui.new_token()
        owner = _owner(request, token)
        desk = desks.attach(tab, owner)
        if not desk.chat and not desk.busy:
            who = f"signed in as {request.username}" if request.username else "runs are kept for this browser"
            desk.status = (f"Ready · {who}", "idle")
        hist, pick = history_view(owner, all_runs)
        form = [SKIP()] * len(form_widgets) if desk.form is None else desk.form
        chat_value, gallery, table = to_chatbot(desk.chat), *attempts_view(desk)
        return (token, owner, desk.key, desk.key, chat_value, gallery, table, status_of(desk), hist, pick, *form)

    def model_choices():
        checked.wait(timeout=60)
        out = []
        for widget_kind, specs, current in (("llm", ui.LLM_CHOICES, defaults.llm),
                                            ("image", ui.IMAGE_CHOICES, defaults.image_model),
                                            ("video", ui.VIDEO_CHOICES[1:], defaults.video_model),
                                            ("critic", ui.CRITIC_CHOICES, defaults.critic)):
            status = dict(ready.get(widget_kind, {}))
            choices = ui.choice_labels(widget_kind, _with(current, specs) if current else specs, status)
            if widget_kind == "video":
                choices = [("(none)", "(none)")] + choices
            out.append(gr.Dropdown(choices=choices))
        absent = [f"`{s}` ({why})" for k in ready.values() for s, why in k.items() if why]
        note = ("**Not available here:** " + ", ".join(absent)) if absent else "All listed models are available."
        return (*out, note)

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
            _check_trust(settings, policy)
            fields = settings.brief_fields()
            result = settings.studio(runs_dir).run(brief, owner=_api_owner(request), **fields)
        except AtelierError as e:
            raise gr.Error(ui.scrub(str(e), runs_dir)) from None
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
            raise gr.Error(ui.scrub(str(e), runs_dir)) from None

    # ---- the page --------------------------------------------------------------------------------
    with gr.Blocks(title="Atelier", analytics_enabled=False) as demo:
        token = gr.BrowserState(None, storage_key="atelier-owner", secret="atelier-ui-owner-token")
        owner = gr.State("")
        tab = gr.State("")
        tab_key = gr.Textbox("", visible=False, elem_id="tab-key")
        gr.Markdown("## 🎨 Atelier\nDescribe a picture. Atelier rewrites your brief into a prompt, generates, "
                    "has every attempt judged by a critic, and keeps going until one is approved "
                    f"or the budget is spent. Now using **{defaults.llm}** → **{defaults.image_model}**"
                    + (f" (clips: **{defaults.video_model}**, for a brief that asks for motion)"
                       if defaults.video_model else "") + ", "
                    f"judged by **{defaults.critic}** (change it under Settings).")
        with gr.Row(equal_height=False):
            with gr.Column(scale=3, min_width=340):
                status = gr.HTML(ui.status_html("Loading…"), elem_id="status")
                chat = gr.Chatbot(elem_id="chat", height=620, show_label=False, layout="bubble",
                                  placeholder="**Send a brief** — e.g. _two red circles left of a blue square_.  \n"
                                              "Attach a reference image with 📎 if you have one.",
                                  feedback_options=None, buttons=["copy"])
                with gr.Column(visible=False, elem_id="review-box") as review_box:
                    review_info = gr.Markdown()
                    review_text = gr.Textbox(label="Prompt to use (edit it if you like)", lines=2,
                                             elem_id="review-text")
                    with gr.Row():
                        accept_btn = gr.Button("✔ Use this prompt", variant="primary", elem_id="review-accept")
                        refuse_btn = gr.Button("✖ Refuse — use my brief as written", elem_id="review-refuse")
                brief = gr.MultimodalTextbox(placeholder="What should Atelier make?", file_types=["image"],
                                             file_count="single", show_label=False, elem_id="brief",
                                             submit_btn="Run", autofocus=True)
                gr.HTML("", elem_id="brief-count")
                with gr.Row():
                    review_on = gr.Checkbox(defaults.review, label="Let me review the rewritten prompt",
                                            elem_id="review-on", scale=2, min_width=160)
                    stop_btn = gr.Button("⏹ Stop", variant="stop", elem_id="stop", scale=1, min_width=80)
                    rerun_btn = gr.Button("↻ Re-run (new seed)", elem_id="rerun", scale=2, min_width=120)
                    clear_btn = gr.Button("New chat", elem_id="new-chat", scale=1, min_width=80)
                gr.Examples(EXAMPLES, inputs=brief, label="Try")
            with gr.Column(scale=2, min_width=340):
                with gr.Tabs():
                    with gr.Tab("Attempts", id="attempts-tab"):
                        gallery = gr.Gallery(label="Attempts (click one to view it)",
                                             columns=4, height=None, elem_id="gallery", allow_preview=False,
                                             object_fit="contain", interactive=False, fit_columns=False)
                        compare = gr.Checkbox(True, label="Compare with my other runs of the same brief (seeds side by side)")
                        table = gr.Dataframe(headers=ui.TABLE_HEADERS, interactive=False, wrap=True,
                                             elem_id="verdicts", max_height=300,
                                             column_widths=["7%", "13%", "16%", "18%", "31%", "15%"])
                        with gr.Accordion("Iterate on the selected attempt", open=True) as edit_box:
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
                    with gr.Tab("History", id="history-tab"):
                        all_runs = gr.Checkbox(False, label="All runs in this folder (single-user mode)",
                                               visible=single_user)
                        hist_table = gr.Dataframe(headers=ui.HISTORY_HEADERS, interactive=False, wrap=True,
                                                  elem_id="history-table", max_height=360,
                                                  column_widths=["34%", "14%", "10%", "9%", "13%", "10%", "10%"])
                        run_pick = gr.Dropdown(label="Run", choices=[], elem_id="run-pick")
                        with gr.Row():
                            open_btn = gr.Button("📂 Open this run", variant="primary", elem_id="open-run")
                            refresh_btn = gr.Button("Refresh", elem_id="refresh-history")
                    with gr.Tab("Settings", id="settings-tab"):
                        models_note = gr.Markdown("_Checking which models are available here…_",
                                                  elem_id="models-note")
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
                            max_seconds = gr.Textbox(_blank(defaults.max_seconds), label="Time budget, s (blank: none)",
                                                     elem_id="set-seconds", min_width=120)
                            max_cost = gr.Textbox(_blank(defaults.max_cost_usd), label="Money budget, $ (blank: none)",
                                                  elem_id="set-cost", min_width=120)
                        with gr.Row():
                            candidates = gr.Slider(1, 8, defaults.candidates, step=1, label="Images per round")
                            seed = gr.Textbox(_blank(defaults.seed), label="Seed (blank: random)",
                                              elem_id="set-seed", min_width=120)
                        edits = gr.Checkbox(defaults.edits, label="Allow region edits (not only new images)")
        with gr.Column(visible=False, elem_id="viewer") as viewer:
            with gr.Row():
                with gr.Column(scale=3, min_width=300):
                    viewer_img = gr.Image(show_label=False, interactive=False, elem_id="viewer-image", height=560,
                                          buttons=["fullscreen"])
                    viewer_video = gr.Video(show_label=False, interactive=False, elem_id="viewer-video", height=560,
                                            autoplay=True, loop=True, visible=False)
                with gr.Column(scale=2, min_width=280):
                    viewer_info = gr.Markdown(elem_id="viewer-info")
                    boxes_on = gr.Checkbox(True, label="Draw the layout and what the critic saw", elem_id="viewer-boxes")
                    with gr.Row():
                        use_seed_btn = gr.Button("🎲 Use this seed", elem_id="viewer-seed", min_width=120)
                        edit_btn = gr.Button("🖌 Send to edit", elem_id="viewer-edit", min_width=120)
                    with gr.Row():
                        dl_orig = gr.DownloadButton("⬇ Original", elem_id="viewer-download", min_width=120)
                        dl_big = gr.DownloadButton("⬇ Upscaled ×4", elem_id="viewer-download-big", min_width=120)
                    close_btn = gr.Button("✕ Close", elem_id="viewer-close")

        form_widgets = [llm, image_model, video_model, critic, mode, max_iterations, max_seconds, max_cost,
                        candidates, seed, review_on, edits]
        form = form_widgets
        outs = [chat, gallery, table, status, review_box, review_text, review_info, hist_table, run_pick]
        quick = dict(concurrency_limit=None, api_visibility="private")
        watching = dict(concurrency_limit=None, api_visibility="private", show_progress="hidden")

        started = gr.State(False)
        brief.submit(take_brief, [brief, tab, owner, review_on, *form], [brief, status, chat, started],
                     trigger_mode="multiple", **quick) \
            .then(watch, [tab, owner, all_runs], outs, **watching)
        brief.change(check_files, [brief, tab, owner], [brief, status], trigger_mode="always_last",
                     show_progress="hidden", **quick)
        rerun_btn.click(take_rerun, [tab, owner, review_on, *form], [status, chat], **quick) \
            .then(watch, [tab, owner, all_runs], outs, **watching)
        iterate_btn.click(take_edit, [tab, owner, editor, edit_prompt, instruction, strength, edit_seed,
                                      all_runs, *form], [status, chat], **quick) \
            .then(watch, [tab, owner, all_runs], outs, **watching)
        stop_btn.click(stop, [tab, owner], status, **quick)
        accept_btn.click(answer("accept"), [review_text, tab, owner], [status, review_box], **quick)
        refuse_btn.click(answer("refuse"), [review_text, tab, owner], [status, review_box], **quick)
        gallery.select(select_attempt, [tab, owner], [viewer, viewer_img, viewer_video, viewer_info, dl_orig,
                                                      dl_big, boxes_on, edit_btn, selected_md], **quick)
        boxes_on.change(redraw, [boxes_on, tab, owner], viewer_img, **quick)
        use_seed_btn.click(use_seed, [tab, owner], [seed, status], **quick)
        edit_btn.click(send_to_edit, [tab, owner], [editor, edit_prompt, viewer, edit_box], **quick)
        close_btn.click(lambda: gr.Column(visible=False), None, viewer, **quick)
        compare.change(set_compare, [compare, tab, owner], [gallery, table], **quick)
        refresh_btn.click(refresh_history, [owner, all_runs], [hist_table, run_pick], **quick)
        all_runs.change(refresh_history, [owner, all_runs], [hist_table, run_pick], **quick)
        hist_table.select(pick_from_table, None, run_pick, **quick)
        open_btn.click(open_run, [run_pick, tab, owner, all_runs], outs, **quick)
        clear_btn.click(new_chat, [tab, owner], [chat, gallery, table, status, editor, edit_prompt, selected_md],
                        **quick)
        gr.on([w.change for w in form_widgets], remember, [tab, owner, *form_widgets], None, **quick,
              show_progress="hidden")
        demo.load(init, [token, all_runs, tab_key],
                  [token, owner, tab, tab_key, chat, gallery, table, status, hist_table, run_pick, *form_widgets],
                  js=READ_TAB_JS, **quick) \
            .then(None, tab_key, None, js=SAVE_TAB_JS) \
            .then(watch, [tab, owner, all_runs], outs, **watching)
        demo.load(model_choices, None, [llm, image_model, video_model, critic, models_note], **quick)

        gr.api(api_run, api_name="run", concurrency_limit=max_runs, concurrency_id="runs")
        gr.api(api_history, api_name="history", concurrency_limit=None)
        gr.api(api_load, api_name="load_run", concurrency_limit=None)
        gr.api(api_iterate, api_name="iterate", concurrency_limit=max_runs, concurrency_id="runs")

    demo.queue(default_concurrency_limit=None)
    demo.atelier_runs_dir = runs_dir
    demo.atelier_desks = desks
    return demo


def chat_value(chat: list[dict], served: Callable[[Any], str | None]) -> list[dict]:
    """The desk's chat messages as the Chatbot's value: text, then each file as a component of its own
    (an MP4 clip as a looping, autoplaying video player; a PNG or GIF as an image). `served` turns a
    path into what the page may load (a copy in Gradio's cache), or None to leave that file out."""
    out = []
    for m in chat:
        parts: list[Any] = [m["text"]] if m["text"] else []
        for path, kind in m["media"]:
            copy = served(path)
            if copy is None:
                continue
            if kind == "video" and ui.plays_as_video(path):
                parts.append(gr.Video(copy, autoplay=True, loop=True, show_label=False, height=240,
                                      elem_classes=["clip"]))
            else:
                parts.append(gr.Image(copy, show_label=False, height=240, container=False,
                                      buttons=["download", "fullscreen"]))
        entry: dict[str, Any] = {"role": m["role"], "content": parts[0] if len(parts) == 1 else parts or "…"}
        if m.get("title"):
            entry["metadata"] = {"title": m["title"], "status": m.get("status") or "done"}
        out.append(entry)
    return out


def _policy(defaults: ui.Settings):
    """What UI users may choose (agent/core/trust.py): the operator's defaults always; a server URL
    only when the operator configured it."""
    from agent.core.trust import TrustPolicy
    return TrustPolicy.from_env(operator_specs=[defaults.llm, defaults.image_model, defaults.video_model,
                                                defaults.critic])


def _check_trust(settings: ui.Settings, policy) -> None:
    if policy is None:
        return
    from agent.core.trust import check_untrusted_spec
    for kind, spec in (("llm", settings.llm), ("image", settings.image_model), ("video", settings.video_model),
                       ("critic", settings.critic)):
        check_untrusted_spec(kind, spec, policy)


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
    """No allowed_paths: the runs folder is never served as such. The page shows copies made into
    Gradio's cache (content-hashed names that only the page they were sent to knows), so no
    user can fetch another's files or the run index through /gradio_api/file=."""
    return {"theme": gr.themes.Soft(primary_hue="violet", neutral_hue="slate"), "css": CSS,
            "footer_links": ["api"], "js": COUNT_JS}


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


def main(host: str | None = None, port: int | None = None, share: bool = False, *, auth: str | None = None,
         runs_dir: str | Path = "runs", single_user: bool = False, max_runs: int = 4,
         defaults: ui.Settings | None = None) -> None:
    """host/port: the flags (they win), else GRADIO_SERVER_NAME / GRADIO_SERVER_PORT, else 127.0.0.1:7860."""
    host, port = ui.listen_address(host, port)
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
    p.add_argument("--host", default=None,
                   help="interface to listen on (default: $GRADIO_SERVER_NAME, else loopback only)")
    p.add_argument("--port", type=int, default=None, help="port (default: $GRADIO_SERVER_PORT, else 7860)")
    p.add_argument("--share", action="store_true", help="make a public Gradio link (use with --auth)")
    p.add_argument("--auth", default=None, help="USER:PASSWORD[,USER2:PASSWORD2] (or ATELIER_UI_AUTH)")
    p.add_argument("--runs", default="runs", help="runs folder (default: runs)")
    p.add_argument("--single-user", action="store_true",
                   help="one person uses this app: History may show every run in the folder")
    p.add_argument("--max-runs", type=int, default=4, help="runs at once across all sessions")
    p.add_argument("--llm", default=DEFAULT_LLM)
    p.add_argument("--image-model", default=DEFAULT_IMAGE_MODEL)
    p.add_argument("--video-model", default=None)
    p.add_argument("--critic", default=DEFAULT_CRITIC)
    p.add_argument("--max-iterations", type=int, default=4)
    a = p.parse_args(argv)
    main(a.host, a.port, a.share, auth=a.auth, runs_dir=a.runs, single_user=a.single_user, max_runs=a.max_runs,
         defaults=ui.Settings(llm=a.llm, image_model=a.image_model, video_model=a.video_model, critic=a.critic,
                              max_iterations=a.max_iterations))


if __name__ == "__main__":
    cli()
