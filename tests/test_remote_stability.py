"""stability:MODEL over httpx with recorded v2beta stable-image answers (Accept: application/json)."""
from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest
from PIL import Image

from agent.core.errors import BudgetSpent, ConfigError, InputError
from agent.backends.remote import prices
from agent.core.types import GenerationRequest
from agent.backends.remote.http import RemoteError
from agent.backends.remote.replay import FakeClock, Replay
from agent.backends.remote.stability import StabilityImages

FIX = Path(__file__).parent / "fixtures" / "remote"
KEY = "sk-stability-test-0123456789abcdef"
GEN = "/v2beta/stable-image/generate/"


def ok(name: str = "stability_generate.json", status: int = 200, **kw) -> httpx.Response:
    return httpx.Response(status, json=json.loads((FIX / name).read_text()), **kw)


def backend(model: str, replay: Replay, clock: FakeClock | None = None) -> StabilityImages:
    clock = clock or FakeClock()
    return StabilityImages(model, api_key=KEY, client=replay.client(), sleep=clock.sleep, clock=clock.now)


def req(**kw) -> GenerationRequest:
    return GenerationRequest(**{"prompt": "a lighthouse at dusk", "model": "stability:core", **kw})


def fields(request: httpx.Request) -> dict[str, str]:
    """The plain (non-file) parts of a multipart body."""
    boundary = request.headers["content-type"].split("boundary=")[1].encode()
    out = {}
    for part in request.content.split(b"--" + boundary):
        head, _, value = part.partition(b"\r\n\r\n")
        if b"filename=" in head or b'name="' not in head:
            continue
        out[head.split(b'name="')[1].split(b'"')[0].decode()] = value.rstrip(b"\r\n").decode()
    return out


def test_core_generate_with_negative_style_aspect_seed(tmp_path):
    replay = Replay(("POST", GEN + "core", ok()))
    art, = backend("core", replay).generate(
        req(negative_prompt="fog", seed=1234567, width=1344, height=768, extra={"style_preset": "cinematic"}), tmp_path)
    sent = replay.requests[0]
    assert sent.headers["accept"] == "application/json" and sent.headers["authorization"] == f"Bearer {KEY}"
    assert sent.headers["content-type"].startswith("multipart/form-data")
    assert fields(sent) == {"output_format": "png", "seed": "1234567", "negative_prompt": "fog",
                            "prompt": "a lighthouse at dusk", "aspect_ratio": "16:9", "style_preset": "cinematic"}
    assert art.meta["seed"] == 1234567 and art.meta["finish_reason"] == "SUCCESS"
    assert art.cost_usd == pytest.approx(0.03) and Image.open(art.path).size == (24, 16)


def test_sd3_sends_model_and_cfg_and_n_calls(tmp_path):
    replay = Replay(("POST", GEN + "sd3", ok()), ("POST", GEN + "sd3", ok()))
    arts = backend("sd3.5-large-turbo", replay).generate(req(n=2, seed=10, guidance=4.0), tmp_path)
    first, second = (fields(r) for r in replay.requests)
    assert first["model"] == "sd3.5-large-turbo" and first["cfg_scale"] == "4.0" and first["aspect_ratio"] == "1:1"
    assert (first["seed"], second["seed"]) == ("10", "11")
    assert len(arts) == 2 and sum(a.cost_usd for a in arts) == pytest.approx(0.08)


def test_ultra_endpoint(tmp_path):
    replay = Replay(("POST", GEN + "ultra", ok()))
    backend("ultra", replay).generate(req(), tmp_path)
    assert "model" not in fields(replay.requests[0])


def test_inpaint_and_search_and_replace(tmp_path):
    src, mask = tmp_path / "src.png", tmp_path / "mask.png"
    Image.new("RGB", (32, 32), "gray").save(src)
    Image.new("L", (32, 32), 255).save(mask)
    replay = Replay(("POST", "/v2beta/stable-image/edit/inpaint", ok("stability_edit.json")),
                    ("POST", "/v2beta/stable-image/edit/search-and-replace", ok("stability_edit.json")))
    b = backend("core", replay)
    art = b.edit(req(source_image=src, mask=mask, instruction="a red door"), tmp_path)[0]
    assert fields(replay.requests[0])["prompt"] == "a red door"
    assert b'name="mask"; filename="mask.png"' in replay.requests[0].content and art.parent
    b.edit(req(source_image=src, prompt="a golden retriever", extra={"search_prompt": "dog"}), tmp_path)
    assert fields(replay.requests[1])["search_prompt"] == "dog"
    assert b'name="mask"' not in replay.requests[1].content
    with pytest.raises(InputError, match="mask"):
        b.edit(req(source_image=src), tmp_path)


def test_401(tmp_path):
    with pytest.raises(RemoteError, match="STABILITY_API_KEY") as e:
        backend("core", Replay(("POST", GEN, ok("stability_401.json", 401)))).generate(req(), tmp_path)
    assert e.value.kind == "auth"


def test_429_with_retry_after_then_success(tmp_path):
    clock = FakeClock()
    replay = Replay(("POST", GEN, ok("stability_429.json", 429, headers={"retry-after": "10"})), ("POST", GEN, ok()))
    assert len(backend("core", replay, clock).generate(req(), tmp_path)) == 1
    assert clock.sleeps == [10.0]


def test_500_then_success(tmp_path):
    replay = Replay(("POST", GEN, ok("stability_500.json", 500)), ("POST", GEN, ok()))
    assert len(backend("core", replay).generate(req(), tmp_path)) == 1


def test_timeout_is_not_resent(tmp_path):
    replay = Replay(("POST", GEN, httpx.ReadTimeout("no answer")))
    with pytest.raises(RemoteError, match="no answer in time") as e:
        backend("core", replay).generate(req(), tmp_path)
    assert e.value.kind == "timeout" and replay.done


def test_malformed_json(tmp_path):
    replay = Replay(("POST", GEN, httpx.Response(200, content=b"<html>502 Bad Gateway</html>")))
    with pytest.raises(RemoteError, match="malformed JSON"):
        backend("core", replay).generate(req(), tmp_path)


def test_content_policy_refusals(tmp_path):
    with pytest.raises(RemoteError, match="content policy") as e:
        backend("core", Replay(("POST", GEN, ok("stability_403_moderation.json", 403)))).generate(req(), tmp_path)
    assert e.value.kind == "content_policy" and not e.value.retryable
    with pytest.raises(RemoteError, match="CONTENT_FILTERED") as e:
        backend("core", Replay(("POST", GEN, ok("stability_filtered.json")))).generate(req(), tmp_path)
    assert e.value.kind == "content_policy"


def test_bad_request_is_not_retried(tmp_path):
    replay = Replay(("POST", GEN, ok("stability_400.json", 400)))
    with pytest.raises(RemoteError, match="aspect_ratio: must be one of") as e:
        backend("core", replay).generate(req(), tmp_path)
    assert e.value.kind == "bad_request" and replay.done


def test_oversized_inline_image(tmp_path, monkeypatch):
    import agent.backends.remote.outputs as outputs

    monkeypatch.setattr(outputs, "MAX_IMAGE_BYTES", 10)
    with pytest.raises(RemoteError, match="over the"):
        backend("core", Replay(("POST", GEN, ok()))).generate(req(), tmp_path)


def test_options_checked_before_any_call(tmp_path):
    b = backend("core", Replay())
    with pytest.raises(InputError, match="1344x768"):
        b.generate(req(width=1000, height=1000), tmp_path)
    with pytest.raises(InputError, match="style_preset"):
        b.generate(req(extra={"style_preset": "vaporwave"}), tmp_path)
    with pytest.raises(InputError, match="aspect_ratio"):
        b.generate(req(extra={"aspect_ratio": "7:3"}), tmp_path)
    with pytest.raises(InputError, match="option"):
        b.generate(req(extra={"steps": 3}), tmp_path)
    with pytest.raises(ConfigError, match="stability:core"):
        StabilityImages("dalle")
    newer = StabilityImages("sd4-large", api_key=KEY, client=Replay().client())  # a newer SD model is sent as named
    assert (newer.endpoint, newer.form_model) == ("sd3", "sd4-large")
    with prices.spending_limit(5.0), pytest.raises(ConfigError, match="no price"):
        newer.generate(req(), tmp_path)  # its price is unknown: refused before paying
