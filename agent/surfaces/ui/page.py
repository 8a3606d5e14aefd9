"""The page's layout: every component, made inside the app's gr.Blocks and kept on a `Page` so the
handlers can name what they update ({page.status: ..., page.chat: ...}). No behaviour here."""
from __future__ import annotations

import gradio as gr

from agent.core.defaults import EXAMPLE_BRIEFS
from agent.core.options import MAX_CANDIDATES, MAX_ITERATIONS
from agent.core.typeset import FONTS, PLACEMENTS
from agent.surfaces import ui_support as ui

EXAMPLES = EXAMPLE_BRIEFS[:3]  # checked on the embedded default by agent/surfaces/bench_examples.py
PAINTED = "painted region"  # the words go in the box round what is painted on the attempt
PLACES = (*PLACEMENTS, PAINTED)  # typeset_text's named placements, or the painted box


class Page:
    """The components of one app (attributes named as in the layout below)."""

    form_names = ("llm", "image_model", "video_model", "critic", "mode", "max_iterations", "max_seconds",
                  "max_cost", "candidates", "seed", "review_on", "edits", "negative", "steps", "guidance", "size",
                  "sampler")

    @property
    def form(self) -> list:
        """The settings widgets, in `ui_support.Settings.from_form`'s order."""
        return [getattr(self, name) for name in self.form_names]

    @property
    def run_outputs(self) -> list:
        """What a run in flight updates (the watch stream's outputs)."""
        return [self.chat, self.gallery, self.table, self.status, self.review_box, self.review_text,
                self.review_info, self.hist_table, self.run_pick, self.queue_box, self.queue_pick,
                *self.attempt_picks]

    @property
    def attempt_picks(self) -> list:
        """What changes with the gallery besides it and the table: the attempts to tick for a zip."""
        return [self.zip_pick, self.zip_btn]


def _blank(x) -> str:
    return "" if x is None else str(x)


def _with(value: str, choices: list[str]) -> list[str]:
    return choices if value in choices else [value, *choices]


def lay_out(defaults: ui.Settings, single_user: bool) -> Page:
    """Make the components (call inside `with gr.Blocks()`)."""
    p = Page()
    p.token = gr.BrowserState(None, storage_key="atelier-owner", secret="atelier-ui-owner-token")
    p.owner, p.tab, p.started = gr.State(""), gr.State(""), gr.State(False)
    p.tab_key = gr.Textbox("", visible=False, elem_id="tab-key")
    gr.Markdown("## 🎨 Atelier\nDescribe a picture. Atelier rewrites your brief into a prompt, generates, "
                "has every attempt judged by a critic, and keeps going until one is approved "
                f"or the budget is spent. Now using **{defaults.llm}** → **{defaults.image_model}**"
                + (f" (clips: **{defaults.video_model}**, for a brief that asks for motion)"
                   if defaults.video_model else "") + ", "
                f"judged by **{defaults.critic}** (change it under Settings).")
    with gr.Row(equal_height=False):
        with gr.Column(scale=3, min_width=340):
            _chat_column(p, defaults)
        with gr.Column(scale=2, min_width=340):
            with gr.Tabs():
                with gr.Tab("Attempts", id="attempts-tab"):
                    _attempts_tab(p)
                with gr.Tab("History", id="history-tab"):
                    _history_tab(p, single_user)
                with gr.Tab("Settings", id="settings-tab"):
                    _settings_tab(p, defaults)
                with gr.Tab("PNG info", id="png-info-tab"):
                    p.png_drop = gr.File(label="Drop a PNG made by Atelier (or A1111) to read its settings",
                                         file_types=[".png"], elem_id="png-drop")
                    p.png_info = gr.Markdown(elem_id="png-info")
    _viewer(p)
    return p


def _chat_column(p: Page, defaults: ui.Settings) -> None:
    p.status = gr.HTML(ui.status_html("Loading…"), elem_id="status")
    p.chat = gr.Chatbot(elem_id="chat", height=620, show_label=False, layout="bubble",
                        placeholder="**Send a brief** — e.g. _two red circles left of a blue square_.  \n"
                                    "Attach a reference image with 📎 if you have one.",
                        feedback_options=None, buttons=["copy"])
    with gr.Column(visible=False, elem_id="review-box") as p.review_box:
        p.review_info = gr.Markdown()
        p.review_text = gr.Textbox(label="Prompt to use (edit it if you like)", lines=2, elem_id="review-text")
        with gr.Row():
            p.accept_btn = gr.Button("✔ Use this prompt", variant="primary", elem_id="review-accept")
            p.refuse_btn = gr.Button("✖ Refuse — use my brief as written", elem_id="review-refuse")
    with gr.Row(visible=False, elem_id="queue-box", equal_height=True) as p.queue_box:
        p.queue_pick = gr.Dropdown(label="Queued briefs (they start in this order)", choices=[],
                                   elem_id="queue-pick", scale=4)
        p.first_btn = gr.Button("⬆ Run it next", elem_id="queue-first", scale=1, min_width=110)
        p.cancel_btn = gr.Button("✖ Cancel this brief", elem_id="queue-cancel", scale=1, min_width=120)
    p.brief = gr.MultimodalTextbox(placeholder="What should Atelier make?", file_types=["image"],
                                   file_count="single", show_label=False, elem_id="brief", submit_btn="Run",
                                   autofocus=True)
    gr.HTML("", elem_id="brief-count")
    with gr.Row():
        p.review_on = gr.Checkbox(defaults.review, label="Let me review the rewritten prompt",
                                  elem_id="review-on", scale=2, min_width=160)
        p.stop_btn = gr.Button("⏹ Stop", variant="stop", elem_id="stop", scale=1, min_width=80)
        p.rerun_btn = gr.Button("↻ Re-run (new seed)", elem_id="rerun", scale=2, min_width=120)
        p.clear_btn = gr.Button("New chat", elem_id="new-chat", scale=1, min_width=80)
    gr.Examples(EXAMPLES, inputs=p.brief, label="Try")


def _attempts_tab(p: Page) -> None:
    # the label as a line of its own: Gradio's floating label would cover the first thumbnail's top
    gr.Markdown("**Attempts** — click one to view it (←/→ step through them, Esc closes)", elem_id="gallery-label")
    p.gallery = gr.Gallery(show_label=False, columns=4, height="auto", elem_id="gallery",
                           allow_preview=False, object_fit="contain", interactive=False, fit_columns=False)
    p.compare = gr.Checkbox(True, label="Compare with my other runs of the same brief (seeds side by side)")
    p.table = gr.Dataframe(headers=ui.TABLE_HEADERS, interactive=False, wrap=True, elem_id="verdicts",
                           max_height=300, column_widths=["7%", "13%", "16%", "18%", "31%", "15%"])
    with gr.Row(equal_height=True):
        p.zip_pick = gr.CheckboxGroup([], label="Download several: tick the attempts", elem_id="zip-pick", scale=3)
        p.zip_btn = gr.DownloadButton("⬇ Ticked attempts (.zip)", elem_id="zip-download", interactive=False,
                                      scale=1, min_width=120)
    with gr.Accordion("Iterate on the selected attempt", open=True) as p.edit_box:
        p.selected_md = gr.Markdown("Pick an attempt in the gallery.", elem_id="selected")
        p.editor = gr.ImageEditor(type="pil", label="Paint where the change goes (optional)", sources=(),
                                  transforms=(), layers=False, height=300,
                                  brush=gr.Brush(colors=["#ff00ff"], color_mode="fixed"), elem_id="editor")
        p.edit_prompt = gr.Textbox(label="What the result (or the painted region) should show", elem_id="edit-prompt")
        p.instruction = gr.Textbox(label="Instruction (for models that edit by instruction)",
                                   placeholder="e.g. make the background white", elem_id="edit-instruction")
        with gr.Row():
            p.strength = gr.Slider(0.05, 1.0, 0.75, step=0.05, label="Strength")
            p.edit_seed = gr.Textbox("", label="Seed (blank: next)", elem_id="edit-seed")
            # the painted region's edge softened (inpainting's mask blur); the brush's size is the editor's own
            p.feather = gr.Textbox("", label="Feather, px (blank: the model's own; 0: a hard edge)",
                                   elem_id="edit-feather")
        p.iterate_btn = gr.Button("🖌 Iterate on this", variant="primary", elem_id="iterate")
        # exact words set with a real font (typeset_text): what image models misspell, the shapes model cannot write
        p.words = gr.Textbox(label="Words to set on it (exactly as they must read)", elem_id="typeset-words")
        with gr.Row():
            p.words_place = gr.Dropdown(list(PLACES), value="bottom", label="Where", elem_id="typeset-place")
            p.words_font = gr.Dropdown(list(FONTS), value="DejaVu Sans", label="Font", elem_id="typeset-font")
        p.typeset_btn = gr.Button("🔤 Set the words", elem_id="typeset")


def _history_tab(p: Page, single_user: bool) -> None:
    p.all_runs = gr.Checkbox(False, label="All runs in this folder (single-user mode)", visible=single_user)
    p.hist_table = gr.Dataframe(headers=ui.HISTORY_HEADERS, interactive=False, wrap=True, elem_id="history-table",
                                max_height=360, column_widths=["34%", "14%", "10%", "9%", "13%", "10%", "10%"])
    p.run_pick = gr.Dropdown(label="Run", choices=[], elem_id="run-pick")
    with gr.Row():
        p.open_btn = gr.Button("📂 Open this run", variant="primary", elem_id="open-run")
        p.refresh_btn = gr.Button("Refresh", elem_id="refresh-history")


def _settings_tab(p: Page, d: ui.Settings) -> None:
    p.models_note = gr.Markdown("_Checking which models are available here…_", elem_id="models-note")
    p.llm = gr.Dropdown(_with(d.llm, ui.LLM_CHOICES), value=d.llm, allow_custom_value=True,
                        label="Director (LLM)", elem_id="set-llm",
                        info="offline needs no key; others read ANTHROPIC_API_KEY / OPENAI_API_KEY")
    p.image_model = gr.Dropdown(_with(d.image_model, ui.IMAGE_CHOICES), value=d.image_model,
                                allow_custom_value=True, label="Image model", elem_id="set-image")
    p.video_model = gr.Dropdown(_with(d.video_model or "(none)", ui.VIDEO_CHOICES), value=d.video_model or "(none)",
                                allow_custom_value=True, label="Video model", elem_id="set-video")
    p.critic = gr.Dropdown(_with(d.critic, ui.CRITIC_CHOICES), value=d.critic, allow_custom_value=True,
                           label="Critic", elem_id="set-critic")
    p.mode = gr.Radio(["agent", "loop"], value=d.mode, label="Mode",
                      info="agent: the director picks each tool; loop: a fixed cycle")
    p.max_iterations = gr.Slider(1, MAX_ITERATIONS, d.max_iterations, step=1, label="Max iterations",
                                 elem_id="set-iterations")
    with gr.Row():
        p.max_seconds = gr.Textbox(_blank(d.max_seconds), label="Time budget, s (blank: no limit; more than 0)",
                                   elem_id="set-seconds", min_width=120)
        p.max_cost = gr.Textbox(_blank(d.max_cost_usd), label="Money budget, $ (blank: no limit; 0: spend nothing)",
                                elem_id="set-cost", min_width=120)
    with gr.Row():
        p.candidates = gr.Slider(1, MAX_CANDIDATES, d.candidates, step=1, label="Images per round")
        p.seed = gr.Textbox(_blank(d.seed), label="Seed (blank: random)", elem_id="set-seed", min_width=120)
    p.edits = gr.Checkbox(d.edits, label="Allow region edits (not only new images)")
    with gr.Accordion("Advanced settings", open=False, elem_id="set-advanced"):
        p.negative = gr.Textbox(d.negative_prompt, label="Negative prompt (what the image must not show)",
                                elem_id="set-negative", placeholder="e.g. text, watermark")
        # the run's image settings (agent.core.image_settings); blank: the model's own, checked against what
        # the chosen image model declares it takes when the brief is sent
        with gr.Row():
            p.steps = gr.Textbox(_blank(d.steps), label="Steps (blank: the model's)", elem_id="set-steps",
                                 min_width=100)
            p.guidance = gr.Textbox(_blank(d.guidance), label="Guidance / CFG scale (blank: the model's)",
                                    elem_id="set-guidance", min_width=100)
        with gr.Row():
            p.size = gr.Textbox(_blank(d.size), label="Size WxH (blank: the model's first)", elem_id="set-size",
                                placeholder="e.g. 512x512", min_width=100)
            p.sampler = gr.Textbox(_blank(d.sampler), label="Sampler (blank: the model's)", elem_id="set-sampler",
                                   placeholder="e.g. euler a", min_width=100)


def _viewer(p: Page) -> None:
    with gr.Column(visible=False, elem_id="viewer") as p.viewer:
        with gr.Row(elem_id="viewer-bar", equal_height=True):  # at the top: reachable on a phone too
            p.prev_btn = gr.Button("← Previous", elem_id="viewer-prev", min_width=90, size="sm")
            p.next_btn = gr.Button("Next →", elem_id="viewer-next", min_width=90, size="sm")
            p.close_btn = gr.Button("✕ Close (Esc)", elem_id="viewer-close", min_width=90, size="sm")
        with gr.Row():
            with gr.Column(scale=3, min_width=300):
                p.viewer_img = gr.Image(show_label=False, interactive=False, elem_id="viewer-image", height=560,
                                        buttons=["fullscreen"])
                p.viewer_video = gr.Video(show_label=False, interactive=False, elem_id="viewer-video", height=560,
                                          autoplay=True, loop=True, visible=False)
                # an edit beside what it edited: drag the line to see before and after
                p.viewer_compare = gr.ImageSlider(label="Before (the attempt it edits) / after: drag the line",
                                                  type="filepath", format="png", interactive=False, visible=False,
                                                  elem_id="viewer-compare", height=420)
            with gr.Column(scale=2, min_width=280):
                p.viewer_info = gr.Markdown(elem_id="viewer-info")
                p.boxes_on = gr.Checkbox(True, label="Draw the layout and what the critic saw", elem_id="viewer-boxes")
                with gr.Row():
                    p.use_seed_btn = gr.Button("🎲 Use this seed", elem_id="viewer-seed", min_width=120)
                    p.edit_btn = gr.Button("🖌 Send to edit", elem_id="viewer-edit", min_width=120)
                with gr.Row():
                    p.dl_orig = gr.DownloadButton("⬇ Original", elem_id="viewer-download", min_width=120)
                    p.dl_big = gr.DownloadButton("⬇ Upscaled ×4", elem_id="viewer-download-big", min_width=120)
