"""Clips over MCP: `atelier mcp` as a subprocess, driven by the SDK's own client over stdio (as in
tests/test_mcp.py). A clip comes back itself, not only as a path: an MP4 as an embedded resource
(video/mp4 blob, the attempt's resource URI), a GIF as image content (image/gif), and the structured
record says where each clip is. On the embedded `local:shapes-video` once its weights exist, and on
a fast fake (`testvid:*`, `critic:frames`: tests/fakes_video.py) always."""
from __future__ import annotations

import base64
import io
from pathlib import Path

import anyio
import pytest

pytest.importorskip("mcp", reason="the mcp SDK is not installed (pip install 'atelier[mcp]')")
av = pytest.importorskip("av", reason="clips need PyAV")

from tests.test_mcp import child_env, record_of, stdio_session  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
VIDEO_WEIGHTS = ROOT / "local_models" / "shapes" / "weights-video" / "model_index.json"
BRIEF = "a red circle moving to the right"


def mp4_frames(content) -> int:
    """The frames of a clip sent as an embedded resource (an MP4 blob), decoded by PyAV."""
    assert content.type == "resource" and content.resource.mime_type == "video/mp4"
    raw = base64.b64decode(content.resource.blob)
    assert raw[4:8] == b"ftyp"
    with av.open(io.BytesIO(raw)) as container:
        assert container.streams.video[0].codec_context.name == "h264"
        return sum(1 for _ in container.decode(video=0))


def gif_frames(content) -> int:
    from PIL import Image
    assert content.type == "image" and content.mime_type == "image/gif"
    with Image.open(io.BytesIO(base64.b64decode(content.data))) as im:
        return im.n_frames


def check_clip_result(r, runs: Path) -> dict:
    """A run_brief or generate_video result with one MP4: text, the clip, the record."""
    assert not r.is_error, r.content[0].text
    assert [c.type for c in r.content] == ["text", "resource", "text"]
    assert mp4_frames(r.content[1]) >= 8
    data = record_of(r)
    clip, = data["clips"]
    assert clip["mime_type"] == "video/mp4" and clip["inline"] and clip["uri"] == str(r.content[1].resource.uri)
    path = Path(clip["path"])
    assert path.parent == (runs / data["run_id"]).resolve() and path.suffix == ".mp4"
    assert base64.b64decode(r.content[1].resource.blob) == path.read_bytes()
    return data


@pytest.mark.slow  # a whole clip run over stdio MCP: about 60 s; CI's optional pass runs it
@pytest.mark.skipif(not VIDEO_WEIGHTS.is_file(), reason="the local:shapes-video weights are not in "
                    "local_models/shapes/weights-video/ yet (the video model is being trained)")
def test_run_brief_returns_a_real_clip(tmp_path):
    """One clip run, then three at once over the same session, on the real local:shapes-video."""
    env = child_env()
    env.pop("ATELIER_PLUGINS")
    runs = tmp_path / "runs"

    async def main():
        async with stdio_session(runs, env) as s:
            r = await s.call_tool("run_brief", {"brief": BRIEF, "seed": 0, "max_iterations": 1,
                                                "video_model": "local:shapes-video"}, read_timeout_seconds=400)
            data = check_clip_result(r, runs)
            assert data["best"]["kind"] == "video" and data["best"]["frames"] >= 8 and len(data["attempts"]) == 1
            assert "(a clip)" in r.content[0].text
            # the same clip, as the run's resource
            blob = (await s.read_resource(data["clips"][0]["uri"])).contents[0]
            assert base64.b64decode(blob.blob) == base64.b64decode(r.content[1].resource.blob)

            # three clients' clip runs in flight at once: each its own run and its own seed's clip
            async def one(brief: str, seed: int):
                r = await s.call_tool("run_brief", {"brief": brief, "seed": seed, "max_iterations": 1,
                                                    "video_model": "local:shapes-video"}, read_timeout_seconds=400)
                results[seed] = check_clip_result(r, runs)

            async with anyio.create_task_group() as tg:
                for brief, seed in briefs:
                    tg.start_soon(one, brief, seed)

    briefs = [(BRIEF, 10), ("a blue square moving up", 11), ("a green triangle moving down", 12)]
    results: dict[int, dict] = {}
    anyio.run(main)
    assert len({d["run_id"] for d in results.values()}) == 3
    for brief, seed in briefs:
        data = results[seed]
        subject = " ".join(brief.split()[1:3])  # "red circle"
        assert subject in data["best"]["prompt"] and data["best"]["seed"] == seed and len(data["attempts"]) == 1


def test_run_brief_and_generate_video_return_clips(tmp_path):
    runs = tmp_path / "runs"
    env = {**child_env(), "ATELIER_PLUGINS": "tests.fakes_video:register", "ATELIER_TEST_APPROVE": "4"}

    async def main():
        async with stdio_session(runs, env) as s:
            schema = {t.name: t for t in (await s.list_tools()).tools}["run_brief"].input_schema
            assert "video_model" in schema["properties"]

            # the whole loop on a clip: seed 3 rejected (frame 5 flagged), seed 4 approved
            r = await s.call_tool("run_brief", {"brief": BRIEF, "seed": 3, "max_iterations": 2,
                                                "video_model": "testvid:clip", "critic": "critic:frames"})
            data = check_clip_result(r, runs)
            assert data["approved"] and data["best"]["seed"] == 4 and data["best"]["fps"] == 8
            assert len(data["best"]["verdict"]["frames"]) == 8
            run_id = data["run_id"]

            # one step: a clip joins the run, judged frame by frame
            r = await s.call_tool("generate_video", {"prompt": BRIEF, "run_id": run_id, "seed": 3, "num_frames": 12,
                                                     "model": "testvid:clip"})
            data = check_clip_result(r, runs)
            assert mp4_frames(r.content[1]) == 12
            attempt, = data["attempts"]
            assert attempt["index"] == 2 and attempt["frames"] == 12
            assert [f["issues"] for f in attempt["verdict"]["frames"]][5] == ["the circle jumps back"]
            assert data["clips"][0]["uri"] == f"atelier://runs/{run_id}/attempts/2.mp4"
            clip = (await s.read_resource(data["clips"][0]["uri"])).contents[0]
            assert clip.mime_type == "video/mp4"

            # a GIF clip comes as an image
            r = await s.call_tool("generate_video", {"prompt": BRIEF, "seed": 4, "model": "testvid:gif"})
            assert not r.is_error, r.content[0].text
            assert [c.type for c in r.content] == ["text", "image", "text"] and gif_frames(r.content[1]) >= 8
            clip, = record_of(r)["clips"]
            assert clip["mime_type"] == "image/gif" and Path(clip["path"]).suffix == ".gif"

            # a client may only name back ends the operator allows; an unknown one is a tool error
            r = await s.call_tool("run_brief", {"brief": BRIEF, "video_model": "nope:x", "max_iterations": 1})
            assert r.is_error and "nope:x" in r.content[0].text

    anyio.run(main)


def test_a_large_clip_is_a_link(tmp_path, monkeypatch, backends):
    """Over MAX_INLINE_BYTES a clip comes as a resource link (its URI, type and size), not inline."""
    pytest.importorskip("mcp.server.mcpserver")
    from agent.core import registry
    from agent.surfaces import mcp_server
    monkeypatch.setattr(mcp_server, "MAX_INLINE_BYTES", 100)
    backends("video", "testvid", "tests.fakes_video:ClipBackend")
    server = mcp_server.build_server(tmp_path / "runs", critic="critic:frames")
    monkeypatch.setitem(__import__("agent.critics", fromlist=["CRITICS"]).CRITICS, "frames",
                        "tests.fakes_video:FrameCritic")

    async def main():
        from mcp import Client
        async with Client(server) as client:
            r = await client.call_tool("generate_video", {"prompt": BRIEF, "seed": 1, "model": "testvid:clip"})
            assert not r.is_error, r.content[0].text
            assert [c.type for c in r.content] == ["text", "resource_link", "text"]
            link = r.content[1]
            assert link.mime_type == "video/mp4" and link.size > 100 and str(link.uri).endswith("/attempts/0.mp4")
            assert record_of(r)["clips"][0]["inline"] is False

    anyio.run(main)
