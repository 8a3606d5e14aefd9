"""What a long run sends the LLM, and how long and how hard one LLM call tries: against the real SDKs
and recorded wire responses (tests/llm_wire.py), never the network.

- a run of many attempts keeps every request within Anthropic's limits (100 images, 32 MB, 2000 px a
  side once over 20 images) and OpenAI's (500 images, 50 MB): previews at most 1568 px, the latest
  images only, older ones as a line of text;
- each try of a call gets the whole per-try deadline, the tries together a total one;
- a reply cut off at the output limit is asked again with more tokens, then is a named error;
- a server refusing json_schema for one request shape keeps it for the others."""
from __future__ import annotations

import base64
import io
import json

import anthropic
import httpx2
import numpy as np
import openai
import pytest
from PIL import Image
from pydantic import BaseModel

import agent.llm
from agent.core.errors import ServiceError
from agent.core.protocols import ImagePart, Message, TextPart, ToolCall, ToolResult
from agent.llm import ReplyCutOff
from agent.llm.anthropic import AnthropicLLM
from agent.llm.openai import OpenAILLM
from tests.llm_wire import (TEST_KEYS, Wire, anthropic_message, chat_completion, fixture, openai_error,
                            text_block)

MB = 1_000_000


@pytest.fixture
def keys(monkeypatch):
    monkeypatch.setenv("ANTHROPIC_API_KEY", TEST_KEYS["anthropic"])
    monkeypatch.setenv("OPENAI_API_KEY", TEST_KEYS["openai"])


@pytest.fixture(scope="module")
def renders(tmp_path_factory):
    """Two full-size renders as a remote model returns them (1600x1200 PNG of busy detail, about
    5.8 MB each: far over what a request may carry many of)."""
    rng, folder = np.random.default_rng(0), tmp_path_factory.mktemp("renders")
    paths = []
    for i in range(2):
        path = folder / f"render{i}.png"
        Image.fromarray(rng.integers(0, 256, (1200, 1600, 3), dtype=np.uint8)).save(path, compress_level=0)
        paths.append(path)
    return paths


def attempt_turn(i: int, image) -> list[Message]:
    """One director step as the conversation records it: the call, and its result with the image."""
    call = ToolCall(id=f"call_{i}", name="generate_image", arguments={"prompt": f"try {i}"})
    result = ToolResult(call_id=call.id, name="generate_image",
                        content=[TextPart(text=f"attempt {i} (seed {i}): not approved."), ImagePart(path=image)])
    return [Message(role="assistant", parts=[call]), Message(role="tool", parts=[result])]


def decoded(data: str) -> Image.Image:
    return Image.open(io.BytesIO(base64.b64decode(data)))


def anthropic_images(body: dict) -> list[dict]:
    found = []
    for turn in body["messages"]:
        for block in turn["content"]:
            found += [b for b in block.get("content", []) if isinstance(b, dict) and b.get("type") == "image"] \
                if block["type"] == "tool_result" else ([block] if block["type"] == "image" else [])
    return found


def long_run(llm_class, model: str, reply: str, turns: int, renders) -> tuple[Wire, list[Message]]:
    """A director's conversation of `turns` attempts, each turn sent to the LLM as it grows."""
    wire = Wire([fixture(reply)] * turns)
    llm = llm_class(model, http_client=wire.client())
    messages = [Message(role="user", parts=[TextPart(text="two red circles left of a blue square")])]
    for i in range(turns):
        messages += attempt_turn(i, renders[i % len(renders)])
        llm.complete("You are the director.", messages, [])
    return wire, messages


def test_a_long_run_stays_within_anthropic_limits(keys, renders):
    turns = 24
    wire, messages = long_run(AnthropicLLM, "claude-sonnet-4-6", "anthropic/final_text.json", turns, renders)
    bodies = wire.bodies()
    for request, body in zip(wire.requests, bodies):
        images = anthropic_images(body)
        assert len(request.content) < 32 * MB and len(images) <= 100
        sides = [max(decoded(b["source"]["data"]).size) for b in images]
        assert max(sides) <= 1568 and (len(images) <= 20 or max(sides) <= 2000)
        assert all(len(b["source"]["data"]) <= 5 * MB for b in images)  # the per-image base64 limit
    last = bodies[-1]
    assert 5 <= len(anthropic_images(last)) <= 8  # the latest images, dropped four at a time
    text = json.dumps(last)
    assert "attempt 0 (seed 0)" in text and "was shown in an earlier turn" in text  # older ones: words only
    assert len(wire.requests[-1].content) < 12 * MB
    # the record keeps every image: only what is sent is trimmed
    assert sum(isinstance(p, ImagePart) for m in messages for r in m.parts if isinstance(r, ToolResult)
               for p in r.content) == turns


def test_a_long_run_stays_within_openai_limits(keys, renders):
    wire, _ = long_run(OpenAILLM, "gpt-5.5", "openai/final_text.json", 16, renders)
    for request, body in zip(wire.requests, wire.bodies()):
        urls = [p["image_url"]["url"] for m in body["messages"] if isinstance(m["content"], list)
                for p in m["content"] if p["type"] == "image_url"]
        assert len(request.content) < 50 * MB and len(urls) <= 8
        assert all(max(decoded(u.split(",", 1)[1]).size) <= 1568 for u in urls)
    assert len(wire.requests[-1].content) < 12 * MB


def test_a_small_image_goes_as_it_is(keys, tmp_path):
    path = tmp_path / "small.png"
    Image.new("RGB", (512, 512), (10, 200, 10)).save(path)
    wire = Wire([fixture("anthropic/final_text.json")])
    AnthropicLLM("claude-sonnet-4-6", http_client=wire.client()).complete("", attempt_turn(0, path)[1:], [])
    (image,) = anthropic_images(wire.bodies()[0])
    assert base64.b64decode(image["source"]["data"]) == path.read_bytes()


# ---- deadlines ----------------------------------------------------------------------------------
class Clock:
    """A fake monotonic clock that the mock transport moves on by each try's timeout."""

    def __init__(self):
        self.now = 1000.0

    def monotonic(self) -> float:
        return self.now


def hanging_transport(clock: Clock, timeouts: list[float]) -> httpx2.Client:
    def handler(request):
        timeouts.append(request.extensions["timeout"]["read"])
        clock.now += request.extensions["timeout"]["read"]  # the server never answers in time
        raise httpx2.ReadTimeout("timed out", request=request)
    return httpx2.Client(transport=httpx2.MockTransport(handler))


def test_each_try_gets_the_whole_deadline_and_the_call_a_total_one(keys, monkeypatch):
    clock, timeouts = Clock(), []
    monkeypatch.setattr(agent.llm, "time", clock)
    monkeypatch.setattr(anthropic._base_client.time, "sleep", lambda s: None)
    llm = AnthropicLLM("claude-sonnet-4-6", http_client=hanging_transport(clock, timeouts))
    with pytest.raises(ServiceError) as e:
        llm.complete("", [Message(role="user", parts=[TextPart(text="judge six frames")])], [])
    assert timeouts == [120.0, 120.0, 60.0]  # not 30 s each: a try gets the whole 120 s, all within 300 s
    message = str(e.value)
    assert message.startswith("anthropic: no reply within the 300 s deadline") and e.value.retryable
    assert "ATELIER_LLM_TIMEOUT" in message and "ATELIER_LLM_TOTAL_TIMEOUT" in message


def test_the_deadlines_are_settings(keys, monkeypatch):
    clock, timeouts = Clock(), []
    monkeypatch.setattr(agent.llm, "time", clock)
    monkeypatch.setattr(openai._base_client.time, "sleep", lambda s: None)
    monkeypatch.setenv("ATELIER_LLM_TIMEOUT", "200")
    monkeypatch.setenv("ATELIER_LLM_TOTAL_TIMEOUT", "500")
    llm = OpenAILLM("gpt-5.5", http_client=hanging_transport(clock, timeouts))
    with pytest.raises(ServiceError, match="500 s deadline"):
        llm.complete("", [Message(role="user", parts=[TextPart(text="hi")])], [])
    assert timeouts == [200.0, 200.0, 100.0]


# ---- replies cut off at the output limit ----------------------------------------------------------
def thinking_only(model="claude-sonnet-4-6") -> dict:
    """A reasoning model that spent every output token thinking (as the API returns it)."""
    reply = anthropic_message(text_block("x"), stop_reason="max_tokens", model=model)
    reply["content"] = [{"type": "thinking", "thinking": "Let me weigh each frame in turn...",
                         "signature": "EqQBCgIYAhIM1gbcDa9GJwZA2b3hGgxBdjrkzLoky3dl1pkiMOYds"}]
    reply["usage"]["output_tokens"] = 4096
    return reply


def reasoning_cut_off() -> dict:
    body = chat_completion(content="", finish_reason="length", model="gpt-5.5-2026-04-23")
    body["usage"] = {"prompt_tokens": 2200, "completion_tokens": 4096, "total_tokens": 6296,
                     "completion_tokens_details": {"reasoning_tokens": 4096}}
    return body


def test_an_anthropic_reply_cut_off_is_asked_again_with_more_tokens(keys):
    wire = Wire([thinking_only(), fixture("anthropic/final_text.json")])
    reply = AnthropicLLM("claude-sonnet-4-6", http_client=wire.client()).complete(
        "", [Message(role="user", parts=[TextPart(text="go")])], [])
    assert reply.text.startswith("The image was approved")
    assert [b["max_tokens"] for b in wire.bodies()] == [4096, 16384]


def test_a_reply_cut_off_twice_is_a_named_error_not_no_reason_given(keys):
    wire = Wire([thinking_only(), thinking_only()])
    with pytest.raises(ReplyCutOff) as e:
        AnthropicLLM("claude-sonnet-4-6", http_client=wire.client()).complete(
            "", [Message(role="user", parts=[TextPart(text="go")])], [])
    assert str(e.value).startswith("anthropic: the reply was cut off at the output limit (16384 tokens)")
    assert not e.value.retryable

    wire = Wire([reasoning_cut_off(), reasoning_cut_off()])
    with pytest.raises(ReplyCutOff, match="openai: the reply was cut off"):
        OpenAILLM("gpt-5.5", http_client=wire.client()).complete(
            "", [Message(role="user", parts=[TextPart(text="go")])], [])
    assert [b["max_completion_tokens"] for b in wire.bodies()] == [4096, 16384]


def test_an_openai_reply_cut_off_is_asked_again_with_more_tokens(keys):
    wire = Wire([reasoning_cut_off(), fixture("openai/final_text.json")])
    reply = OpenAILLM("gpt-5.5", http_client=wire.client()).complete(
        "", [Message(role="user", parts=[TextPart(text="go")])], [])
    assert reply.text and len(wire.requests) == 2


# ---- structured output after a 400 -----------------------------------------------------------------
class Colour(BaseModel):
    name: str


class Shape(BaseModel):
    kind: str


def test_one_refusal_of_json_schema_keeps_it_for_other_request_shapes(keys):
    wire = Wire([(400, fixture("openai/error_response_format.json")), chat_completion('{"name": "red"}'),
                 chat_completion('{"kind": "circle"}'), chat_completion('{"name": "blue"}')])
    llm = OpenAILLM("gpt-5.5", http_client=wire.client())
    assert llm.structured("", "Which colour?", Colour).name == "red"
    assert llm.structured("", "Which shape?", Shape).kind == "circle"
    assert llm.structured("", "Which colour?", Colour).name == "blue"
    asked = ["response_format" in b for b in wire.bodies()]
    assert asked == [True, False, True, False]  # refused for Colour only; Shape still asks for it


def test_a_400_about_something_else_is_not_remembered(keys):
    wire = Wire([openai_error(400, "Invalid image: the image could not be decoded.", code="invalid_image"),
                 chat_completion('{"name": "red"}'), chat_completion('{"name": "blue"}')])
    llm = OpenAILLM("gpt-5.5", http_client=wire.client())
    assert llm.structured("", "Which colour?", Colour).name == "red"
    assert llm.structured("", "Which colour?", Colour).name == "blue"
    assert ["response_format" in b for b in wire.bodies()] == [True, False, True]  # asked again next time


@pytest.fixture
def fake_backends(monkeypatch):
    from tests import fakes

    yield from fakes.installed(monkeypatch, approve={99})


def test_a_run_whose_director_is_cut_off_fails_saying_why(tmp_path, monkeypatch, keys, fake_backends):
    from agent import Studio

    Wire([reasoning_cut_off(), reasoning_cut_off()]).install(monkeypatch, "openai")
    result = Studio(llm="openai:gpt-5.5", image_model="test:flat", critic="critic:seed",
                    runs_dir=tmp_path).run("a lake", spec={"include": [{"class": "lake"}]})
    assert result.record.status == "failed" and "(no reason given)" not in (result.record.stop_reason or "")
    assert result.record.error.startswith("openai: the reply was cut off at the output limit (16384 tokens)")
