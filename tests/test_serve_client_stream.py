"""The CLI's client of a warm server reads a run's event stream to its end: the server closes it only once the
run's thread has marked the run done, so the record fetched next is settled. Breaking off at `run_finished`
raced that mark, and under load a finished, approved run was reported as lost with the server."""
from __future__ import annotations

import httpx

from agent.core.types import Event
from agent.surfaces.server import client as client_module


def test_a_finished_run_is_read_to_the_streams_end_and_reported_finished(monkeypatch):
    closed = {"stream": False}
    finished = Event(type="run_finished", run_id="r1", message="approved").model_dump_json()

    def events():
        yield f"event: run_finished\nid: 0\ndata: {finished}\n\n".encode()
        yield b": the run's thread marks it done, then the stream ends\n\n"
        closed["stream"] = True

    def handler(request: httpx.Request) -> httpx.Response:
        if request.method == "POST":
            return httpx.Response(201, json={"run_id": "r1"})
        if request.url.path.endswith("/events"):
            return httpx.Response(200, headers={"content-type": "text/event-stream"}, content=events())
        return httpx.Response(200, json={"run_id": "r1", "status": "approved", "approved": True,
                                         "live": not closed["stream"], "record": {}})

    real = httpx.Client
    monkeypatch.setattr(client_module.httpx, "Client",
                        lambda **kw: real(transport=httpx.MockTransport(handler), **kw))
    heard: list[str] = []
    summary = client_module.WarmServer("http://127.0.0.1:9", {}, None).run(
        {"brief": "a red circle"}, lambda e: heard.append(e.type))
    assert heard == ["run_finished"] and closed["stream"]
    assert summary == {"run_id": "r1", "status": "approved", "approved": True}
