"""AnthropicLLM against recorded Messages API responses, through the real SDK and a mock transport."""
from __future__ import annotations

import base64

import anthropic
import pytest
from pydantic import BaseModel

from agent.core.errors import ConfigError, ServiceError
from agent.llm import MalformedOutput
from agent.llm.anthropic import AnthropicLLM
from agent.core.protocols import ImagePart, Message, TextPart, ToolCall, ToolResult, ToolSpec
from tests.llm_wire import (TEST_KEYS, Wire, anthropic_error, anthropic_message, fixture, text_block, tiny_png,
                            tool_use_block)

KEY = TEST_KEYS["anthropic"]
TOOLS = [ToolSpec(name=n, description=f"the {n} tool", parameters={"type": "object", "properties": {}})
         for n in ("refine_prompt", "generate_image", "critique")]


@pytest.fixture
def key(monkeypatch):
    monkeypatch.setenv("ANTHROPIC_API_KEY", KEY)


def llm_on(wire: Wire, **kwargs) -> AnthropicLLM:
    return AnthropicLLM("claude-sonnet-4-6", http_client=wire.client(), **kwargs)


def run_tools(reply: Message, image, fail: set[str] = frozenset()) -> Message:
    """What the director does with a reply: run each call, answer in one tool message."""
    results = []
    for call in reply.tool_calls:
        if call.name in fail or call.error:
            results.append(ToolResult(call_id=call.id, name=call.name, is_error=True,
                                      content=[TextPart(text=f"error: {call.error or 'the critic is offline'}")]))
        elif call.name == "generate_image":
            results.append(ToolResult(call_id=call.id, name=call.name,
                                      content=[TextPart(text="attempt 0 made"), ImagePart(path=image)]))
        else:
            results.append(ToolResult(call_id=call.id, name=call.name, content=[TextPart(text=f"{call.name} ok")]))
    return Message(role="tool", parts=results)


def test_multi_turn_tool_use_with_image_in_tool_result(key, tmp_path):
    image = tiny_png(tmp_path / "attempt0.png")
    wire = Wire([fixture(f"anthropic/{name}.json") for name in
                 ("tool_use_refine", "tool_use_generate", "tool_use_critique", "final_text")])
    llm = llm_on(wire)
    messages = [Message(role="user", parts=[TextPart(text="two red circles left of a blue square")])]
    names = []
    while True:
        reply = llm.complete("You are the director.", messages, TOOLS)
        messages.append(reply)
        if not reply.tool_calls:
            break
        names += [c.name for c in reply.tool_calls]
        messages.append(run_tools(reply, image))

    assert names == ["refine_prompt", "generate_image", "critique"]
    assert reply.text.startswith("The image was approved")
    assert messages[1].tool_calls[0].arguments == {"brief": "two red circles left of a blue square"}
    assert messages[1].text == "I'll first turn the brief into a precise prompt."

    bodies = wire.bodies()
    assert len(bodies) == 4 and all(b["model"] == "claude-sonnet-4-6" for b in bodies)
    # prompt caching: the system prompt and the tools are one breakpoint each, the conversation's end another
    assert bodies[0]["system"] == [{"type": "text", "text": "You are the director.", "cache_control": {"type": "ephemeral"}}]
    assert bodies[0]["tools"][-1]["cache_control"] == {"type": "ephemeral"}
    assert [t["name"] for t in bodies[0]["tools"]] == ["refine_prompt", "generate_image", "critique"]
    assert bodies[0]["tools"][0]["input_schema"] == {"type": "object", "properties": {}}
    # Turn 2: the assistant's tool_use echoed back, then our tool_result in a user turn.
    second = bodies[1]["messages"]
    assert [m["role"] for m in second] == ["user", "assistant", "user"]
    assert second[1]["content"][1] == {"type": "tool_use", "id": "toolu_01A09q90qw90lq917835lq9",
                                       "name": "refine_prompt",
                                       "input": {"brief": "two red circles left of a blue square"}}
    assert second[2]["content"] == [{"type": "tool_result", "tool_use_id": "toolu_01A09q90qw90lq917835lq9",
                                     "content": [{"type": "text", "text": "refine_prompt ok"}], "is_error": False,
                                     "cache_control": {"type": "ephemeral"}}]
    assert "cache_control" not in second[0]["content"][-1]  # one breakpoint: the growing end only
    # Turn 3: the generated image travels inside the tool_result, base64, so the model sees it.
    result = bodies[2]["messages"][-1]["content"][0]
    assert result["type"] == "tool_result" and result["tool_use_id"] == "toolu_01B7sMzvVYiUqWvPVqkqK2Bz"
    text, picture = result["content"]
    assert text == {"type": "text", "text": "attempt 0 made"}
    assert picture["type"] == "image" and picture["source"]["type"] == "base64"
    assert picture["source"]["media_type"] == "image/png"
    assert base64.b64decode(picture["source"]["data"]) == image.read_bytes()
    assert [m["role"] for m in bodies[3]["messages"]] == ["user"] + ["assistant", "user"] * 3


def test_tool_error_result_is_sent_with_is_error(key, tmp_path):
    wire = Wire([fixture("anthropic/tool_use_critique.json"), fixture("anthropic/final_text.json")])
    llm = llm_on(wire)
    messages = [Message(role="user", parts=[TextPart(text="judge attempt 0")])]
    reply = llm.complete("", messages, TOOLS)
    messages += [reply, run_tools(reply, None, fail={"critique"})]
    llm.complete("", messages, TOOLS)
    body = wire.bodies()[1]
    assert "system" not in body  # an empty system prompt is left out, not sent empty
    result = body["messages"][2]["content"][0]
    assert result["is_error"] is True
    assert result["content"] == [{"type": "text", "text": "error: the critic is offline"}]


def test_user_text_after_tool_results_keeps_results_first(key):
    """Anthropic wants tool_result blocks first in the user turn that follows a tool_use turn."""
    wire = Wire([fixture("anthropic/final_text.json")])
    messages = [Message(role="user", parts=[TextPart(text="go")]),
                Message(role="assistant", parts=[ToolCall(id="t1", name="critique", arguments={})]),
                Message(role="tool", parts=[ToolResult(call_id="t1", name="critique", content=[TextPart(text="ok")])]),
                Message(role="user", parts=[TextPart(text="   ")]),  # whitespace-only text is dropped
                Message(role="user", parts=[TextPart(text="the budget is nearly spent")])]
    llm_on(wire).complete("", messages, TOOLS)
    sent = wire.bodies()[0]["messages"]
    assert [m["role"] for m in sent] == ["user", "assistant", "user"]
    assert [b["type"] for b in sent[2]["content"]] == ["tool_result", "text"]


def test_malformed_tool_calls_are_surfaced_not_raised(key):
    wire = Wire([
        fixture("anthropic/tool_use_truncated.json"),  # cut off at max_tokens mid-arguments,
        fixture("anthropic/tool_use_truncated.json"),  # and again when asked with more tokens
        anthropic_message(tool_use_block("generate_image", '{"prompt": "two red', id="toolu_bad")),
        fixture("anthropic/final_text.json"),
    ])
    llm = llm_on(wire)
    messages = [Message(role="user", parts=[TextPart(text="go")])]
    truncated = llm.complete("", messages, TOOLS)
    (call,) = truncated.tool_calls
    assert call.name == "generate_image" and call.arguments == {} and "max_tokens" in call.error
    assert [b["max_tokens"] for b in wire.bodies()] == [4096, 16384]
    not_object = llm.complete("", messages, TOOLS)
    assert "not valid JSON" in not_object.tool_calls[0].error
    # The director answers with an error result; the conversation goes on.
    messages += [not_object, run_tools(not_object, None)]
    llm.complete("", messages, TOOLS)
    sent = wire.bodies()[3]["messages"]
    assert sent[1]["content"][0] == {"type": "tool_use", "id": "toolu_bad", "name": "generate_image", "input": {}}
    assert sent[2]["content"][0]["is_error"] is True


def test_rate_limit_honours_retry_after_then_succeeds(key, monkeypatch):
    slept = []
    monkeypatch.setattr(anthropic._base_client.time, "sleep", slept.append)
    wire = Wire([(429, fixture("anthropic/error_rate_limit.json"), {"retry-after": "7"}),
                 fixture("anthropic/final_text.json")])
    reply = llm_on(wire).complete("", [Message(role="user", parts=[TextPart(text="hi")])], [])
    assert reply.text.startswith("The image was approved")
    assert slept == [7.0] and len(wire.requests) == 2


def test_rate_limit_that_persists_becomes_a_service_error(key, monkeypatch):
    monkeypatch.setattr(anthropic._base_client.time, "sleep", lambda s: None)
    headers = {"retry-after": "1", "request-id": "req_011CSHoEeqs5C35K2UUqR7Fy"}  # as the API sends them
    wire = Wire([(429, fixture("anthropic/error_rate_limit.json"), headers)] * 3)
    with pytest.raises(ServiceError) as e:
        llm_on(wire, max_retries=2).complete("", [Message(role="user", parts=[TextPart(text="hi")])], [])
    assert e.value.service == "anthropic" and e.value.retryable
    assert "429" in str(e.value) and "rate_limit_error" in str(e.value) and "tried 3 times" in str(e.value)
    assert "req_011CSHoEeqs5C35K2UUqR7Fy" in str(e.value)


def test_bad_key_is_a_service_error_without_the_key(key, caplog):
    wire = Wire([anthropic_error(401, "authentication_error", f"invalid x-api-key {KEY}")])
    llm = llm_on(wire)
    with pytest.raises(ServiceError) as e:
        llm.complete("", [Message(role="user", parts=[TextPart(text="hi")])], [])
    message = str(e.value)
    assert message.startswith("anthropic:") and "401" in message and "ANTHROPIC_API_KEY" in message
    assert KEY not in message and KEY[-8:] not in message
    assert KEY not in repr(llm) and KEY not in caplog.text
    assert len(wire.requests) == 1  # a refused key is not retried
    sent = wire.requests[0].headers  # this SDK sends the key as a bearer token; older ones as x-api-key
    assert sent.get("authorization") == f"Bearer {KEY}" or sent.get("x-api-key") == KEY


def test_missing_key_names_the_variable():
    with pytest.raises(ConfigError, match="ANTHROPIC_API_KEY"):
        AnthropicLLM("claude-sonnet-4-6")


def test_base_url_from_the_environment(key, monkeypatch):
    monkeypatch.setenv("ANTHROPIC_BASE_URL", "http://llm-proxy.internal:8080/anthropic")
    wire = Wire([fixture("anthropic/final_text.json")])
    llm = llm_on(wire)
    llm.complete("", [Message(role="user", parts=[TextPart(text="hi")])], [])
    assert str(wire.requests[0].url) == "http://llm-proxy.internal:8080/anthropic/v1/messages"
    assert "llm-proxy.internal" in repr(llm)


def test_every_call_has_a_timeout(key):
    wire = Wire([fixture("anthropic/final_text.json")])
    llm_on(wire, timeout=42.0).complete("", [Message(role="user", parts=[TextPart(text="hi")])], [])
    assert wire.requests[0].extensions["timeout"]["read"] == 42.0


class Colour(BaseModel):
    name: str
    rgb: tuple[int, int, int]


def test_structured_forces_a_tool_call_and_validates(key, tmp_path):
    image = tiny_png(tmp_path / "swatch.png")
    wire = Wire([anthropic_message(tool_use_block("record_answer", {"name": "red", "rgb": [200, 30, 30]}))])
    answer = llm_on(wire).structured("Judge colours.", "Which colour is this?", Colour, [image])
    assert answer == Colour(name="red", rgb=(200, 30, 30))
    body = wire.bodies()[0]
    assert body["tool_choice"] == {"type": "tool", "name": "record_answer"}
    assert body["tools"][0]["input_schema"] == Colour.model_json_schema()
    picture, question = body["messages"][0]["content"]
    assert picture["type"] == "image" and base64.b64decode(picture["source"]["data"]) == image.read_bytes()
    assert question == {"type": "text", "text": "Which colour is this?"}


def test_structured_reply_that_does_not_fit_is_malformed(key):
    wire = Wire([anthropic_message(tool_use_block("record_answer", {"name": "red", "rgb": "reddish"})),
                 anthropic_message(text_block("It is red."))])
    llm = llm_on(wire)
    with pytest.raises(MalformedOutput, match="rgb"):
        llm.structured("", "Which colour?", Colour)
    with pytest.raises(MalformedOutput, match="did not call record_answer"):
        llm.structured("", "Which colour?", Colour)
