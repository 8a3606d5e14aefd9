"""openai:gpt-image-1 / openai:dall-e-3 through the official SDK, its transport replaced by recorded answers."""
from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest
from PIL import Image

from agent.core.errors import BudgetSpent, ConfigError, InputError
from agent.core.types import GenerationRequest
from agent.backends.remote import prices
from agent.backends.remote.http import RemoteError
from agent.backends.remote.openai_images import OpenAIImages
from agent.backends.remote.replay import Replay

FIX = Path(__file__).parent / "fixtures" / "remote"
KEY = "sk-test-openai-0123456789abcdefa1b2c3"


def fixture(name: str) -> dict:
    return json.loads((FIX / name).read_text())


@pytest.fixture
def sleeps(monkeypatch):
    """The SDK sleeps between its own retries; record instead of waiting."""
    import openai._base_client as base

    waits: list[float] = []
    monkeypatch.setattr(base.time, "sleep", waits.append)
    return waits


def backend(model: str, replay: Replay, **kw) -> OpenAIImages:
    return OpenAIImages(model, api_key=KEY, http_client=replay.client(), **kw)


def req(**kw) -> GenerationRequest:
    return GenerationRequest(**{"prompt": "two red circles left of a blue square", "model": "openai:dall-e-3", **kw})


def test_dalle3_generate_keeps_revised_prompt(tmp_path, sleeps):
    replay = Replay(("POST", "/v1/images/generations", httpx.Response(200, json=fixture("openai_dalle3_generate.json"))))
    art, = backend("dall-e-3", replay).generate(req(width=1792, height=1024, extra={"quality": "hd", "style": "natural"}), tmp_path)
    body = json.loads(replay.requests[0].content)
    assert body == {"model": "dall-e-3", "prompt": "two red circles left of a blue square", "n": 1,
                    "size": "1792x1024", "quality": "hd", "style": "natural", "response_format": "b64_json"}
    assert replay.requests[0].headers["authorization"] == f"Bearer {KEY}"
    assert art.meta["revised_prompt"].startswith("A watercolour painting")
    assert art.cost_usd == pytest.approx(0.12) and art.path.suffix == ".png"
    assert Image.open(art.path).size == (16, 16)


def test_gpt_image_generate_n_and_token_cost(tmp_path, sleeps):
    replay = Replay(("POST", "/v1/images/generations", httpx.Response(200, json=fixture("openai_gpt_image_generate.json"))))
    arts = backend("gpt-image-1", replay).generate(
        req(model="openai:gpt-image-1", n=2, width=1024, height=1024, extra={"quality": "low"}), tmp_path)
    body = json.loads(replay.requests[0].content)
    assert body["n"] == 2 and body["quality"] == "low" and "response_format" not in body and "style" not in body
    assert len(arts) == 2 and "revised_prompt" not in arts[0].meta
    assert sum(a.cost_usd for a in arts) == pytest.approx((50 * 5 + 272 * 40) / 1e6)


def test_gpt_image_edit_sends_image_and_alpha_mask(tmp_path, sleeps):
    src, mask = tmp_path / "src.png", tmp_path / "mask.png"
    Image.new("RGB", (64, 64), "white").save(src)
    m = Image.new("L", (64, 64), 0)
    m.paste(255, (0, 0, 32, 64))  # repaint the left half
    m.save(mask)
    replay = Replay(("POST", "/v1/images/edits", httpx.Response(200, json=fixture("openai_gpt_image_edit.json"))))
    art, = backend("gpt-image-1", replay).edit(
        req(model="openai:gpt-image-1", source_image=src, mask=mask, instruction="make the left half yellow"), tmp_path)
    sent = replay.requests[0]
    assert sent.headers["content-type"].startswith("multipart/form-data")
    assert b'name="image"; filename="image.png"' in sent.content and b'name="mask"; filename="mask.png"' in sent.content
    assert b"make the left half yellow" in sent.content and b"gpt-image-1" in sent.content
    assert art.parent is not None and art.cost_usd > 0
    alpha = Image.open(__import__("io").BytesIO(OpenAIImages._mask(src, mask))).getchannel("A")
    assert alpha.getpixel((5, 5)) == 0 and alpha.getpixel((60, 5)) == 255


def test_401_is_not_retried_and_names_the_key(tmp_path, sleeps):
    replay = Replay(("POST", "/images", httpx.Response(401, json=fixture("openai_401.json"))))
    with pytest.raises(RemoteError, match="OPENAI_API_KEY") as e:
        backend("dall-e-3", replay).generate(req(), tmp_path)
    assert e.value.kind == "auth" and not sleeps and "a1b2c3" not in str(e.value)


def test_429_with_retry_after_then_success(tmp_path, sleeps):
    replay = Replay(("POST", "/images", httpx.Response(429, headers={"retry-after": "2"}, json=fixture("openai_429.json"))),
                    ("POST", "/images", httpx.Response(200, json=fixture("openai_dalle3_generate.json"))))
    assert len(backend("dall-e-3", replay).generate(req(), tmp_path)) == 1
    assert sleeps == [2.0]


def test_500_then_success(tmp_path, sleeps):
    replay = Replay(("POST", "/images", httpx.Response(500, json=fixture("openai_500.json"))),
                    ("POST", "/images", httpx.Response(200, json=fixture("openai_dalle3_generate.json"))))
    assert len(backend("dall-e-3", replay).generate(req(), tmp_path)) == 1 and len(sleeps) == 1


def test_timed_out_post_is_not_retried(tmp_path, sleeps):
    """A POST the service may have received can be billed even without an answer: the SDK's own
    retries (which re-sent it up to 4 times) are off, and a timeout is not re-sent."""
    replay = Replay(*[("POST", "/images", httpx.ReadTimeout("no answer"))] * 2)
    b = backend("dall-e-3", replay, max_retries=3)
    with pytest.raises(RemoteError, match="no answer within.*not retried") as e:
        b.generate(req(), tmp_path)
    assert e.value.kind == "timeout" and len(replay.requests) == 1 and not sleeps
    assert b._client().max_retries == 0


def test_connect_error_is_retried(tmp_path, sleeps):
    replay = Replay(("POST", "/images", httpx.ConnectError("refused")),
                    ("POST", "/images", httpx.Response(200, json=fixture("openai_dalle3_generate.json"))))
    assert len(backend("dall-e-3", replay).generate(req(), tmp_path)) == 1 and len(sleeps) == 1


def test_malformed_json(tmp_path, sleeps):
    replay = Replay(("POST", "/images", httpx.Response(200, content=b'{"created": 1, "data": [',
                                                       headers={"content-type": "application/json"})))
    with pytest.raises(RemoteError, match="malformed JSON"):
        backend("dall-e-3", replay).generate(req(), tmp_path)


def test_content_policy_refusal(tmp_path, sleeps):
    replay = Replay(("POST", "/images", httpx.Response(400, json=fixture("openai_content_policy.json"))))
    with pytest.raises(RemoteError, match="content policy") as e:
        backend("dall-e-3", replay).generate(req(), tmp_path)
    assert e.value.kind == "content_policy" and not e.value.retryable and not sleeps


def test_oversized_inline_image(tmp_path, sleeps, monkeypatch):
    import agent.backends.remote.outputs as outputs

    monkeypatch.setattr(outputs, "MAX_IMAGE_BYTES", 50)
    replay = Replay(("POST", "/images", httpx.Response(200, json=fixture("openai_dalle3_generate.json"))))
    with pytest.raises(RemoteError, match="over the") as e:
        backend("dall-e-3", replay).generate(req(), tmp_path)
    assert e.value.kind == "too_large"


def test_options_are_checked_before_any_call(tmp_path):
    b = backend("dall-e-3", Replay())  # any request would fail the replay
    with pytest.raises(InputError, match="1024x1024"):
        b.generate(req(width=512, height=512), tmp_path)
    with pytest.raises(InputError, match="at most 1"):
        b.generate(req(n=2), tmp_path)
    with pytest.raises(InputError, match="quality"):
        b.generate(req(extra={"quality": "ultra"}), tmp_path)
    with pytest.raises(InputError, match="negative"):
        b.generate(req(negative_prompt="blurry"), tmp_path)
    with pytest.raises(InputError, match="cannot edit"):
        b.edit(req(), tmp_path)
    with pytest.raises(InputError, match="style"):
        backend("gpt-image-1", Replay()).generate(req(extra={"style": "vivid"}), tmp_path)
    with pytest.raises(ConfigError, match="not a model name"):
        OpenAIImages("gpt image")


def test_missing_key(tmp_path):
    with pytest.raises(ConfigError, match="OPENAI_API_KEY"):
        OpenAIImages("dall-e-3").generate(req(), tmp_path)


def test_money_budget_stops_before_the_call(tmp_path):
    with prices.spending_limit(0.05):
        with pytest.raises(BudgetSpent):
            backend("dall-e-3", Replay()).generate(req(extra={"quality": "hd"}), tmp_path)


# ---- model names are data ------------------------------------------------------------------------
def test_current_models_are_listed_with_their_options(tmp_path, sleeps):
    b = OpenAIImages("", api_key=KEY)
    assert b.model == "gpt-image-2" and b.listed and "inpaint" in b.info.edits
    replay = Replay(("POST", "/v1/images/generations", httpx.Response(200, json=fixture("openai_gpt_image_generate.json"))))
    arts = backend("gpt-image-2", replay).generate(
        req(model="openai:gpt-image-2", n=2, width=2048, height=1152, extra={"quality": "medium"}), tmp_path)
    body = json.loads(replay.requests[0].content)
    assert body["model"] == "gpt-image-2" and body["size"] == "2048x1152" and "response_format" not in body
    assert sum(a.cost_usd for a in arts) == pytest.approx((50 * 5 + 272 * 30) / 1e6)
    with pytest.raises(InputError, match="multiples of 16"):
        backend("gpt-image-2", Replay()).generate(req(width=1000, height=1000), tmp_path)
    with pytest.raises(InputError, match="1024x1024"):  # a menu-only model keeps its menu
        backend("gpt-image-1.5", Replay()).generate(req(width=2048, height=2048), tmp_path)


def test_any_name_the_service_accepts_is_sent(tmp_path, sleeps):
    """A model released after this table was written is not refused: it is sent as asked, and the
    service decides (its options pass through too)."""
    replay = Replay(("POST", "/v1/images/generations", httpx.Response(200, json=fixture("openai_gpt_image_generate.json"))))
    arts = backend("gpt-image-3", replay).generate(
        req(model="openai:gpt-image-3", n=2, width=2048, height=2048, extra={"quality": "ultra", "background": "opaque"}),
        tmp_path)
    body = json.loads(replay.requests[0].content)
    assert body["model"] == "gpt-image-3" and body["quality"] == "ultra" and body["background"] == "opaque"
    assert len(arts) == 2 and arts[0].meta["cost_unknown"] and arts[0].cost_usd == 0


def test_unknown_price_with_a_money_budget_is_refused_before_paying(tmp_path, monkeypatch):
    with prices.spending_limit(5.0):
        with pytest.raises(ConfigError, match="gpt-image-3 .*no price.*ATELIER_PRICES"):
            backend("gpt-image-3", Replay()).generate(req(), tmp_path)  # any request would fail the replay
    # the user adds the new model to their own price file: it is then checked and priced
    own = tmp_path / "prices.yaml"
    own.write_text("openai:\n  gpt-image-3:\n    sizes: [[1024, 1024]]\n    qualities: [high]\n"
                   "    max_n: 4\n    per_image: {high: {1024x1024: 0.5}}\n")
    monkeypatch.setenv("ATELIER_PRICES", str(own))
    replay = Replay(("POST", "/v1/images/generations", httpx.Response(200, json=fixture("openai_dalle3_generate.json"))))
    with prices.spending_limit(5.0) as wallet:
        art, = backend("gpt-image-3", replay).generate(req(), tmp_path)
    assert art.cost_usd == pytest.approx(0.5) and wallet.spent_usd == pytest.approx(0.5)
    with pytest.raises(InputError, match="quality must be one of high"):
        backend("gpt-image-3", Replay()).generate(req(extra={"quality": "low"}), tmp_path)


def test_check_ready_names_the_key(monkeypatch):
    from agent.core.protocols import check_ready

    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    with pytest.raises(ConfigError, match="OPENAI_API_KEY"):
        check_ready(OpenAIImages("gpt-image-2"))
    check_ready(OpenAIImages("gpt-image-2", api_key=KEY))
