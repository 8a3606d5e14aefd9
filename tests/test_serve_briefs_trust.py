"""POST /api/briefs and an untrusted caller (issue 28's route, the trust rules): a brief naming server
files is refused before any file is opened, the same answer whatever the path (no oracle of which
files exist); one caller cannot hold every brief slot."""
from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from PIL import Image

pytest.importorskip("fastapi", reason="the server needs the serve extra (pip install 'atelier[serve]')")
pytest.importorskip("mcp", reason="the server needs the mcp SDK (pip install 'atelier[mcp]')")
from fastapi.testclient import TestClient  # noqa: E402


@pytest.fixture
def client(tmp_path):
    from agent.surfaces.server.app import build
    (tmp_path / "runs").mkdir()
    with TestClient(build(tmp_path / "runs", llm="offline", image_model="local:shapes",
                          critic="critic:detector", ui=False)) as c:
        yield c


def test_a_brief_naming_server_files_gets_one_answer_whatever_the_path(client, tmp_path):
    private = tmp_path / "elsewhere" / "private.png"
    private.parent.mkdir()
    Image.new("RGB", (8, 8)).save(private)
    answers = []
    for field, value in (("reference_images", ["/nonexistent/x.png"]), ("reference_images", ["/etc/passwd"]),
                         ("reference_images", [str(private)]), ("mask", str(private))):
        body = {"id": "b1", "out": str(tmp_path), "brief": {"text": "a red circle", field: value}}
        answer = client.post("/api/briefs", json=body)
        answers.append((answer.status_code, answer.json()["error"]["message"]))
    assert len(set(answers)) == 1 and answers[0][0] == 400 and "does not read a caller's files" in answers[0][1]
    assert all("private" not in m and "passwd" not in m for _, m in answers)


def test_a_malformed_brief_job_is_one_line_naming_the_field(client, tmp_path):
    answer = client.post("/api/briefs", json={"out": str(tmp_path), "brief": {"text": "a red circle"}})
    assert answer.status_code == 400 and "id" in answer.json()["error"]["message"]


def test_one_caller_cannot_hold_every_brief_slot(client, tmp_path, monkeypatch):
    from agent.surfaces.server import briefs_api
    release, started = threading.Event(), threading.Semaphore(0)

    def held(job, **kw):
        started.release()
        release.wait(30)
        return {"id": job.id, "status": "approved"}
    monkeypatch.setattr(briefs_api, "run_job", held)
    body = {"out": str(tmp_path), "brief": {"text": "a red circle"}}
    with ThreadPoolExecutor(briefs_api.MAX_BRIEFS_PER_CALLER) as pool:
        first = [pool.submit(client.post, "/api/briefs", json={**body, "id": f"b{i}"})
                 for i in range(briefs_api.MAX_BRIEFS_PER_CALLER)]
        for _ in first:
            assert started.acquire(timeout=30)
        refused = client.post("/api/briefs", json={**body, "id": "one-too-many"})
        release.set()
        assert all(f.result(30).status_code == 200 for f in first)
    assert refused.status_code == 429 and refused.json()["error"]["code"] == "too_many_briefs"
    assert client.post("/api/briefs", json={**body, "id": "after"}).status_code == 200  # the slots come back


def test_the_cli_backs_off_while_the_server_is_at_its_limit(monkeypatch):
    import httpx

    from agent.surfaces.server import client as client_module
    answers = iter([httpx.Response(429, json={"error": {"message": "too many briefs at once"}}),
                    httpx.Response(429, json={"error": {"message": "too many briefs at once"}}),
                    httpx.Response(200, json={"id": "b0", "status": "approved"})])
    slept: list[float] = []
    monkeypatch.setattr(httpx.Client, "post", lambda self, url, json: next(answers))
    monkeypatch.setattr(client_module.time, "sleep", slept.append)
    server = client_module.WarmServer("http://127.0.0.1:9", {}, None)
    assert server.brief({"id": "b0"}) == {"id": "b0", "status": "approved"}
    assert slept == [0.5, 1]
