"""The remote model tables against the installed SDKs, and the size rules checked before paying:
edits keep their source's aspect, gpt-image-2's aspect limit is refused locally, Runway's 5 MB is a
limit on the data URI. Recorded answers only (agent/backends/remote/replay.py)."""
from __future__ import annotations

import base64
import io
import json
import typing
from pathlib import Path

import httpx
import numpy as np
import pytest
from PIL import Image

from agent.backends.remote import prices
from agent.backends.remote.openai_images import OpenAIImages, model_table
from agent.backends.remote.outputs import data_url
from agent.backends.remote.replay import FakeClock, Replay
from agent.backends.remote.runway import RunwayVideo
from agent.core.errors import InputError
from agent.core.types import GenerationRequest
from agent.core.usage import Usage

FIX = Path(__file__).parent / "fixtures" / "remote"
KEY = "sk-test-openai-0123456789abcdefa1b2c3"
RETIRED = {"dall-e-2"}  # the SDK keeps the name for compatibility; the service shut it down


def answer(name: str) -> httpx.Response:
    return httpx.Response(200, json=json.loads((FIX / name).read_text()))


def backend(model: str, replay: Replay) -> OpenAIImages:
    return OpenAIImages(model, api_key=KEY, http_client=replay.client())


def sent_fields(request: httpx.Request) -> dict[str, str]:
    """The plain fields of a multipart/form-data body."""
    fields = {}
    for chunk in request.content.split(b"--")[1:]:
        head, _, value = chunk.partition(b"\r\n\r\n")
        if b"filename=" not in head and b'name="' in head:
            name = head.split(b'name="')[1].split(b'"')[0].decode()
            fields[name] = value.rstrip(b"\r\n").decode(errors="replace")
    return fields


def source(tmp_path, w: int, h: int) -> Path:
    path = tmp_path / f"src{w}x{h}.png"
    Image.new("RGB", (w, h), "white").save(path)
    return path


# ---- tables against the installed SDKs ------------------------------------------------------------
def literal_names(alias) -> list[str]:
    names: list[str] = []
    for arg in typing.get_args(alias):
        names += list(typing.get_args(arg)) if typing.get_origin(arg) is typing.Literal else (
            [arg] if isinstance(arg, str) else [])
    return names


def test_every_image_model_the_openai_sdk_names_is_in_the_table():
    from openai.types.image_model import ImageModel

    names = [n for n in literal_names(ImageModel) if n not in RETIRED]
    assert len(names) >= 12
    missing = [n for n in names if model_table(n) is None or not model_table(n).get("per_image")]
    assert not missing, f"no sizes or prices for {missing}"


def test_every_anthropic_model_the_sdk_names_has_its_own_price():
    from anthropic.types.model_param import ModelParam

    table = prices.price("llm", "anthropic")
    for name in literal_names(ModelParam):
        usage = Usage(llm=f"anthropic:{name}", provider="anthropic", model=name, call="complete",
                      input_tokens=1_000_000, output_tokens=0)
        assert prices.token_cost(usage) is not None, name
        if name != "claude-mythos-preview":  # unpriced in public: the default (the dearest) covers it
            assert prices.token_cost(usage) != table["default"]["input"] or name.startswith(("claude-fable-5",
                                                                                             "claude-mythos-5")), name


def test_a_dated_id_costs_what_its_alias_does_and_an_unknown_one_the_default():
    def cost(model: str, tokens: int = 1_000_000) -> float:
        return prices.token_cost(Usage(llm="x", provider="anthropic", model=model, call="complete",
                                       input_tokens=tokens, output_tokens=0))
    assert cost("claude-haiku-4-5-20251001") == cost("claude-haiku-4-5") == pytest.approx(1.0)
    assert cost("claude-opus-4-5-20251101") == pytest.approx(5.0)
    assert cost("claude-sonnet-9") == pytest.approx(10.0)  # a budget never under-counts a new id
    assert cost("claude-haiku-5-5", 50_000) == pytest.approx(0.005)  # short prompts at the low band
    assert cost("claude-haiku-5-5", 200_000) == pytest.approx(0.1)  # over 100k tokens: the long-prompt rates


@pytest.mark.parametrize("model,quality", [("gpt-image-2.5-flare", "xhigh"), ("gpt-image-2.5-sunburst", "max"),
                                           ("gpt-image-2-2026-04-21", "high"), ("gpt-image-2.6-flare", "medium"),
                                           ("chatgpt-image-latest", "low")])
def test_newer_models_and_qualities_run_under_a_money_budget(tmp_path, model, quality):
    replay = Replay(("POST", "/v1/images/generations", answer("openai_gpt_image_generate.json")))
    with prices.spending_limit(5.0) as wallet:
        arts = backend(model, replay).generate(GenerationRequest(
            prompt="a lighthouse at dusk", model=f"openai:{model}", extra={"quality": quality}), tmp_path)
    assert json.loads(replay.requests[0].content)["quality"] == quality
    assert wallet.spent_usd == pytest.approx(sum(a.cost_usd for a in arts)) and wallet.spent_usd > 0


def test_a_quality_the_model_lacks_is_refused_before_the_call(tmp_path):
    with pytest.raises(InputError, match="quality must be one of auto, low, medium, high$"):
        backend("gpt-image-2", Replay()).generate(GenerationRequest(
            prompt="x", model="openai:gpt-image-2", extra={"quality": "max"}), tmp_path)


@pytest.mark.parametrize("w,h", [(3840, 1024), (1024, 3840), (1600, 512)])
def test_gpt_image_2_aspect_limit_is_checked_before_any_call(tmp_path, w, h):
    with pytest.raises(InputError) as e:
        backend("gpt-image-2", Replay()).generate(GenerationRequest(prompt="x", model="openai:gpt-image-2",
                                                                    width=w, height=h), tmp_path)
    assert "aspect ratios from 1:3 to 3:1" in str(e.value) and "\n" not in str(e.value)


def test_gpt_image_2_takes_any_size_within_its_rules(tmp_path):
    replay = Replay(("POST", "/v1/images/generations", answer("openai_gpt_image_generate.json")))
    backend("gpt-image-2", replay).generate(GenerationRequest(prompt="x", model="openai:gpt-image-2",
                                                              width=1536, height=512), tmp_path)  # exactly 3:1
    assert json.loads(replay.requests[0].content)["size"] == "1536x512"


# ---- edits keep the source's shape ---------------------------------------------------------------
@pytest.mark.parametrize("model,src,size", [("gpt-image-1.5", (1600, 1000), "1536x1024"),
                                            ("gpt-image-1.5", (600, 1000), "1024x1536"),
                                            ("gpt-image-1.5", (900, 880), "1024x1024"),
                                            ("gpt-image-2", (1920, 1080), "1680x944"),
                                            ("gpt-image-2", (400, 1600), "592x1776")])
def test_an_edit_asks_for_the_size_nearest_its_source(tmp_path, model, src, size):
    replay = Replay(("POST", "/v1/images/edits", answer("openai_gpt_image_edit.json")))
    art, = backend(model, replay).edit(GenerationRequest(prompt="x", model=f"openai:{model}",
                                                         source_image=source(tmp_path, *src),
                                                         instruction="make the sky orange"), tmp_path)
    assert sent_fields(replay.requests[0])["size"] == size
    assert art.meta["size"] == size and art.meta["source_size"] == f"{src[0]}x{src[1]}"
    w, h = map(int, size.split("x"))
    assert w % 16 == 0 and h % 16 == 0 and 1 / 3 <= w / h <= 3


# ---- Runway's limit is on the data URI -----------------------------------------------------------
def test_runway_gets_a_data_uri_within_5_mb_for_a_4_5_mb_png(tmp_path):
    path = tmp_path / "first.png"
    noise = np.random.default_rng(1).integers(0, 256, (1250, 1250, 3), dtype=np.uint8)
    Image.fromarray(noise).save(path, compress_level=1)
    assert 4 * 2**20 < path.stat().st_size < 5 * 2**20  # under 5 MB as a file, over it as base64
    clock = FakeClock()
    replay = Replay(("POST", "/v1/image_to_video",
                     httpx.Response(200, json=json.loads((FIX / "runway_task_created.json").read_text()))),
                    ("GET", "/v1/tasks/", httpx.Response(200, json={"id": "t", "status": "FAILED",
                                                                     "failure": "stop here"})))
    runway = RunwayVideo("gen4_turbo", api_key="key_runway_test_0123456789abcdef", client=replay.client(),
                         sleep=clock.sleep, clock=clock.now)
    with pytest.raises(Exception, match="stop here"):
        runway.generate(GenerationRequest(prompt="push in", model="runway:gen4_turbo", source_image=path,
                                          extra={"ratio": "960:960"}), tmp_path)
    uri = json.loads(replay.requests[0].content)["promptImage"]
    assert len(uri) <= 5 * 2**20 and uri.startswith("data:image/jpeg;base64,")
    sent = Image.open(io.BytesIO(base64.b64decode(uri.split(",", 1)[1])))
    assert sent.size[0] == sent.size[1]  # the aspect is kept


def test_an_image_that_cannot_fit_a_data_uri_is_a_clear_error(tmp_path):
    path = tmp_path / "big.png"
    Image.fromarray(np.random.default_rng(2).integers(0, 256, (300, 300, 3), dtype=np.uint8)).save(path)
    with pytest.raises(InputError, match="does not fit in a 0 MiB data URI"):
        data_url(path, max_bytes=2000)
