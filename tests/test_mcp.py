"""`atelier mcp`, end to end: the server started as a subprocess, driven by the official SDK's own
client over stdio and over streamable HTTP. Fast fakes (test:flat, critic:seed) reach the child
through ATELIER_PLUGINS; the offline default is used once its weights exist."""
from __future__ import annotations

import base64
import io
import json
import os
import socket
import subprocess
import sys
import time
from contextlib import asynccontextmanager
from pathlib import Path

import anyio
import pytest

pytest.importorskip("mcp", reason="the mcp SDK is not installed (pip install 'atelier[mcp]')")

from mcp import ClientSession, StdioServerParameters  # noqa: E402
from mcp.client.stdio import stdio_client  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
SHAPES_WEIGHTS = ROOT / "local_models" / "shapes" / "weights" / "model_index.json"
FAKE = {"model": "test:flat", "critic": "critic:seed"}
TOOLS = {"run_brief", "generate_image", "edit_image", "typeset_text", "generate_video", "critique_image"}


def child_env(**extra) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ANTHROPIC_", "OPENAI_"))}
    env.update(PYTHONPATH=str(ROOT), ATELIER_PLUGINS="tests.test_batch:register_fakes", HF_HUB_OFFLINE="1",
               ATELIER_TEST_APPROVE="7", **extra)
    return env


@asynccontextmanager
async def stdio_session(runs: Path, env: dict[str, str]):
    params = StdioServerParameters(command=sys.executable, args=["-m", "agent.surfaces.cli", "mcp", "--out", str(runs)],
                                   env=env, cwd=str(ROOT))
    with open(runs.parent / "server.log", "w") as errlog:
        async with stdio_client(params, errlog=errlog) as (read, write):
            async with ClientSession(read, write) as session:
                await session.initialize()
                yield session


def png(content) -> tuple[int, int]:
    from PIL import Image
    assert content.type == "image" and content.mime_type == "image/png"
    with Image.open(io.BytesIO(base64.b64decode(content.data))) as im:
        return im.size


def record_of(result) -> dict:
    """The JSON record: the last text block, and the same as the structured content."""
    data = json.loads(result.content[-1].text)
    assert data == result.structured_content
    return data


def test_stdio_tools_resources_and_bad_arguments(tmp_path):
    runs = tmp_path / "runs"

    async def main():
        async with stdio_session(runs, child_env()) as s:
            listed = {t.name: t for t in (await s.list_tools()).tools}
            assert set(listed) == TOOLS
            schema = listed["generate_image"].input_schema
            assert schema["required"] == ["prompt"] and schema["additionalProperties"] is False
            assert schema["properties"]["n"]["maximum"] == 8

            # generate: images as image content, plus the JSON record
            r = await s.call_tool("generate_image", {"prompt": "two red circles", "seed": 5, "n": 2, **FAKE})
            assert not r.is_error, r.content[0].text
            assert [c.type for c in r.content] == ["text", "image", "image", "text"]
            assert png(r.content[1]) == (32, 32)
            data = record_of(r)
            run_id = data["run_id"]
            assert [a["seed"] for a in data["attempts"]] == [5, 6] and data["attempts"][0]["verdict"]["critic"] == "critic:seed"
            assert Path(data["attempts"][0]["path"]).parent == runs / run_id

            # edit an attempt of that run: the edit joins it; seed 7 is approved by the fake critic
            r = await s.call_tool("edit_image", {"run_id": run_id, "attempt": 1, "prompt": "two red circles",
                                                 "box": [0, 0, 16, 16], "seed": 7})
            assert not r.is_error, r.content[0].text
            data = record_of(r)
            assert data["approved"] and data["attempts"][0]["index"] == 2 and data["best"] == 2
            assert "region [0, 0, 16, 16]" in data["attempts"][0]["note"]

            # critique: an attempt of a run, and an image sent as base64
            r = await s.call_tool("critique_image", {"run_id": run_id, "attempt": 0})
            assert not r.is_error and record_of(r)["attempts"][0]["verdict"]["issues"] == ["seed 5 is not liked"]
            image_b64 = base64.b64encode((runs / run_id / Path(data["attempts"][0]["path"]).name).read_bytes()).decode()
            r = await s.call_tool("critique_image", {"image_base64": image_b64, "brief": "a red circle",
                                                     "critic": "critic:seed"})
            assert not r.is_error, r.content[0].text
            assert record_of(r)["verdict"]["critic"] == "critic:seed"

            # the whole loop
            r = await s.call_tool("run_brief", {"brief": "a calm lake at dawn", "seed": 6, "max_iterations": 3,
                                                "image_model": "test:flat", "critic": "critic:seed"})
            assert not r.is_error, r.content[0].text
            summary = record_of(r)
            assert summary["approved"] and summary["best"]["seed"] == 7 and len(summary["attempts"]) == 2
            assert [c.type for c in r.content] == ["text", "image", "text"]
            assert set(summary) >= {"run_id", "approved", "iterations", "best", "attempts"}

            # runs as resources
            assert "atelier://runs" in [str(x.uri) for x in (await s.list_resources()).resources]
            templates = {t.uri_template for t in (await s.list_resource_templates()).resource_templates}
            assert {"atelier://runs/{run_id}", "atelier://runs/{run_id}/attempts/{index}"} <= templates
            index = json.loads((await s.read_resource("atelier://runs")).contents[0].text)
            assert {row["run_id"] for row in index} >= {run_id, summary["run_id"]}
            assert all("owner" not in row for row in index)  # who owns a run is never shown
            assert (runs / run_id / ".owner").read_text() == "mcp:operator"  # stdio: the operator's runs
            run_json = json.loads((await s.read_resource(f"atelier://runs/{summary['run_id']}")).contents[0].text)
            assert run_json["status"] == "approved" and len(run_json["attempts"]) == 2
            # the options whole, as the record reads them (run.json keeps each fact once: records.said_elsewhere)
            assert {k: run_json["options"][k] for k in ("image_model", "critic", "seed")} == {
                "image_model": "test:flat", "critic": "critic:seed", "seed": 6}
            blob = (await s.read_resource(f"atelier://runs/{run_id}/attempts/2")).contents[0]
            assert base64.b64decode(blob.blob)[:8] == b"\x89PNG\r\n\x1a\n"
            typed = (await s.read_resource(f"atelier://runs/{run_id}/attempts/2.png")).contents[0]
            assert typed.mime_type == "image/png" and typed.blob == blob.blob  # not text/plain
            assert "atelier://runs/{run_id}/attempts/{index}.png" in templates
            with pytest.raises(Exception, match="no MP4 attempt"):
                await s.read_resource(f"atelier://runs/{run_id}/attempts/2.mp4")

            # bad calls: a tool error that names the argument, never a crash of the server
            bad = {
                ("generate_image", json.dumps({"prompt": 3})): "prompt",
                ("generate_image", json.dumps({"n": 2})): "prompt\n  Field required",
                ("generate_image", json.dumps({"prompt": "x", "colour": "red"})): "colour\n  Extra inputs are not permitted",
                ("generate_image", json.dumps({"prompt": "x", "n": "many"})): "n\n  Input should be a valid integer",
                ("generate_image", json.dumps({"prompt": "x", "n": 99})): "n\n  Input should be less than or equal to 8",
                ("generate_image", json.dumps({"prompt": "x", "width": 999, "height": 999, **FAKE})): "999x999",
                ("generate_image", json.dumps({"prompt": "x", "model": "nope:x"})): "unknown image back end 'nope:x'",
                ("edit_image", json.dumps({"attempt": 0, "prompt": "x"})): "run_id\n  Field required",
                ("edit_image", json.dumps({"run_id": "missing", "attempt": 0, "prompt": "x"})): "no run 'missing'",
                ("edit_image", json.dumps({"run_id": run_id, "attempt": 40, "prompt": "x"})): "no attempt 40",
                ("edit_image", json.dumps({"run_id": run_id, "attempt": 0, "prompt": "x", "box": [0, 0, 99, 99]})):
                    "not inside the 32×32 image",
                ("run_brief", json.dumps({"brief": "three circles", "spec": {
                    "include": [{"class": "circle", "count": 3}],
                    "exclude": [{"class": "circle", "count": 2}]}})): "spec contradicts itself",
                ("run_brief", json.dumps({"brief": "   ", **{"image_model": "test:flat"}})): "the brief is empty",
                ("run_brief", json.dumps({"brief": "x", "max_iterations": 0})): "max_iterations",
                ("critique_image", json.dumps({"brief": "x"})): "give exactly one image",
                ("critique_image", json.dumps({"image_path": "/no/such.png", "brief": "x"})): "image not found",
                ("critique_image", json.dumps({"image_base64": "***", "brief": "x"})): "not valid base64",
                ("generate_video", json.dumps({"prompt": "a clip"})): "model=local:shapes-animate, the embedded animator",
            }
            for (tool, args), needle in bad.items():
                r = await s.call_tool(tool, json.loads(args))
                assert r.is_error, (tool, args)
                assert needle in r.content[0].text, (tool, args, r.content[0].text)
            # still serving after all that
            assert not (await s.call_tool("generate_image", {"prompt": "x", "seed": 1, **FAKE})).is_error

    anyio.run(main)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_streamable_http_transport(tmp_path):
    from mcp.client.streamable_http import streamable_http_client
    port = free_port()
    log = open(tmp_path / "server.log", "w")
    server = subprocess.Popen([sys.executable, "-m", "agent.surfaces.cli", "mcp", "--transport", "streamable-http",
                               "--port", str(port), "--out", str(tmp_path / "runs")],
                              cwd=ROOT, env=child_env(), stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 60
        while True:  # wait until it listens
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                break
            except OSError:
                assert server.poll() is None, (tmp_path / "server.log").read_text()
                assert time.monotonic() < deadline, "the server did not start listening"
                time.sleep(0.2)

        async def main():
            async with streamable_http_client(f"http://127.0.0.1:{port}/mcp") as (read, write):
                async with ClientSession(read, write) as s:
                    await s.initialize()
                    assert {t.name for t in (await s.list_tools()).tools} == TOOLS
                    r = await s.call_tool("generate_image", {"prompt": "a blue square", "seed": 7, **FAKE})
                    assert not r.is_error, r.content[0].text
                    assert png(r.content[1]) == (32, 32) and record_of(r)["approved"]
                    assert f"at http://127.0.0.1:{port}/mcp" in (tmp_path / "server.log").read_text()
                    run = json.loads((await s.read_resource(f"atelier://runs/{record_of(r)['run_id']}")).contents[0].text)
                    assert run["attempts"][0]["seed"] == 7
                    r = await s.call_tool("generate_image", {"prompt": ["not", "a", "string"]})
                    assert r.is_error and "prompt" in r.content[0].text

        anyio.run(main)
    finally:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
        log.close()


@pytest.mark.skipif(not SHAPES_WEIGHTS.exists(), reason="the local:shapes weights are not in "
                    "local_models/shapes/weights/ yet (the offline default is being trained)")
def test_stdio_run_brief_on_the_offline_default(tmp_path):
    env = child_env()
    env.pop("ATELIER_PLUGINS")

    async def main():
        async with stdio_session(tmp_path / "runs", env) as s:
            r = await s.call_tool("run_brief", {"brief": "two red circles left of a blue square", "seed": 1,
                                                "max_iterations": 2}, read_timeout_seconds=300)
            assert not r.is_error, r.content[0].text
            summary = record_of(r)
            assert summary["attempts"] and Path(summary["best"]["path"]).is_file()
            assert r.content[1].type == "image"
            r = await s.call_tool("critique_image", {"run_id": summary["run_id"], "attempt": 0})
            assert not r.is_error and record_of(r)["attempts"][0]["verdict"]["critic"] == "critic:detector"
            # a brief the critic cannot check stops after one attempt, and says so
            r = await s.call_tool("run_brief", {"brief": "a cat on a sofa", "seed": 1}, read_timeout_seconds=300)
            summary = record_of(r)
            assert summary["status"] == "unverified" and not summary["approved"] and len(summary["attempts"]) == 1
            assert "not checked: critic:detector could not check exactly 1 cat" in r.content[0].text, r.content[0].text
            assert "cat" in summary["error"]

    anyio.run(main)
