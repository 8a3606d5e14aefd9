"""The CLI and a warm `atelier serve` (real embedded model): `atelier run` attaches to the server (and
says so), falls back to running in-process when the server named is not there, `--local` stays
in-process, and the --json line is the same either way; a server stopped with a run in flight
saves it as stopped (never as a success), and the restarted server shows it and can resume it."""
from __future__ import annotations

import json
import signal
import subprocess
import sys
import time

import httpx
import pytest

pytest.importorskip("fastapi", reason="the server needs the serve extra (pip install 'atelier[serve]')")
pytest.importorskip("mcp", reason="the server needs the mcp SDK (pip install 'atelier[mcp]')")

from tests.test_mcp import ROOT, SHAPES_WEIGHTS, child_env, free_port  # noqa: E402
from tests.test_serve import APPROVED_AT_ONCE, sse  # noqa: E402

pytestmark = pytest.mark.skipif(not SHAPES_WEIGHTS.exists(), reason="the local:shapes weights are absent")

TOKEN = "t" * 24
# seed 0: not approved in 4 rounds (three purple rings and four yellow stars, the brief before, is approved
# at once since the inpainting fine-tune)
HARD = "four white triangles and three purple rings"


def cli(*args: str, **env) -> subprocess.CompletedProcess:
    environ = child_env(**env)
    environ.pop("ATELIER_PLUGINS")
    return subprocess.run([sys.executable, "-m", "agent.surfaces.cli", *args], cwd=ROOT, env=environ,
                          capture_output=True, text=True, timeout=600)


@pytest.mark.slow  # a real server process and three CLI runs: about 100 s on 2 cores; CI's optional pass runs it
def test_the_cli_attaches_to_a_warm_server_and_falls_back(tmp_path):
    from agent.surfaces.server.app import build
    from agent.surfaces.server.serve import Running
    runs = (tmp_path / "runs").resolve()
    brief, seed = APPROVED_AT_ONCE
    args = ("run", brief, "--max-iterations", "1", "--seed", str(seed), "--json", "--out", str(runs))
    with Running(build(runs, llm="offline", image_model="local:shapes", critic="critic:detector", ui=False,
                       tokens={TOKEN: "mcp:cli"})) as server:
        attached = cli(*args, ATELIER_SERVER=server.url, ATELIER_SERVER_TOKEN=TOKEN)
        assert attached.returncode == 0, attached.stderr[-2000:]
        assert f"using the warm server at {server.url}" in attached.stderr
        assert "verdict attempt 0: approved" in attached.stderr  # the events shown as they came
        remote = json.loads(attached.stdout.strip().splitlines()[-1])
        with httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=60) as http:
            assert http.get(f"/api/runs/{remote['run_id']}").json()["approved"]  # made by the server, the caller's
        from agent.surfaces.server.client import find
        notes: list[str] = []
        with pytest.MonkeyPatch.context() as env:  # a wrong token: in-process, saying why
            env.setenv("ATELIER_SERVER", server.url)
            env.setenv("ATELIER_SERVER_TOKEN", "w" * 24)
            assert find(runs, notes.append) is None and "not usable (HTTP 401" in notes[0]
        with pytest.MonkeyPatch.context() as env:  # none named: the one on the default port, if it keeps --out
            env.delenv("ATELIER_SERVER")
            env.setenv("ATELIER_SERVER_TOKEN", TOKEN)
            env.setattr("agent.surfaces.server.client.DEFAULT_PORT", int(server.url.rsplit(":", 1)[1]))
            assert find(runs, notes.append).url == server.url
            assert find(tmp_path / "elsewhere", notes.append) is None and "not in" in notes[-1]
    local = cli(*args, "--local", ATELIER_SERVER=server.url)
    gone = cli(*args, ATELIER_SERVER=server.url)  # the server has stopped: in-process, saying so
    assert local.returncode == 0 and "warm server" not in local.stderr
    assert gone.returncode == 0 and "is not usable" in gone.stderr and "running in-process" in gone.stderr
    for other in (json.loads(local.stdout.strip().splitlines()[-1]), json.loads(gone.stdout.strip().splitlines()[-1])):
        assert other.keys() == remote.keys()  # the --json contract is the same object either way
        assert (other["approved"], other["iterations"], other["best"]["seed"], other["best"]["prompt"]) == \
            (remote["approved"], remote["iterations"], remote["best"]["seed"], remote["best"]["prompt"])
        assert other["run_id"] != remote["run_id"] and other["best"]["path"].startswith(str(runs))
    assert remote["best"]["path"].startswith(str(runs))


def start_server(runs, port: int, log) -> subprocess.Popen:
    environ = child_env(ATELIER_MCP_TOKENS=f"ops:{TOKEN}")
    environ.pop("ATELIER_PLUGINS")
    server = subprocess.Popen([sys.executable, "-m", "agent.surfaces.cli", "serve", "--no-ui", "--port", str(port),
                               "--out", str(runs), "--grace", "0"], cwd=ROOT, env=environ,
                              stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 120
    while True:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/api/server", headers=auth(), timeout=1).status_code == 200:
                return server
        except httpx.HTTPError:
            pass
        assert server.poll() is None, "the server exited"
        assert time.monotonic() < deadline, "the server did not start"
        time.sleep(0.2)


def auth() -> dict[str, str]:
    return {"Authorization": f"Bearer {TOKEN}"}


@pytest.mark.slow  # two server processes and a seven-box layout per round: 30 s alone, 100 s in the parallel run
def test_a_run_in_flight_is_saved_when_the_server_stops_and_the_restarted_server_resumes_it(tmp_path):
    runs, port = tmp_path / "runs", free_port()
    url = f"http://127.0.0.1:{port}"
    with open(tmp_path / "server.log", "w") as log:
        server = start_server(runs, port, log)
        try:
            with httpx.Client(base_url=url, headers=auth(), timeout=120) as http:
                run_id = http.post("/api/runs", json={"brief": HARD, "seed": 0, "max_iterations": 20}).json()["run_id"]
                with http.stream("GET", f"/api/runs/{run_id}/events") as events:
                    for line in events.iter_lines():
                        if line == "event: attempt_made":
                            break
            server.send_signal(signal.SIGTERM)
            assert server.wait(timeout=120) in (0, -signal.SIGTERM)  # uvicorn re-raises the signal once it is done
        finally:
            if server.poll() is None:
                server.kill()
        saved = json.loads((runs / run_id / "run.json").read_text())
        assert saved["status"] == "stopped" and saved["attempts"]  # saved, not lost, and not a success
        server = start_server(runs, port, log)
        try:
            with httpx.Client(base_url=url, headers=auth(), timeout=300) as http:
                shown = http.get(f"/api/runs/{run_id}").json()
                assert (shown["status"], shown["live"], shown["approved"]) == ("stopped", False, False)
                assert len(shown["attempts"]) == len(saved["attempts"])
                assert [k for k, _ in sse(http, f"/api/runs/{run_id}/events")] == ["run_finished"]
                assert http.post(f"/api/runs/{run_id}/resume").status_code == 201
                http.post(f"/api/runs/{run_id}/stop")
                resumed = sse(http, f"/api/runs/{run_id}/events")
                assert resumed[-1][0] == "run_finished"
                after = http.get(f"/api/runs/{run_id}").json()
                assert len(after["attempts"]) >= len(saved["attempts"]) and after["live"] is False
        finally:
            server.terminate()
            server.wait(timeout=120)
