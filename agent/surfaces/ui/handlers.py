"""The chat UI's state and what each click does. `ChatUI` holds the run desks, the archive of runs,
the operator's policy and the page; each handler is a method that returns `{component: update}`
(Gradio's dict return), so it can be called and checked without a browser (tests/test_ui_handlers.py).

Runs are driven by the desk's worker thread (agent/surfaces/ui_desks.py), not by the page: the
`watch` stream only shows a desk's progress, and any page of the tab can watch it again after a
reload. The viewer's and History's handlers are in `viewer.py`."""
from __future__ import annotations

import random
import secrets
import threading
from pathlib import Path
from typing import Any

import gradio as gr
from PIL import Image

from agent.core.errors import AtelierError
from agent.surfaces import ui_support as ui
from agent.surfaces.ui.conversations import KeptDesks
from agent.surfaces.ui.files import Files
from agent.surfaces.ui.page import PAINTED, Page, _with
from agent.surfaces.ui.viewer import ViewerHandlers

Updates = dict[Any, Any]


class ChatUI(ViewerHandlers):
    def __init__(self, runs_dir: Path, defaults: ui.Settings, *, single_user: bool, max_runs: int,
                 review_timeout: float):
        self.runs_dir, self.defaults, self.single_user = runs_dir, defaults, single_user
        self.archive = defaults.studio(runs_dir)  # reads the run index and records; never runs anything
        self.desks = KeptDesks(runs_dir, max_runs=max_runs, review_timeout=review_timeout)  # kept over restarts
        self.policy = policy_for(defaults)
        self.files = Files(runs_dir)
        self.page: Page | None = None  # set once the layout is made
        self.ready: dict[str, dict[str, str | None]] = {}
        self.checked = threading.Event()
        threading.Thread(target=self._check_models, daemon=True, name="ui-models").start()

    def _check_models(self) -> None:  # which back ends would run here (weights, keys, the operator's policy)
        try:
            for kind, specs in (("image", ui.IMAGE_CHOICES), ("video", ui.VIDEO_CHOICES[1:]),
                                ("llm", ui.LLM_CHOICES), ("critic", ui.CRITIC_CHOICES)):
                self.ready[kind] = {s: ui.availability(kind, s, self.policy) for s in specs}
        finally:
            self.checked.set()

    # ---- a desk as the components show it ---------------------------------------------------------
    def status_of(self, desk: ui.Desk | None) -> str:
        if desk is None:
            return ui.status_html("Reload the page to start again.", "warn")
        return ui.status_html(*desk.status_line())

    def refuse(self, desk: ui.Desk | None, text: str) -> Updates:
        """The status line says why a request was refused (and keeps saying it when nothing runs;
        while a run is in flight, its progress takes the line back at its next step)."""
        if desk is not None and not desk.busy:
            desk.tell(text, "error")
        return {self.page.status: ui.status_html(text, "error")}

    def compared_records(self, desk: ui.Desk) -> list:
        """The current run and, when comparing, this tab's other runs of the same brief."""
        current = desk.current
        if not current:
            return []
        try:
            records = {current: self.archive.load(current).record}
            if desk.compare:
                for run_id in desk.runs:
                    if run_id not in records:
                        r = self.archive.load(run_id).record
                        if r.brief.text == records[current].brief.text:
                            records[run_id] = r
        except AtelierError:
            return []
        return [records[current]] + [r for k, r in records.items() if k != current]

    def attempts_view(self, desk: ui.Desk) -> Updates:
        items, desk.refs, rows = self.files.gallery(self.compared_records(desk))
        choices = [(f"#{index} · {run_id[-6:]}", f"{run_id}:{index}") for run_id, index in desk.refs]
        desk.ticked = [t for t in desk.ticked if t in {value for _, value in choices}]  # still in the gallery
        return {self.page.gallery: items, self.page.table: rows,
                self.page.zip_pick: gr.CheckboxGroup(choices=choices, value=list(desk.ticked)),
                self.page.zip_btn: self.zip_of(desk)}

    def history_view(self, owner: str, all_runs: bool) -> Updates:
        rows = ui.visible_runs(self.archive, owner, all_runs and self.single_user)
        live = self.desks.live_runs()  # a run in flight in any tab reads as running, not interrupted
        return {self.page.hist_table: ui.history_rows(rows, live),
                self.page.run_pick: gr.Dropdown(choices=ui.history_choices(rows, live), value=None)}

    def queue_view(self, desk: ui.Desk) -> Updates:
        waiting = desk.waiting()
        choices = [(f"{i + 1}. {ui.short(job.text, 60)}", job.id) for i, job in enumerate(waiting)]
        return {self.page.queue_box: gr.Row(visible=bool(waiting)),
                self.page.queue_pick: gr.Dropdown(choices=choices, value=choices[0][1] if choices else None)}

    def render(self, desk: ui.Desk, *, review: Any = ..., history_of: tuple | None = None,
               attempts: bool = True) -> Updates:
        """What a run in flight shows: the chat, the gallery and table, the status, the review box
        (`review`: None hides it, a request shows it, ... leaves it), the queue, and History."""
        p = self.page
        out: Updates = {p.chat: self.files.chat(desk.chat), p.status: self.status_of(desk), **self.queue_view(desk)}
        if attempts:
            out.update(self.attempts_view(desk))
        if review is None:
            out[p.review_box] = gr.Column(visible=False)
        elif review is not ...:
            changes = ui.changes_markdown(review["changes"]) if review["changes"] else "_no change_"
            out.update({p.review_box: gr.Column(visible=True), p.review_text: gr.Textbox(value=review["proposed"]),
                        p.review_info: f"**Review the rewritten prompt.** Your brief: _{ui.short(review['brief'])}_  \n"
                                       f"Changes: {changes}"})
        if history_of:
            out.update(self.history_view(*history_of))
        return out

    def watch(self, tab, owner, all_runs):
        """Stream a tab's desk to the page until it has nothing in flight."""
        desk = self.desks.get(tab, owner)
        if desk is None:
            yield {self.page.status: self.status_of(None)}
            return
        seen, shown_review = -1, object()
        while True:
            with desk.cond:
                if desk.version == seen and desk.busy:
                    desk.cond.wait(timeout=1.0)
                version, busy, review = desk.version, desk.busy, desk.review
            if not busy:
                yield self.render(desk, review=None, history_of=(owner, all_runs))
                return
            if version != seen:
                seen = version
                change = review if review is not shown_review else ...
                shown_review = review
                yield self.render(desk, review=change)
            else:
                yield {self.page.status: self.status_of(desk)}

    # ---- requests that queue a run --------------------------------------------------------------
    def settings_from(self, form, review_on) -> ui.Settings:
        settings = ui.Settings.from_form(*form)
        settings.review = bool(review_on)
        check_trust(settings, self.policy)
        ui.preflight(settings)
        return settings

    def take_brief(self, value, tab, owner, review_on, *form) -> Updates:
        """Check a sent brief and queue it; on any problem the text stays in the box."""
        p, desk = self.page, self.desks.get(tab, owner)
        if desk is None:
            return {p.status: self.status_of(None), p.started: False}
        value = value or {}
        text = (value.get("text") or "").strip()
        files = [f if isinstance(f, str) else f.get("path") for f in value.get("files") or []]
        problem = ui.check_brief(text)
        for f in files:
            problem = problem or ui.check_upload(f)
        try:
            settings = self.settings_from(form, review_on)
        except (ValueError, AtelierError) as e:
            problem = problem or ui.scrub(str(e), self.runs_dir)
        if problem:
            return {**self.refuse(desk, problem), p.started: False}
        try:
            refs = [str(ui.keep_upload(f, self.runs_dir)) for f in files]
        except OSError as e:
            return {**self.refuse(desk, f"could not read the attached image ({e.strerror})"), p.started: False}
        desk.form = list(form)
        job = ui.Job("brief", text, settings, refs=refs)
        with desk.cond:
            desk.chat.append(ui.msg(ui.short(text, 2000), role="user", media=[(r, "image") for r in refs]))
            if desk.busy:
                desk.chat.append(ui.queued_msg(job, len(desk.queue) + 1))
        self.desks.submit(desk, job)
        return {p.brief: gr.MultimodalTextbox(value=None), p.status: self.status_of(desk),
                p.chat: self.files.chat(desk.chat), p.started: True, **self.queue_view(desk)}

    def take_rerun(self, tab, owner, review_on, *form) -> Updates:
        p, desk = self.page, self.desks.get(tab, owner)
        if desk is None:
            return {p.status: self.status_of(None)}
        if not desk.last:
            return self.refuse(desk, "nothing to re-run yet: send a brief first")
        try:
            settings = self.settings_from(form, review_on)
        except (ValueError, AtelierError) as e:
            return self.refuse(desk, str(e))
        if settings.seed is None or settings.seed == desk.last.get("seed"):
            settings.seed = random.randrange(2**31)
        desk.chat.append(ui.msg(f"↻ Re-running with seed {settings.seed} on `{settings.image_model}`"))
        self.desks.submit(desk, ui.Job("brief", desk.last["text"], settings, refs=list(desk.last["refs"])))
        return {p.status: self.status_of(desk), p.chat: self.files.chat(desk.chat)}

    def take_edit(self, tab, owner, editor, prompt, instruction, strength, seed, feather, all_runs, *form) -> Updates:
        desk, refusal = self._picked(tab, owner, "iterate on it")
        if refusal:
            return refusal
        run_id, index = desk.selected
        instruction = (instruction or "").strip()
        try:
            settings = self.settings_from(form, False)
            edit_seed = ui.parse_number(seed, "the edit's seed", int)
            source = self._selected_image(owner, run_id, index, all_runs)
            if instruction and (why := ui.instruction_problem(settings.image_model)):
                raise AtelierError(why)
            feather = ui.parse_number(feather, "the feather", int)
            painted = self._painted(editor, source)
            edits_with = self.archive.load(run_id).record.image_model  # the model the edit goes to: the run's
            if why := ui.feather_problem(edits_with, feather, painted is not None):  # refused before it is queued
                raise AtelierError(why)
            mask = self._saved_mask(painted, run_id, index) if painted is not None else None
        except (AtelierError, OSError, IndexError, ValueError) as e:
            return self.refuse(desk, ui.scrub(str(e), self.runs_dir))
        prompt = (prompt or "").strip() or source.prompt
        what = f"🖌 Iterate on attempt {index} of run `{run_id}`: {prompt}"
        if instruction:
            what += f"  \ninstruction: _{instruction}_"
        what += ("  \n(painted region" + (f", feather {feather} px)" if feather is not None else ")")) if mask else ""
        desk.chat.append(ui.msg(what, role="user"))
        return self._on_run(desk, ui.Job("edit", prompt, settings, run_id=run_id, index=index,
                                         mask=str(mask) if mask else None, instruction=instruction,
                                         strength=float(strength), seed=edit_seed, feather=feather))

    def take_typeset(self, tab, owner, editor, words, place, font, all_runs, *form) -> Updates:
        """Set the words onto the selected attempt (typeset_text), at a named place or in the box round
        what is painted; the result joins the run as a new attempt, judged by the critic."""
        desk, refusal = self._picked(tab, owner, "set words on it")
        if refusal:
            return refusal
        run_id, index = desk.selected
        try:
            if not (words := (words or "").strip()):
                raise AtelierError("type the words to set first")
            settings = self.settings_from(form, False)
            source = self._selected_image(owner, run_id, index, all_runs)
            where: dict[str, Any] = {"placement": place}
            if place == PAINTED:
                mask = self._painted_mask(editor, source, run_id, index)
                if mask is None:
                    raise AtelierError("paint where the words go first, or pick a place (top, bottom, ...)")
                with Image.open(mask) as m:
                    where = {"box": m.convert("L").getbbox()}
        except (AtelierError, OSError, IndexError, ValueError) as e:
            return self.refuse(desk, ui.scrub(str(e), self.runs_dir))
        at = "in the painted region" if "box" in where else f"at the {place}"
        desk.chat.append(ui.msg(f"🔤 Set the words “{words}” on attempt {index} of run `{run_id}` {at}, in {font}",
                                role="user"))
        return self._on_run(desk, ui.Job("typeset", words, settings, run_id=run_id, index=index,
                                         typeset={**where, "font": font}))

    def _picked(self, tab, owner, then: str) -> tuple[Any, Updates | None]:
        """The tab's desk, and the update that refuses the click when no attempt is picked (else None)."""
        desk = self.desks.get(tab, owner)
        if desk is None:
            return None, {self.page.status: self.status_of(None)}
        if not desk.selected:
            return desk, self.refuse(desk, f"pick an attempt in the gallery first, then {then}")
        return desk, None

    def _on_run(self, desk, job) -> Updates:
        """Queue a job that adds to the run it names (an edit, words set), shown as the tab's current run."""
        with desk.cond:
            desk.current = job.run_id
            if job.run_id not in desk.runs:
                desk.runs.append(job.run_id)
        self.desks.submit(desk, job)
        return {self.page.status: self.status_of(desk), self.page.chat: self.files.chat(desk.chat)}

    def _selected_image(self, owner, run_id: str, index: int, all_runs) -> Any:
        """The selected attempt, when it is this user's and an image; else the reason, raised."""
        if not ui.may_open(self.archive, owner, run_id, all_runs and self.single_user):
            raise AtelierError(f"run {run_id} is not one of yours")
        source = self.archive.load(run_id).record.attempts[index]
        if source.artifact.kind != "image":
            raise AtelierError(f"attempt {index} is a clip: a clip cannot be edited; send a new brief "
                               f"(or re-run) to get another")
        return source

    def _painted_mask(self, editor, source, run_id: str, index: int) -> Path | None:
        painted = self._painted(editor, source)
        return None if painted is None else self._saved_mask(painted, run_id, index)

    @staticmethod
    def _painted(editor, source) -> Image.Image | None:
        """What the editor's strokes cover, as a mask the size of the attempt (None: nothing painted)."""
        if not (editor and editor.get("layers")):
            return None
        from agent.core.artifacts import load_image
        return ui.mask_from_layers(editor["layers"], load_image(source.artifact.path).size)

    def _saved_mask(self, painted: Image.Image, run_id: str, index: int) -> Path:
        mask = self.archive.store.run_dir(run_id) / f"ui-mask-{index}-{secrets.token_hex(3)}.png"
        painted.save(mask)
        return mask

    def check_files(self, value, tab, owner) -> Updates:
        """Attached files are checked as they arrive: a non-image or an oversized image is taken out
        of the box at once, with a line naming the file (never a server path)."""
        files = [f if isinstance(f, str) else f.get("path") for f in (value or {}).get("files") or []]
        bad = [(f, why) for f in files if (why := ui.check_upload(f))]
        if not bad:
            return gr.skip()  # nothing changes (an empty dict would read as a value)
        keep = [f for f in files if f not in {b for b, _ in bad}]
        text = "; ".join(why for _, why in bad) + " — attach a PNG, JPEG or WebP picture"
        return {**self.refuse(self.desks.get(tab, owner), text),
                self.page.brief: gr.MultimodalTextbox(value={"text": (value or {}).get("text") or "", "files": keep})}

    # ---- quick handlers ---------------------------------------------------------------------------
    def stop(self, tab, owner) -> Updates:
        """Stop the run in flight and cancel every brief queued behind it."""
        desk = self.desks.get(tab, owner)
        if desk is None:
            return {self.page.status: self.status_of(None)}
        if not desk.busy:
            return {self.page.status: ui.status_html("nothing is running", "info")}
        said = self.desks.stop(desk)
        return {self.page.status: ui.status_html(said, "stopped"), self.page.chat: self.files.chat(desk.chat),
                **self.queue_view(desk)}

    def cancel_queued(self, job_id, tab, owner, *, to_front: bool = False) -> Updates:
        """Cancel the picked queued brief, or (`to_front`) make it the next to run."""
        desk = self.desks.get(tab, owner)
        if desk is None:
            return {self.page.status: self.status_of(None)}
        job = self.desks.take(desk, job_id, to_front=to_front)
        if job is None:
            return {**self.refuse(desk, "that brief is no longer queued"), **self.queue_view(desk)}
        said = "Runs next" if to_front else "Cancelled the queued brief"
        return {self.page.status: ui.status_html(f"{said}: {ui.short(job.text, 80)}", "info"),
                self.page.chat: self.files.chat(desk.chat), **self.queue_view(desk)}

    def answer(self, kind: str, text, tab, owner) -> Updates:
        desk = self.desks.get(tab, owner)
        ok = bool(desk) and self.desks.answer(desk, kind, text)
        return {self.page.status: ui.status_html("thanks — carrying on" if ok else "nothing is waiting for a review",
                                                 "busy" if ok else "info"),
                self.page.review_box: gr.Column(visible=False)}

    def new_chat(self, tab, owner) -> Updates:
        p, desk = self.page, self.desks.get(tab, owner)
        if desk is None or desk.busy:
            return {p.status: ui.status_html("a run is in progress: stop it first", "warn") if desk else
                    self.status_of(None)}
        with desk.cond:
            desk.chat, desk.runs, desk.current, desk.selected, desk.refs, desk.last = [], [], None, None, [], None
        desk.tell("Ready", "idle")
        self.desks.save(desk)
        return {p.chat: [], p.status: self.status_of(desk), p.editor: None, p.edit_prompt: "",
                p.selected_md: "Pick an attempt in the gallery.", **self.attempts_view(desk)}

    def remember(self, tab, owner, *values) -> None:
        desk = self.desks.get(tab, owner)
        if desk is not None:
            desk.form = list(values)

    def init(self, token, all_runs, tab, request: gr.Request | None = None) -> Updates:
        """A page (re)loads: find the tab's desk (its chat, runs and settings) or start one."""
        p = self.page
        token = token or ui.new_token()
        username = getattr(request, "username", None)
        owner = ui.owner_id(username, token, getattr(request, "session_hash", None))
        desk = self.desks.attach(tab, owner)
        if not desk.chat and not desk.busy:
            desk.tell(f"Ready · {f'signed in as {username}' if username else 'runs are kept for this browser'}", "idle")
        out: Updates = {p.token: token, p.owner: owner, p.tab: desk.key, p.tab_key: desk.key,
                        p.chat: self.files.chat(desk.chat), p.status: self.status_of(desk),
                        **self.attempts_view(desk), **self.history_view(owner, all_runs)}
        if desk.form is not None:
            out.update(zip(p.form, desk.form))
        return out

    def model_choices(self) -> Updates:
        p, d = self.page, self.defaults
        self.checked.wait(timeout=60)
        out: Updates = {}
        for widget, kind, specs, current in ((p.llm, "llm", ui.LLM_CHOICES, d.llm),
                                             (p.image_model, "image", ui.IMAGE_CHOICES, d.image_model),
                                             (p.video_model, "video", ui.VIDEO_CHOICES[1:], d.video_model),
                                             (p.critic, "critic", ui.CRITIC_CHOICES, d.critic)):
            choices = ui.choice_labels(kind, _with(current, specs) if current else specs,
                                       dict(self.ready.get(kind, {})))
            out[widget] = gr.Dropdown(choices=[("(none)", "(none)")] + choices if kind == "video" else choices)
        absent = [f"`{s}` ({why})" for k in self.ready.values() for s, why in k.items() if why]
        out[p.models_note] = ("**Not available here:** " + ", ".join(absent)) if absent else \
            "All listed models are available."
        return out


def policy_for(defaults: ui.Settings):
    """What UI users may choose (agent/core/trust.py): the operator's defaults always; a server URL
    only when the operator configured it."""
    from agent.core.trust import TrustPolicy
    return TrustPolicy.from_env(operator_specs=[defaults.llm, defaults.image_model, defaults.video_model,
                                                defaults.critic])


def check_trust(settings: ui.Settings, policy) -> None:
    if policy is None:
        return
    from agent.core.trust import check_untrusted_spec
    for kind, spec in (("llm", settings.llm), ("image", settings.image_model), ("video", settings.video_model),
                       ("critic", settings.critic)):
        check_untrusted_spec(kind, spec, policy)
