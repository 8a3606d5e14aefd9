"""Every remote back end resolves through the registry, meets its Protocol, and never lets its key out:
not in an exception message, a repr, a log line, an artifact's metadata or the PNG it wrote."""
from __future__ import annotations

import io
import json
import logging
from pathlib import Path

import httpx
import pytest
from PIL import Image

from agent.core.artifacts import read_metadata
from agent.core.protocols import ImageBackend, VideoBackend
from agent.core.registry import resolve
from agent.core.types import GenerationRequest
from agent.backends.remote.openai_images import OpenAIImages
from agent.backends.remote.replay import FakeClock, Replay
from agent.backends.remote.replicate import ReplicateImages
from agent.backends.remote.runway import RunwayVideo
from agent.backends.remote.stability import StabilityImages

FIX = Path(__file__).parent / "fixtures" / "remote"
# Distinctive keys; the OpenAI one ends as the recorded 401 echo does ("...a1b2c3").
KEYS = {"OPENAI_API_KEY": "sk-test-LEAKCHECK-openai-000a1b2c3", "STABILITY_API_KEY": "sk-LEAKCHECK-stability-111",
        "REPLICATE_API_TOKEN": "r8_LEAKCHECK_replicate_222", "RUNWAYML_API_SECRET": "key_LEAKCHECK_runway_333"}


def ok(name: str, status: int = 200, **kw) -> httpx.Response:
    return httpx.Response(status, json=json.loads((FIX / name).read_text()), **kw)


@pytest.fixture
def keys(monkeypatch):
    for var, key in KEYS.items():
        monkeypatch.setenv(var, key)
    import openai._base_client as base

    monkeypatch.setattr(base.time, "sleep", lambda s: None)


def test_registry_resolves_each_prefix_to_a_protocol_backend(keys):
    for spec in ("openai:gpt-image-1", "openai:dall-e-3", "stability:sd3", "stability:core",
                 "replicate:black-forest-labs/flux-schnell"):
        backend = resolve("image", spec)
        assert isinstance(backend, ImageBackend) and backend.info.name == spec and backend.info.sizes
    for spec in ("replicate:minimax/video-01", "runway:gen4_turbo", "runway:veo3.1"):
        assert isinstance(resolve("video", spec), VideoBackend)


def _scenarios(tmp_path: Path):
    """(back end, request, method) for a success and several failures per service."""
    clock = FakeClock()
    src = tmp_path / "src.png"
    Image.new("RGB", (16, 16), "white").save(src)
    png = io.BytesIO()
    Image.new("RGB", (8, 8), "red").save(png, "PNG")
    mp4 = b"\0\0\0\x18ftypmp42" + b"\0" * 64
    r = GenerationRequest(prompt="a red circle", seed=3)
    pid, tid = "gm3qorzdhgbfurvjtvhg6dckhu", "17f20503-6c24-4c16-946b-35dbbce2af2f"
    kw = dict(sleep=clock.sleep, clock=clock.now)
    yield OpenAIImages("dall-e-3", http_client=Replay(("POST", "/images", ok("openai_dalle3_generate.json"))).client()), r
    yield OpenAIImages("dall-e-3", http_client=Replay(("POST", "/images", ok("openai_401.json", 401))).client()), r
    yield OpenAIImages("dall-e-3", max_retries=0, http_client=Replay(
        ("POST", "/images", httpx.ConnectError(f"boom {KEYS['OPENAI_API_KEY']}"))).client()), r
    yield StabilityImages("core", client=Replay(("POST", "/generate", ok("stability_generate.json"))).client(), **kw), r
    yield StabilityImages("core", client=Replay(("POST", "/generate", ok("stability_401.json", 401))).client(), **kw), r
    yield StabilityImages("core", client=Replay(("POST", "/generate", httpx.Response(
        400, json={"name": "bad_request", "errors": [f"bad header {KEYS['STABILITY_API_KEY']}"]}))).client(), **kw), r
    yield ReplicateImages("black-forest-labs/flux-schnell", client=Replay(
        ("POST", "/predictions", ok("replicate_created.json", 201)),
        ("GET", f"/predictions/{pid}", ok("replicate_succeeded.json")),
        ("GET", "replicate.delivery", httpx.Response(200, content=png.getvalue())),
        ("GET", "replicate.delivery", httpx.Response(200, content=png.getvalue()))).client(), **kw), r
    yield ReplicateImages("black-forest-labs/flux-schnell", client=Replay(
        ("POST", "/predictions", ok("replicate_401.json", 401))).client(), **kw), r
    yield RunwayVideo("gen4_turbo", client=Replay(
        ("POST", "/image_to_video", ok("runway_task_created.json")),
        ("GET", f"/tasks/{tid}", ok("runway_task_succeeded.json")),
        ("GET", "cloudfront", httpx.Response(200, content=mp4))).client(), **kw), r.model_copy(update={"source_image": src})
    yield RunwayVideo("gen4_turbo", client=Replay(("POST", "/image_to_video", ok("runway_401.json", 401))).client(),
                      **kw), r.model_copy(update={"source_image": src})


def test_keys_never_leak(keys, tmp_path, caplog):
    caplog.set_level(logging.DEBUG)
    seen: list[str] = []
    for backend, request in _scenarios(tmp_path):
        try:
            for art in backend.generate(request, tmp_path):
                seen += [art.model_dump_json(), repr(art)]
                if art.path.suffix == ".png":
                    seen.append(json.dumps(read_metadata(art.path)))
        except Exception as e:  # noqa: BLE001 - every failure's text is checked below
            seen += [str(e), repr(e), repr(e.__cause__), repr(e.__context__)]
        seen += [repr(backend), repr(getattr(backend, "_api", None))]
    seen += [rec.getMessage() for rec in caplog.records]
    seen += [p.read_bytes().decode("latin-1") for p in tmp_path.iterdir()]
    text = "\n".join(seen)
    assert "a red circle" in text and "LEAKCHECK" not in text
    assert "bad header ***" in text  # an echoed key was redacted, not dropped silently
    assert "authentication failed" in text  # the failures really ran
