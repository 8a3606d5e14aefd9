"""Which click runs which handler: every event of the page, its inputs and outputs. A handler returns
`{component: update}` for some of its outputs; the rest stay as they are."""
from __future__ import annotations

import functools

import gradio as gr

from agent.surfaces.ui.handlers import ChatUI
from agent.surfaces.ui.style import READ_TAB_JS, SAVE_TAB_JS


def wire(ui: ChatUI, demo: gr.Blocks) -> None:
    p = ui.page
    form = p.form
    me = [p.tab, p.owner]
    outs = p.run_outputs
    viewer_outs = [p.viewer, p.viewer_img, p.viewer_video, p.viewer_compare, p.viewer_info, p.dl_orig, p.dl_big,
                   p.boxes_on, p.edit_btn, p.selected_md, p.prev_btn, p.next_btn]
    quick = dict(concurrency_limit=None, api_visibility="private")
    watching = dict(concurrency_limit=None, api_visibility="private", show_progress="hidden")

    def then_watch(event):
        event.then(ui.watch, [p.tab, p.owner, p.all_runs], outs, **watching)

    then_watch(p.brief.submit(ui.take_brief, [p.brief, *me, p.review_on, *form],
                              [p.brief, p.status, p.chat, p.started, p.queue_box, p.queue_pick],
                              trigger_mode="multiple", **quick))
    p.brief.change(ui.check_files, [p.brief, *me], [p.brief, p.status], trigger_mode="always_last",
                   show_progress="hidden", **quick)
    then_watch(p.rerun_btn.click(ui.take_rerun, [*me, p.review_on, *form], [p.status, p.chat], **quick))
    then_watch(p.iterate_btn.click(ui.take_edit, [*me, p.editor, p.edit_prompt, p.instruction, p.strength,
                                                  p.edit_seed, p.feather, p.all_runs, *form], [p.status, p.chat], **quick))
    then_watch(p.typeset_btn.click(ui.take_typeset, [*me, p.editor, p.words, p.words_place, p.words_font,
                                                    p.all_runs, *form], [p.status, p.chat], **quick))
    p.stop_btn.click(ui.stop, me, [p.status, p.chat, p.queue_box, p.queue_pick], **quick)
    queue_outs = [p.status, p.chat, p.queue_box, p.queue_pick]
    p.cancel_btn.click(ui.cancel_queued, [p.queue_pick, *me], queue_outs, **quick)
    p.first_btn.click(functools.partial(ui.cancel_queued, to_front=True), [p.queue_pick, *me], queue_outs, **quick)
    p.accept_btn.click(functools.partial(ui.answer, "accept"), [p.review_text, *me], [p.status, p.review_box], **quick)
    p.refuse_btn.click(functools.partial(ui.answer, "refuse"), [p.review_text, *me], [p.status, p.review_box], **quick)
    p.gallery.select(ui.select_attempt, [*me, p.boxes_on], viewer_outs, **quick)
    p.prev_btn.click(functools.partial(ui.step_viewer, -1), [*me, p.boxes_on], viewer_outs, **quick)
    p.next_btn.click(functools.partial(ui.step_viewer, 1), [*me, p.boxes_on], viewer_outs, **quick)
    p.boxes_on.change(ui.redraw, [p.boxes_on, *me], p.viewer_img, **quick)
    p.use_seed_btn.click(ui.use_seed, me, [p.seed, p.status], **quick)
    p.edit_btn.click(ui.send_to_edit, me, [p.editor, p.edit_prompt, p.viewer, p.edit_box], **quick)
    p.close_btn.click(ui.close_viewer, None, p.viewer, **quick)
    p.compare.change(ui.set_compare, [p.compare, *me], [p.gallery, p.table, *p.attempt_picks], **quick)
    # a tick while the last one is in flight runs after it with the boxes as they are then (the default,
    # 'once', dropped it: two quick ticks zipped one attempt)
    p.zip_pick.input(ui.tick, [p.zip_pick, *me], p.zip_btn, trigger_mode="always_last", **quick)
    p.refresh_btn.click(ui.refresh_history, [p.owner, p.all_runs], [p.hist_table, p.run_pick], **quick)
    p.all_runs.change(ui.refresh_history, [p.owner, p.all_runs], [p.hist_table, p.run_pick], **quick)
    p.hist_table.select(ui.pick_from_table, None, p.run_pick, **quick)
    p.open_btn.click(ui.open_run, [p.run_pick, *me, p.all_runs], outs, **quick)
    p.clear_btn.click(ui.new_chat, me, [p.chat, p.gallery, p.table, p.status, p.editor, p.edit_prompt,
                                        p.selected_md, *p.attempt_picks], **quick)
    p.png_drop.change(ui.png_info, p.png_drop, p.png_info, **quick)
    gr.on([w.change for w in form], ui.remember, [*me, *form], None, show_progress="hidden", **quick)
    demo.load(ui.init, [p.token, p.all_runs, p.tab_key],
              [p.token, p.owner, p.tab, p.tab_key, p.chat, p.gallery, p.table, p.status, p.hist_table,
               p.run_pick, *p.attempt_picks, *form], js=READ_TAB_JS, **quick) \
        .then(None, p.tab_key, None, js=SAVE_TAB_JS) \
        .then(ui.watch, [p.tab, p.owner, p.all_runs], outs, **watching)
    demo.load(ui.model_choices, None, [p.llm, p.image_model, p.video_model, p.critic, p.models_note], **quick)
