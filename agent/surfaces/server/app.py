"""The one ASGI application of `atelier serve`: FastAPI for the OpenAI Images API and the run API, the
MCP server's streamable-HTTP app at /mcp, and the Gradio chat UI mounted at /ui. All of them share
the process's back ends (the registry) and its runs folder."""
from __future__ import annotations

import asyncio
import logging
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import RedirectResponse

from agent.core.trust import TrustPolicy
from agent.surfaces.mcp_callers import DEFAULT
from agent.surfaces.server import briefs_api, errors, images, runs_api
from agent.surfaces.server.callers import Callers
from agent.surfaces.server.hub import RunHub

log = logging.getLogger("atelier")

UI_PATH = "/ui"
MCP_PATH = "/mcp"


class Dispatch:
    """/mcp to the MCP server's app (its own bearer-token check and DNS-rebinding guard), everything
    else to FastAPI; the lifespan goes to FastAPI, which runs the MCP session manager inside its own."""

    def __init__(self, api: FastAPI, mcp_app, hub: RunHub):
        self.api, self.mcp_app, self.hub = api, mcp_app, hub

    async def __call__(self, scope, receive, send):
        path = scope.get("path", "")
        if scope["type"] in ("http", "websocket") and (path == MCP_PATH or path.startswith(MCP_PATH + "/")):
            await self.mcp_app(scope, receive, send)
        else:
            await self.api(scope, receive, send)


def build(runs_dir: str | Path = "runs", *, llm: str, image_model: str, critic: str, video_model: str | None = None,
          policy: TrustPolicy | None = None, files_dir: str | Path | None = None,
          tokens: dict[str, str] | None = None, host: str = "127.0.0.1", grace_s: float = 30.0,
          ui: bool = True, ui_auth: list[tuple[str, str]] | None = None, single_user: bool = False,
          max_runs: int = 4, max_iterations: int = 4) -> Dispatch:
    """The server over `runs_dir` with these back ends as the operator's defaults. `tokens` (token ->
    identity, as `agent.core.trust.caller_tokens` gives): the HTTP callers of the API and MCP; none:
    every HTTP caller is mcp:default. `grace_s`: on shutdown, how long runs in flight may finish
    before they are stopped after their current step (saved either way)."""
    from agent.surfaces.mcp_server import build_server

    tokens = tokens or {}
    runs_dir = Path(runs_dir).expanduser().resolve()
    policy = policy or TrustPolicy.from_env()
    hub = RunHub(runs_dir, llm=llm, image_model=image_model, critic=critic, video_model=video_model,
                 policy=policy, files_dir=files_dir)
    callers = Callers(tokens, DEFAULT)
    mcp = build_server(runs_dir, llm=llm, image_model=image_model, critic=critic, video_model=video_model,
                       policy=policy, files_dir=files_dir, tokens=tokens, http_identity=DEFAULT)
    mcp_app = mcp.streamable_http_app(streamable_http_path=MCP_PATH, host=host)

    @asynccontextmanager
    async def lifespan(_: FastAPI):
        hub.loop = asyncio.get_running_loop()
        async with mcp.session_manager.run():
            try:
                yield
            finally:
                await hub.drain(grace_s)

    api = FastAPI(title="Atelier", version="0.1.0", lifespan=lifespan,
                  description="One warm Atelier: the OpenAI Images API with the critique loop behind it, "
                              "Atelier's run API (events as server-sent events), MCP at /mcp, the chat UI at /ui/.")
    errors.install(api)
    api.include_router(images.router(hub, callers.identify))
    api.include_router(runs_api.router(hub, callers.identify))
    api.include_router(briefs_api.router(hub, callers.identify))

    @api.get("/", include_in_schema=False)
    async def home() -> RedirectResponse:
        return RedirectResponse(UI_PATH + "/" if ui else "/docs")

    @api.api_route("/v1/{rest:path}", methods=["GET", "POST", "PUT", "DELETE", "PATCH"], include_in_schema=False)
    async def unknown_v1(rest: str, request: Request) -> Any:
        raise errors.APIError(404, f"Invalid URL ({request.method} /v1/{rest}): Atelier serves "
                              f"/v1/images/generations and /v1/images/edits", code="unknown_url")

    if ui:
        mount_ui(api, runs_dir, ui_auth=ui_auth, single_user=single_user, max_runs=max_runs,
                 defaults={"llm": llm, "image_model": image_model, "video_model": video_model, "critic": critic,
                           "max_iterations": max_iterations})
    app = Dispatch(api, mcp_app, hub)
    app.hub = hub
    return app


def mount_ui(api: FastAPI, runs_dir: Path, *, ui_auth, single_user: bool, max_runs: int, defaults: dict[str, Any]):
    """The chat UI of `atelier ui`, built by its own public function and mounted, not copied."""
    import gradio as gr

    from agent.surfaces import ui as chat_ui
    from agent.surfaces.ui_support import Settings
    demo = chat_ui.build_app(runs_dir, Settings.parse(defaults), single_user=single_user, max_runs=max_runs)
    gr.mount_gradio_app(api, demo, path=UI_PATH, auth=ui_auth, **chat_ui.launch_kwargs(demo))
