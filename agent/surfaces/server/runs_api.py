"""Atelier's own run API: start a run, follow its events, read its record and files, stop or resume it.

Every route is the caller's own: another caller's run is "no run" (404), as a missing one. The
events are `Studio.stream`'s, as server-sent events: `event:` the type (run_started, step_started,
prompt_refined, attempt_made, verdict, tool_error, message, run_finished), `data:` the Event as
JSON, `id:` its number (a client that reconnects with Last-Event-ID gets the rest). A run that ran
before this server started has no events kept: its stream is one run_finished with the record's
summary."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from fastapi import APIRouter, Depends, Header, Request
from fastapi.responses import FileResponse
from pydantic import BaseModel, ConfigDict, Field

from agent.core.errors import InputError
from agent.core.options import RunOptions
from agent.core.types import Event, SceneSpec
from agent.surfaces.server.errors import APIError
from agent.surfaces.server.hub import RunHub


class RunRequest(RunOptions):
    """A brief and how to run it: the run options every surface takes (agent.core.options, the same
    limits), whose back ends default to the server's and must be ones the operator allows."""
    model_config = ConfigDict(extra="forbid")
    brief: str = Field(description="what to make, in words")
    spec: SceneSpec | None = Field(None, description="what the image must contain (GenEval format); "
                                   "omit to derive it from the brief")
    llm: str | None = RunOptions.field("llm", default=None)
    image_model: str | None = RunOptions.field("image_model", default=None)
    critic: str | None = RunOptions.field("critic", default=None)
    rewrite: Literal["auto", "off"] = RunOptions.field("rewrite")  # no one is there to review a rewrite
    reference_images: list[str] = Field(default_factory=list, description="images of your own runs (paths)")


class RunStarted(BaseModel):
    run_id: str
    status: Literal["running"] = "running"
    events: str
    record: str


def router(hub: RunHub, identify) -> APIRouter:
    api = APIRouter(prefix="/api", tags=["Atelier runs"])

    @api.get("/server", summary="What this server is (the CLI checks it before using it)")
    async def server(who: str = Depends(identify)) -> dict[str, Any]:
        from agent.surfaces.server import DEFAULT_PORT
        return {"name": "atelier", "runs_dir": str(hub.store.root), "defaults": hub.defaults,
                "caller": who, "default_port": DEFAULT_PORT, "closing": hub.closing}

    @api.post("/runs", status_code=201, summary="Start a run", response_model=RunStarted)
    async def start(body: RunRequest, who: str = Depends(identify)) -> RunStarted:
        studio = hub.studio(**body.studio_fields())
        references = [hub.own.image(p, who, what="reference image") for p in body.reference_images]
        live = hub.start(who, studio, body.brief, spec=body.spec, reference_images=references, **body.brief_fields())
        return RunStarted(run_id=live.run_id, events=f"/api/runs/{live.run_id}/events",
                          record=f"/api/runs/{live.run_id}")

    @api.get("/runs", summary="Your latest runs, newest first")
    async def listing(limit: int = 50, who: str = Depends(identify)) -> list[dict[str, Any]]:
        return hub.own.listing(who, max(1, min(limit, 500)))

    @api.get("/runs/{run_id}", summary="A run's summary (the CLI's --json object) and its whole record")
    async def record(run_id: str, who: str = Depends(identify)) -> dict[str, Any]:
        live = hub.get(who, run_id)
        record = hub.record(who, run_id)
        running = live is not None and not live.done.is_set()
        return {**record.summary(), "live": running, "record": record.model_dump(mode="json")}

    @api.get("/runs/{run_id}/events", summary="The run's events as server-sent events",
             responses={200: {"content": {"text/event-stream": {}}}})
    async def events(run_id: str, request: Request, who: str = Depends(identify),
                     last_event_id: str | None = Header(None)):
        from sse_starlette import EventSourceResponse, ServerSentEvent
        live = hub.get(who, run_id)
        if live is None:
            record = hub.record(who, run_id)
            finished = Event(type="run_finished", run_id=run_id, message=record.stop_reason or record.status,
                             data={"summary": record.summary()})
            return EventSourceResponse(iter([ServerSentEvent(data=finished.model_dump_json(), event="run_finished",
                                                             id="0")]))
        start = int(last_event_id) + 1 if last_event_id and last_event_id.isdigit() else 0

        async def stream():
            async for number, kind, data in live.follow(start):
                yield ServerSentEvent(data=data, event=kind, id=str(number))

        return EventSourceResponse(stream(), ping=15)

    @api.get("/runs/{run_id}/attempts/{index}", summary="The file an attempt made (PNG, GIF, MP4)",
             response_class=FileResponse)
    async def attempt_file(run_id: str, index: int, who: str = Depends(identify)):
        try:
            path = hub.own.attempt_file(run_id, str(index), who)
        except (InputError, ValueError, IndexError, OSError):
            raise APIError(404, f"no attempt {index} in run {run_id!r}", code="not_found") from None
        return FileResponse(path, filename=Path(path).name)

    @api.post("/runs/{run_id}/stop", summary="Stop a run after its current step (its record is kept)")
    async def stop(run_id: str, who: str = Depends(identify)) -> dict[str, Any]:
        if not hub.stop(who, run_id):
            raise APIError(409, f"run {run_id} is not running on this server", code="run_not_running")
        return {"run_id": run_id, "stopping": True}

    @api.post("/runs/{run_id}/resume", status_code=201, summary="Continue an interrupted run within its budget",
              response_model=RunStarted)
    async def resume(run_id: str, who: str = Depends(identify)) -> RunStarted:
        hub.record(who, run_id)  # 404 first when it is not the caller's
        live = hub.resume(who, run_id)
        return RunStarted(run_id=run_id, events=f"/api/runs/{run_id}/events", record=f"/api/runs/{run_id}")

    return api
