"""Issue 27 from the MCP client's side, on the real embedded model (local:shapes): callers over
streamable HTTP are named by their bearer tokens and see only their own runs (never an owner, never
a UI user's run); every file served is resolved and kept in its run folder; a fresh server takes a
burst of calls without an error; an unexpected error reaches the client as one line."""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from contextlib import asynccontextmanager
from pathlib import Path

import anyio
import pytest

pytest.importorskip("mcp", reason="the mcp SDK is not installed (pip install 'atelier[mcp]')")

import httpx  # noqa: E402
from mcp import ClientSession  # noqa: E402
from mcp.client.streamable_http import streamable_http_client  # noqa: E402

from tests.test_mcp import ROOT, SHAPES_WEIGHTS, child_env, free_port, record_of  # noqa: E402

pytestmark = pytest.mark.skipif(not SHAPES_WEIGHTS.exists(), reason="the local:shapes weights are absent")

ALICE, BOB = "a" * 20 + "-alice-token", "b" * 20 + "-bob-token"
UI_SECRET = "browser:" + "5ec2e7" * 6  # a UI browser's identity: never to be shown to anyone
FAST = {"steps": 4}  # the model is real; fewer denoising steps keep the test quick


def start(runs: Path, log: Path, **env) -> tuple[subprocess.Popen, int]:
    port = free_port()
    environ = child_env(**env)
    environ.pop("ATELIER_PLUGINS")  # the real default back ends
    server = subprocess.Popen([sys.executable, "-m", "agent.surfaces.cli", "mcp", "--transport", "streamable-http",
                               "--port", str(port), "--out", str(runs)], cwd=ROOT, env=environ,
                              stdout=log.open("w"), stderr=subprocess.STDOUT)
    return server, port


def wait_listening(server: subprocess.Popen, port: int, log: Path) -> None:
    import socket
    deadline = time.monotonic() + 60
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            assert server.poll() is None, log.read_text()[-3000:]
            assert time.monotonic() < deadline, "the server did not start listening"
            time.sleep(0.05)


def stop(server: subprocess.Popen) -> None:
    server.terminate()
    try:
        server.wait(timeout=10)
    except subprocess.TimeoutExpired:
        server.kill()


@asynccontextmanager
async def session(port: int, token: str | None = None):
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with httpx.AsyncClient(headers=headers, timeout=httpx.Timeout(180)) as http:
        async with streamable_http_client(f"http://127.0.0.1:{port}/mcp", http_client=http) as (read, write):
            async with ClientSession(read, write) as s:
                await s.initialize()
                yield s


async def burst(port: int, tokens: list[str | None], calls: int = 8) -> list:
    """`calls` generate_image calls at once, spread over one session per token."""
    results: list = []

    async def caller(token, seeds):
        async with session(port, token) as s:
            async def one(seed):
                results.append(await s.call_tool("generate_image", {"prompt": "two red circles", "seed": seed, **FAST},
                                                 read_timeout_seconds=180))
            async with anyio.create_task_group() as tg:
                for seed in seeds:
                    tg.start_soon(one, seed)

    async with anyio.create_task_group() as tg:
        for i, token in enumerate(tokens):
            tg.start_soon(caller, token, range(i, calls, len(tokens)))
    return results


async def read(s: ClientSession, uri: str) -> tuple[bool, str]:
    """(found, text or the error's message)."""
    try:
        contents = (await s.read_resource(uri)).contents[0]
        return True, getattr(contents, "text", None) or contents.blob
    except Exception as e:  # the SDK raises MCPError for a resource error
        return False, str(e)


def test_callers_see_only_their_own_runs_and_files_stay_in_their_folders(tmp_path):
    runs, fresh_runs = tmp_path / "runs", tmp_path / "fresh"
    logs = [tmp_path / "tokens.log", tmp_path / "fresh.log"]
    # two fresh servers at once: one with two callers' tokens, one with the default identity
    servers = [start(runs, logs[0], ATELIER_MCP_TOKENS=f"alice:{ALICE},bob:{BOB}"), start(fresh_runs, logs[1])]
    try:
        for (server, port), log in zip(servers, logs):
            wait_listening(server, port, log)
        (_, port), (_, fresh_port) = servers

        async def main():
            # the burst, right after start: every back end loads once, no import race
            bursts = []
            async with anyio.create_task_group() as tg:
                async def run_burst(p, tokens):
                    bursts.append(await burst(p, tokens))
                tg.start_soon(run_burst, port, [ALICE, BOB])
                tg.start_soon(run_burst, fresh_port, [None, None])
            for results in bursts:
                errors = [r.content[0].text for r in results if r.is_error]
                assert len(results) == 8 and not errors, errors
            await check_callers(port, runs, tmp_path)

        anyio.run(main)
    finally:
        for server, _ in servers:
            stop(server)


async def check_callers(port: int, runs: Path, tmp_path: Path) -> None:
    # no token, or a wrong one: refused before any tool runs
    for token in (None, "x" * 30):
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        answer = httpx.post(f"http://127.0.0.1:{port}/mcp", headers=headers, json={"jsonrpc": "2.0", "id": 1,
                            "method": "tools/list"})
        assert answer.status_code == 401
    seen: list[str] = []  # every text either caller got back

    async with session(port, ALICE) as a, session(port, BOB) as b:
        async def listing(s):
            found, text = await read(s, "atelier://runs")
            assert found, text
            seen.append(text)
            return {row["run_id"]: row for row in json.loads(text)}

        mine, theirs = await listing(a), await listing(b)
        assert len(mine) == 4 and len(theirs) == 4 and not set(mine) & set(theirs)
        assert all("owner" not in row for row in [*mine.values(), *theirs.values()])
        alice_run = sorted(mine)[0]
        ui_run = "20990101-000000-c0ffee"
        shutil.copytree(runs / alice_run, runs / ui_run)  # a UI user's run in the same folder
        (runs / ui_run / ".owner").unlink()
        from agent.core.records import RunStore
        store = RunStore(runs)
        store.save(store.load(ui_run), owner=UI_SECRET)

        # B cannot list, read, edit or critique A's run (nor the UI's): the same "no run" as a missing id
        missing = "20990101-000000-000000"
        every = []  # the answers to each (caller, run): all alike
        for run in (alice_run, ui_run, missing):
            for s in (b,) if run == alice_run else (a, b):
                answers = []
                for uri in (f"atelier://runs/{run}", f"atelier://runs/{run}/attempts/0"):
                    found, text = await read(s, uri)
                    assert not found
                    answers.append(text.replace(run, "ID"))
                for tool, args in (("edit_image", {"run_id": run, "attempt": 0, "prompt": "a red circle"}),
                                   ("critique_image", {"run_id": run, "attempt": 0}),
                                   ("generate_image", {"run_id": run, "prompt": "a red circle", **FAST})):
                    r = await s.call_tool(tool, args)
                    assert r.is_error
                    answers.append(r.content[0].text.replace(run, "ID"))
                seen.extend(answers)
                every.append(answers)
        assert all(answers == every[0] for answers in every), every
        assert "no run 'ID'" in every[0][2]
        attempt = next((runs / alice_run).glob("*.png"))
        r = await b.call_tool("critique_image", {"image_path": str(attempt), "brief": "two red circles"})
        assert r.is_error and "image not found" in r.content[0].text
        assert len((await a.read_resource(f"atelier://runs/{alice_run}/attempts/0")).contents) == 1
        assert len(json.loads((await read(a, f"atelier://runs/{alice_run}"))[1])["attempts"]) == 1

        # files that lead out of their run folder are not found, whoever owns the run
        secret = tmp_path / "secret.png"
        shutil.copy(attempt, secret)
        linked, named, moved = sorted(mine)[1:4]
        link = next((runs / linked).glob("*.png"))
        link.unlink()
        link.symlink_to(secret)  # a symlinked attempt
        record = json.loads((runs / named / "run.json").read_text())
        record["attempts"][0]["artifact"]["path"] = str(secret)  # a run.json naming a file elsewhere
        (runs / named / "run.json").write_text(json.dumps(record))
        outside = tmp_path / "elsewhere"
        shutil.move(runs / moved, outside)
        (runs / moved).symlink_to(outside, target_is_directory=True)  # a symlinked run folder
        before = sorted(p.name for p in outside.iterdir())
        for run in (linked, named, moved):
            found, text = await read(a, f"atelier://runs/{run}/attempts/0")
            assert not found and "no attempt '0'" in text and str(tmp_path) not in text
            for tool, args in (("edit_image", {"run_id": run, "attempt": 0, "prompt": "a red circle"}),
                               ("generate_image", {"run_id": run, "prompt": "a red circle", **FAST})):
                r = await a.call_tool(tool, args)
                assert r.is_error and f"no run {run!r}" in r.content[0].text, r.content[0].text
                assert str(tmp_path) not in r.content[0].text
        assert sorted(p.name for p in outside.iterdir()) == before  # nothing written through the link
        seen.append(json.dumps([json.loads((await read(s, "atelier://runs"))[1]) for s in (a, b)]))
        assert ui_run not in seen[-1]

    for text in seen:
        assert UI_SECRET not in text and "mcp:alice" not in text and "mcp:bob" not in text, text[:300]


def test_an_unexpected_error_reaches_the_client_as_one_line(tmp_path, monkeypatch):
    from mcp import Client

    import tools.generate_image
    from agent.surfaces.mcp_server import build_server

    def broken(*args, **kwargs):
        raise RuntimeError(f"cannot open {tmp_path}/deep/inside/weights.bin\nTraceback (most recent call last): ...")

    monkeypatch.setattr(tools.generate_image, "generate_image", broken)
    server = build_server(tmp_path / "runs")

    async def main():
        async with Client(server) as client:
            r = await client.call_tool("generate_image", {"prompt": "a red circle"})
            assert r.is_error
            text = r.content[0].text
            assert "\n" not in text and "RuntimeError: cannot open weights.bin" in text, text
            assert str(tmp_path) not in text and "internal error" in text
            # and the operator in-process sees no run left behind, nor anyone else's
            assert json.loads((await client.read_resource("atelier://runs")).contents[0].text) == []

    anyio.run(main)
    assert not [p for p in (tmp_path / "runs").iterdir() if p.is_dir()]
