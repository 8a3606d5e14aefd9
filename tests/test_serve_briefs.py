"""`atelier brief` on a warm `atelier serve` (real embedded model): the briefs run in the server (its
route counted), the CLI says so and writes the same ledger; a server over another runs folder, a
brief naming files, a server that stops answering: the batch runs here, saying why."""
from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

pytest.importorskip("fastapi", reason="the server needs the serve extra (pip install 'atelier[serve]')")
pytest.importorskip("mcp", reason="the server needs the mcp SDK (pip install 'atelier[mcp]')")

from tests.test_mcp import SHAPES_WEIGHTS  # noqa: E402
from tests.test_serve_cli import TOKEN, cli  # noqa: E402

pytestmark = pytest.mark.skipif(not SHAPES_WEIGHTS.exists(), reason="the local:shapes weights are absent")
BRIEFS = ["a red circle", "a blue square", "two green triangles", "a yellow star"]


def brief_file(folder: Path) -> Path:
    path = folder / "briefs.jsonl"
    path.write_text("".join(json.dumps({"id": f"b{i}", "brief": text, "seed": i, "max_iterations": 1}) + "\n"
                            for i, text in enumerate(BRIEFS)))
    return path


def job(out: Path, **brief) -> dict:
    from agent.core.types import Brief
    from agent.surfaces.batch import BriefJob
    return BriefJob(id="one", out=out, brief=Brief(text="a red circle", **brief),
                    image_model="local:shapes", critic="critic:detector", llm="offline").model_dump(mode="json")


@pytest.mark.slow  # a server on a thread and a CLI process: about 40 s on 2 cores
def test_a_batch_runs_on_the_warm_server_over_its_runs_folder(tmp_path, monkeypatch):
    from agent.surfaces.server import briefs_api
    from agent.surfaces.server.app import build
    from agent.surfaces.server.client import for_batch
    from agent.surfaces.server.serve import Running

    ran: list[str] = []
    real = briefs_api.run_job
    monkeypatch.setattr(briefs_api, "run_job", lambda j, **kw: ran.append(j.id) or real(j, **kw))
    out = (tmp_path / "batch").resolve()
    with Running(build(out / "runs", llm="offline", image_model="local:shapes", critic="critic:detector", ui=False,
                       tokens={TOKEN: "mcp:cli"})) as server:
        done = cli("brief", str(brief_file(tmp_path)), "--out", str(out), "--concurrency", "4", "--json",
                   "--no-credentials", ATELIER_SERVER=server.url, ATELIER_SERVER_TOKEN=TOKEN)
        assert done.returncode == 0, done.stderr[-2000:]
        assert f"using the warm server at {server.url}" in done.stderr
        lines = [json.loads(l) for l in done.stdout.splitlines() if l.startswith("{")]
        assert sorted(l["id"] for l in lines) == ["b0", "b1", "b2", "b3"] and sorted(ran) == ["b0", "b1", "b2", "b3"]
        assert all(l["status"] in ("approved", "budget_spent") and l["best"]["path"].startswith(str(out / "runs"))
                   for l in lines)
        assert len((out / "summary.jsonl").read_text().splitlines()) == 4
        headers = {"Authorization": f"Bearer {TOKEN}"}
        with httpx.Client(base_url=server.url, headers=headers, timeout=60) as http:
            wrong = http.post("/api/briefs", json=job(tmp_path / "elsewhere"))
            assert wrong.status_code == 400 and wrong.json()["error"]["code"] == "wrong_runs_folder"
            (tmp_path / "ref.png").write_bytes(Path(lines[0]["best"]["path"]).read_bytes())
            named = http.post("/api/briefs", json=job(out, reference_images=[str(tmp_path / "ref.png")]))
            assert named.status_code == 400 and "does not read a caller's files" in named.json()["error"]["message"]
        notes: list[str] = []
        monkeypatch.setenv("ATELIER_SERVER", server.url)
        monkeypatch.setenv("ATELIER_SERVER_TOKEN", TOKEN)
        assert for_batch(tmp_path / "other" / "runs", notes.append) is None
        assert "running in-process (atelier serve --out" in notes[-1]
        assert for_batch(out / "runs", notes.append).url == server.url


@pytest.mark.slow  # one brief in this process: about 10 s
def test_a_server_that_stops_answering_leaves_the_batch_to_this_process(tmp_path):
    from agent.surfaces.batch import ServerExecutor, load_briefs, make_job
    from agent.surfaces.server.client import ServerGone

    class Gone:
        url = "http://127.0.0.1:9"

        def brief(self, job):
            raise ServerGone("lost the server at http://127.0.0.1:9 during brief b0 (ConnectError)")

    said: list[str] = []
    executor = ServerExecutor(Gone(), 2, say=said.append)
    defaults = {"image_model": "local:shapes", "llm": "offline", "critic": "critic:detector"}
    entry = load_briefs(brief_file(tmp_path), defaults)[0]
    line = executor.submit(make_job(entry, tmp_path / "out", defaults, None, None)).result(300)
    executor.shutdown()
    assert line["id"] == "b0" and line["status"] in ("approved", "budget_spent")
    assert said and "lost the server" in said[0] and "goes on in this process" in said[0] and executor.gone
