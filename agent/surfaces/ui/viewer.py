"""The viewer's, History's and PNG info's handlers (a mixin of `ChatUI`, whose state they use):
an attempt shown large with its seed, prompt, verdict and layout, stepped through with ←/→,
its seed reused, sent to the editor, downloaded (as it is, or ×4 with its settings kept); past
runs listed and reopened; a dropped PNG's settings read back."""
from __future__ import annotations

from typing import Any

import gradio as gr

from agent.core.errors import AtelierError
from agent.surfaces import ui_support as ui

Updates = dict[Any, Any]


class ViewerHandlers:
    # ---- the viewer ----------------------------------------------------------------------------
    def attempt_at(self, desk, i):
        """(run_id, attempt) of gallery item `i`, or None."""
        refs = desk.refs or []
        if not isinstance(i, int) or not 0 <= i < len(refs):
            return None
        run_id, index = refs[i]
        try:
            return run_id, self.archive.load(run_id).record.attempts[index]
        except (AtelierError, IndexError):
            return None

    def show_attempt(self, desk, i: int, boxes: bool = True) -> Updates:
        """The viewer open on gallery item `i`, and the "Selected" line under the gallery."""
        p = self.page
        found = self.attempt_at(desk, i) if desk else None
        if found is None:
            return {p.selected_md: "Pick an attempt."}
        run_id, attempt = found
        desk.selected, desk.viewing = [run_id, attempt.index], i
        label = (f"**Selected:** attempt {attempt.index} of run `{run_id}` (seed {attempt.seed}) — "
                 f"{ui.verdict_text(attempt.verdict).splitlines()[0]}")
        original = attempt.artifact.path
        if not self.files.in_runs(original):  # a record naming a file elsewhere
            return {p.selected_md: label + "  \n_Its file is not in the runs folder: it cannot be shown._"}
        nav = {p.prev_btn: gr.Button(interactive=i > 0), p.next_btn: gr.Button(interactive=i + 1 < len(desk.refs))}
        common = {p.viewer: gr.Column(visible=True), p.viewer_info: ui.viewer_text(run_id, attempt),
                  p.dl_orig: gr.DownloadButton(value=self.files.served(original)), **nav}
        if attempt.artifact.kind == "video":  # a clip plays: an MP4 in the player, a GIF as an image
            video = ui.plays_as_video(original)
            return {**common, p.viewer_img: gr.Image(None if video else self.files.served(original), visible=not video),
                    p.viewer_video: gr.Video(self.files.served(original) if video else None, visible=video),
                    p.viewer_compare: gr.ImageSlider(None, visible=False),
                    p.dl_big: gr.DownloadButton(visible=False), p.boxes_on: gr.Checkbox(visible=False),
                    p.edit_btn: gr.Button(visible=False),
                    p.selected_md: label + "  \n_This is a clip: it plays in the viewer; it cannot be edited._"}
        return {**common, p.viewer_img: gr.Image(self.files.viewer_picture(attempt, boxes), visible=True),
                p.viewer_video: gr.Video(None, visible=False), p.viewer_compare: self.before_after(run_id, attempt),
                p.dl_big: gr.DownloadButton(value=self.files.upscaled(original), visible=True),
                p.boxes_on: gr.Checkbox(visible=True), p.edit_btn: gr.Button(visible=True), p.selected_md: label}

    def before_after(self, run_id: str, attempt) -> Any:
        """For an edit (or words set) on an image: the attempt it changed beside it, as a slider; else hidden."""
        if attempt.source is None:
            return gr.ImageSlider(None, visible=False)
        try:
            source = self.archive.load(run_id).record.attempts[attempt.source]
        except (AtelierError, IndexError):
            return gr.ImageSlider(None, visible=False)
        pair = (self.files.served(source.artifact.path), self.files.served(attempt.artifact.path))
        if source.artifact.kind != "image" or None in pair:
            return gr.ImageSlider(None, visible=False)
        return gr.ImageSlider(pair, visible=True, label=f"Before (attempt {source.index}) / after (attempt "
                                                        f"{attempt.index}): drag the line")

    def select_attempt(self, tab, owner, boxes=True, evt: gr.SelectData = None) -> Updates:
        desk = self.desks.get(tab, owner)
        return self.show_attempt(desk, evt.index if evt is not None else None, bool(boxes))

    def step_viewer(self, delta: int, tab, owner, boxes=True) -> Updates:
        """← / →: the previous or next attempt in the gallery's order (the viewer stays on the last one)."""
        desk = self.desks.get(tab, owner)
        if desk is None or desk.viewing is None:
            return gr.skip()  # nothing changes (an empty dict would read as a value)
        i = min(max(desk.viewing + delta, 0), len(desk.refs) - 1)
        return self.show_attempt(desk, i, bool(boxes)) if i != desk.viewing else gr.skip()

    def close_viewer(self) -> Updates:
        return {self.page.viewer: gr.Column(visible=False)}

    def selected_attempt(self, desk):
        if not desk or not desk.selected:
            return None
        try:
            return desk.selected[0], self.archive.load(desk.selected[0]).record.attempts[desk.selected[1]]
        except (AtelierError, IndexError):
            return None

    def redraw(self, boxes, tab, owner) -> Updates:
        found = self.selected_attempt(self.desks.get(tab, owner))
        if found is None or found[1].artifact.kind != "image" or not self.files.in_runs(found[1].artifact.path):
            return gr.skip()  # nothing changes (an empty dict would read as a value)
        return {self.page.viewer_img: self.files.viewer_picture(found[1], bool(boxes))}

    def use_seed(self, tab, owner) -> Updates:
        desk = self.desks.get(tab, owner)
        found = self.selected_attempt(desk)
        if found is None:
            return gr.skip()  # nothing changes (an empty dict would read as a value)
        seed = str(found[1].seed)
        desk.tell(f"Seed {seed} set in Settings: the next brief or re-run uses it", "info")
        return {self.page.seed: seed, self.page.status: self.status_of(desk)}

    def send_to_edit(self, tab, owner) -> Updates:
        p = self.page
        found = self.selected_attempt(self.desks.get(tab, owner))
        if found is None or found[1].artifact.kind != "image":  # a clip cannot be edited
            return {p.viewer: gr.Column(visible=False)}
        path = self.files.served(found[1].artifact.path)
        return {p.editor: {"background": path, "layers": [], "composite": path}, p.edit_prompt: found[1].prompt,
                p.viewer: gr.Column(visible=False), p.edit_box: gr.Accordion(open=True)}

    # ---- several attempts as a zip -------------------------------------------------------------
    def tick(self, ticked, tab, owner) -> Updates:
        """The attempts ticked under the gallery: the download button gets their files as one zip."""
        desk = self.desks.get(tab, owner)
        if desk is None:
            return gr.skip()  # nothing changes (an empty dict would read as a value)
        shown = {f"{run_id}:{index}" for run_id, index in desk.refs}
        desk.ticked = [t for t in ticked or [] if t in shown]
        return {self.page.zip_btn: self.zip_of(desk)}

    def zip_of(self, desk) -> Any:
        """The download button for the desk's ticked attempts (their files, this user's only)."""
        paths, runs = [], []
        for ticked in desk.ticked:
            run_id, _, index = ticked.rpartition(":")
            try:
                paths.append(self.archive.load(run_id).record.attempts[int(index)].artifact.path)
            except (AtelierError, IndexError, ValueError):
                continue
            runs += [run_id] if run_id not in runs else []
        name = f"atelier-{runs[0] if len(runs) == 1 else 'attempts'}-{len(paths)}.zip"
        served = self.files.zipped(paths, name) if paths else None
        return gr.DownloadButton(value=served, interactive=served is not None,
                                 label=f"⬇ {len(paths)} attempt{'s' if len(paths) != 1 else ''} (.zip)"
                                 if served else "⬇ Ticked attempts (.zip)")

    def set_compare(self, on, tab, owner) -> Updates:
        desk = self.desks.get(tab, owner)
        if desk is None:
            return gr.skip()  # nothing changes (an empty dict would read as a value)
        desk.compare = bool(on)
        return self.attempts_view(desk)

    # ---- History -------------------------------------------------------------------------------
    def refresh_history(self, owner, all_runs, request: gr.Request | None = None) -> Updates:
        if not owner:
            owner = ui.owner_id(getattr(request, "username", None), None, getattr(request, "session_hash", None))
        return self.history_view(owner, all_runs)

    def pick_from_table(self, evt: gr.SelectData) -> Updates:
        row = evt.row_value or []
        return {self.page.run_pick: gr.Dropdown(value=row[-1])} if row else gr.skip()

    def open_run(self, run_id, tab, owner, all_runs) -> Updates:
        desk = self.desks.get(tab, owner)
        if desk is None:
            return {self.page.status: self.status_of(None)}
        if not run_id:
            return self.refuse(desk, "pick a run to open")
        if not ui.may_open(self.archive, owner, run_id, all_runs and self.single_user):
            return self.refuse(desk, f"no run {run_id!r} among yours")
        try:
            record = self.archive.load(run_id).record
        except AtelierError as e:
            return self.refuse(desk, ui.scrub(str(e), self.runs_dir))
        with desk.cond:
            desk.chat.extend(ui.record_msgs(record))
            if run_id not in desk.runs:
                desk.runs.append(run_id)
            desk.current, desk.selected = run_id, None
            desk.last = {"text": record.brief.text, "refs": [str(r) for r in record.brief.reference_images],
                         "seed": record.brief.seed}
        if not desk.busy:
            desk.tell(f"Reopened run {run_id}", "info")
        desk.bump()
        self.desks.save(desk)
        return self.render(desk)

    # ---- PNG info ------------------------------------------------------------------------------
    def png_info(self, file) -> Updates:
        path = file if isinstance(file, str) or file is None else getattr(file, "name", None)
        if not path:
            return {self.page.png_info: ""}
        return {self.page.png_info: ui.png_settings_markdown(path)}
