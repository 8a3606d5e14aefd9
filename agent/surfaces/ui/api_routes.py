"""The app's API for gradio_client and other programs (`/run`, `/history`, `/load_run`, `/iterate`):
the caller's own runs only (the logged-in user, else the API session), JSON text in and out."""
from __future__ import annotations

import json

import gradio as gr

from agent.core.errors import AtelierError, StopRun
from agent.core.options import RunOptions
from agent.surfaces import ui_support as ui
from agent.surfaces.ui.handlers import ChatUI, check_trust


def api_owner(request: gr.Request | None) -> str:
    if request is not None and request.username:
        return f"user:{request.username}"
    return f"api:{getattr(request, 'session_hash', None) or 'anonymous'}"


def add_api(ui_state: ChatUI, max_runs: int) -> None:
    """Register the API routes (call inside the app's gr.Blocks)."""
    defaults, runs_dir, archive = ui_state.defaults, ui_state.runs_dir, ui_state.archive

    def api_run(brief: str, seed: int | None = None, max_iterations: int = RunOptions.default("max_iterations"),
                image_model: str = "", llm: str = "", critic: str = "", request: gr.Request = None) -> str:
        """Run a brief to the end; returns the run's summary as JSON text (the CLI's --json object).
        JSON text, not a dict: gradio_client would replace every {"path": ...} with a downloaded file."""
        try:  # the app's settings with the caller's choices, checked as every surface checks them
            settings = ui.Settings.parse({**defaults.as_dict(), "review": False, "seed": None}, seed=seed,
                                         max_iterations=max_iterations, image_model=image_model or None,
                                         llm=llm or None, critic=critic or None)
            check_trust(settings, ui_state.policy)
            result = settings.studio(runs_dir).run(brief, owner=api_owner(request), **settings.brief_fields())
        except AtelierError as e:
            raise gr.Error(ui.scrub(str(e), runs_dir)) from None
        return json.dumps(result.summary())

    def api_history(limit: int = 20, request: gr.Request = None) -> str:
        """This caller's past runs, newest first, as JSON text."""
        return json.dumps(archive.history(int(limit), owner=api_owner(request)))

    def api_load(run_id: str, request: gr.Request = None) -> str:
        """One of this caller's runs with all its attempts (the run record), as JSON text."""
        if not ui.may_open(archive, api_owner(request), run_id):
            raise gr.Error(f"no run {run_id!r} among yours")
        return archive.load(run_id).record.model_dump_json(exclude={"messages"})

    def api_iterate(run_id: str, attempt: int, prompt: str, instruction: str = "", strength: float = 0.75,
                    seed: int | None = None, request: gr.Request = None) -> str:
        """Edit one attempt of one of this caller's runs; returns the run's new summary as JSON text."""
        if not ui.may_open(archive, api_owner(request), run_id):
            raise gr.Error(f"no run {run_id!r} among yours")
        if instruction and (why := ui.instruction_problem(defaults.image_model)):
            raise gr.Error(why)
        try:
            return json.dumps(defaults.studio(runs_dir).iterate(
                run_id, int(attempt), prompt, instruction=instruction, strength=float(strength),
                seed=seed).summary())
        except (AtelierError, StopRun) as e:
            raise gr.Error(ui.scrub(str(e), runs_dir)) from None

    gr.api(api_run, api_name="run", concurrency_limit=max_runs, concurrency_id="runs")
    gr.api(api_history, api_name="history", concurrency_limit=None)
    gr.api(api_load, api_name="load_run", concurrency_limit=None)
    gr.api(api_iterate, api_name="iterate", concurrency_limit=max_runs, concurrency_id="runs")
