"""OpenAILLM / OpenAICompatibleLLM against recorded chat completions, through the real SDK and a mock
transport."""
from __future__ import annotations

import base64
import json

import openai
import pytest
from pydantic import BaseModel

from agent.core.errors import ConfigError, ServiceError
from agent.llm import MalformedOutput
from agent.llm.openai import OpenAICompatibleLLM, OpenAILLM
from agent.core.protocols import ImagePart, Message, TextPart, ToolResult, ToolSpec
from agent.core.registry import resolve
from tests.llm_wire import TEST_KEYS, Wire, chat_completion, fixture, function_call, openai_error, tiny_png

KEY = TEST_KEYS["openai"]
TOOLS = [ToolSpec(name=n, description=f"the {n} tool", parameters={"type": "object", "properties": {}})
         for n in ("refine_prompt", "generate_image", "critique")]
HI = [Message(role="user", parts=[TextPart(text="hi")])]


@pytest.fixture
def key(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", KEY)


def llm_on(wire: Wire, **kwargs) -> OpenAILLM:
    return OpenAILLM("gpt-4o", http_client=wire.client(), **kwargs)


def run_tools(reply: Message, image, fail: set[str] = frozenset()) -> Message:
    results = []
    for call in reply.tool_calls:
        if call.name in fail or call.error:
            results.append(ToolResult(call_id=call.id, name=call.name, is_error=True,
                                      content=[TextPart(text=call.error or "the critic is offline")]))
        elif call.name == "generate_image":
            results.append(ToolResult(call_id=call.id, name=call.name,
                                      content=[TextPart(text="attempt 0 made"), ImagePart(path=image)]))
        else:
            results.append(ToolResult(call_id=call.id, name=call.name, content=[TextPart(text=f"{call.name} ok")]))
    return Message(role="tool", parts=results)


def test_multi_turn_function_calling_with_images_after_tool_messages(key, tmp_path):
    image = tiny_png(tmp_path / "attempt0.png")
    wire = Wire([fixture(f"openai/{name}.json") for name in
                 ("tool_call_refine", "tool_call_generate", "tool_call_critique", "final_text")])
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
    assert messages[1].tool_calls[0].arguments == {"brief": "two red circles left of a blue square"}
    assert messages[5].text == "Let me check the image against the brief."
    assert reply.text.startswith("The image was approved")

    bodies = wire.bodies()
    first = bodies[0]
    assert first["model"] == "gpt-4o" and first["max_completion_tokens"] == 4096
    assert first["messages"] == [{"role": "system", "content": "You are the director."},
                                 {"role": "user", "content": "two red circles left of a blue square"}]
    assert first["tools"][0] == {"type": "function", "function": {
        "name": "refine_prompt", "description": "the refine_prompt tool",
        "parameters": {"type": "object", "properties": {}}}}
    second = bodies[1]["messages"]
    assert second[2] == {"role": "assistant", "content": None, "tool_calls": [{
        "id": "call_Mf3zfbuqW9Q7wG2L5xwWq1HX", "type": "function",
        "function": {"name": "refine_prompt", "arguments": json.dumps({"brief": "two red circles left of a blue square"})}}]}
    assert second[3] == {"role": "tool", "tool_call_id": "call_Mf3zfbuqW9Q7wG2L5xwWq1HX", "content": "refine_prompt ok"}
    # A tool message cannot hold an image: it follows in a user message right after the tool messages.
    third = bodies[2]["messages"]
    assert [m["role"] for m in third] == ["system", "user", "assistant", "tool", "assistant", "tool", "user"]
    assert third[5] == {"role": "tool", "tool_call_id": "call_Cq2TN1h8yW9fXc6Bfz3KqWrE", "content": "attempt 0 made"}
    caption, picture = third[6]["content"]
    assert caption["type"] == "text" and "generate_image" in caption["text"]
    url = picture["image_url"]["url"]
    assert picture["type"] == "image_url" and url.startswith("data:image/png;base64,")
    assert base64.b64decode(url.split(",", 1)[1]) == image.read_bytes()
    # And the next assistant turn comes after that user message.
    assert [m["role"] for m in bodies[3]["messages"]][-3:] == ["user", "assistant", "tool"]


def test_tool_error_result_is_marked_in_the_tool_message(key):
    wire = Wire([fixture("openai/tool_call_critique.json"), fixture("openai/final_text.json")])
    llm = llm_on(wire)
    reply = llm.complete("", HI, TOOLS)
    llm.complete("", HI + [reply, run_tools(reply, None, fail={"critique"})], TOOLS)
    sent = wire.bodies()[1]["messages"]
    assert sent[0]["role"] == "user"  # no system message when the system prompt is empty
    assert sent[-1] == {"role": "tool", "tool_call_id": "call_V7b2nGq1Rz8sK4mXo9pTeLyA",
                        "content": "Error: the critic is offline"}


def test_malformed_arguments_are_surfaced_not_raised(key):
    wire = Wire([fixture("openai/tool_call_malformed.json"), fixture("openai/final_text.json")])
    llm = llm_on(wire)
    reply = llm.complete("", HI, TOOLS)
    (call,) = reply.tool_calls
    assert call.name == "generate_image" and call.arguments == {} and "not valid JSON" in call.error
    llm.complete("", HI + [reply, run_tools(reply, None)], TOOLS)  # the error result goes back fine
    sent = wire.bodies()[1]["messages"]
    assert sent[1]["tool_calls"][0]["function"]["arguments"] == "{}"
    assert sent[2]["content"].startswith("Error: the arguments are not valid JSON")


def test_compatible_servers_quirks(key):
    """Ollama-style replies: arguments as an object, no call id, a JSON array as arguments."""
    wire = Wire([chat_completion(tool_calls=[
        {"type": "function", "function": {"name": "critique", "arguments": {"attempt": 0}}},
        function_call("generate_image", "[1, 2]", id="call_list")])])
    calls = llm_on(wire).complete("", HI, TOOLS).tool_calls
    assert calls[0].id == "call_0" and calls[0].arguments == {"attempt": 0} and calls[0].error is None
    assert "must be a JSON object" in calls[1].error


def test_rate_limit_honours_retry_after_then_succeeds(key, monkeypatch):
    slept = []
    monkeypatch.setattr(openai._base_client.time, "sleep", slept.append)
    wire = Wire([(429, fixture("openai/error_rate_limit.json"), {"retry-after": "3", "x-request-id": "req_429"}),
                 fixture("openai/final_text.json")])
    assert llm_on(wire).complete("", HI, []).text.startswith("The image was approved")
    assert slept == [3.0] and len(wire.requests) == 2


def test_bad_key_is_a_service_error_without_the_key(key, caplog):
    wire = Wire([(401, fixture("openai/error_invalid_api_key.json"))])
    llm = llm_on(wire)
    with pytest.raises(ServiceError) as e:
        llm.complete("", HI, [])
    message = str(e.value)
    assert message.startswith("openai:") and "401" in message and "OPENAI_API_KEY" in message
    assert KEY not in message and "3456" not in message  # OpenAI echoes the key's tail; we do not
    assert KEY not in repr(llm) and KEY not in caplog.text
    assert len(wire.requests) == 1
    assert wire.requests[0].headers["authorization"] == f"Bearer {KEY}"


def test_other_errors_name_the_service_and_scrub_keys(key):
    wire = Wire([openai_error(400, f"bad request from key {KEY} and sk-proj-abcdefghijklmnop")])
    with pytest.raises(ServiceError) as e:
        llm_on(wire).complete("", HI, [])
    message = str(e.value)
    assert message.startswith("openai: HTTP 400") and "req_test_openai_error" in message
    assert KEY not in message and "abcdefghijklmnop" not in message and not e.value.retryable


def test_missing_key_names_the_variable():
    with pytest.raises(ConfigError, match="OPENAI_API_KEY"):
        OpenAILLM("gpt-4o")


def test_base_url_from_the_environment(key, monkeypatch):
    monkeypatch.setenv("OPENAI_BASE_URL", "http://gateway.internal:9000/v1")
    wire = Wire([fixture("openai/final_text.json")])
    llm_on(wire, timeout=33.0).complete("", HI, [])
    assert str(wire.requests[0].url) == "http://gateway.internal:9000/v1/chat/completions"
    assert wire.requests[0].extensions["timeout"]["read"] == 33.0


class Colour(BaseModel):
    name: str
    rgb: tuple[int, int, int]


def test_structured_uses_json_schema_response_format(key, tmp_path):
    image = tiny_png(tmp_path / "swatch.png")
    wire = Wire([chat_completion(json.dumps({"name": "red", "rgb": [200, 30, 30]}))])
    answer = llm_on(wire).structured("Judge colours.", "Which colour is this?", Colour, [image])
    assert answer == Colour(name="red", rgb=(200, 30, 30))
    body = wire.bodies()[0]
    assert body["response_format"] == {"type": "json_schema", "json_schema": {
        "name": "Colour", "schema": Colour.model_json_schema(), "strict": False}}
    picture, question = body["messages"][1]["content"]
    assert picture["image_url"]["url"].startswith("data:image/png;base64,")
    assert question == {"type": "text", "text": "Which colour is this?"}


def test_structured_falls_back_to_json_instructions(key):
    wire = Wire([(400, fixture("openai/error_response_format.json")),
                 chat_completion('Here you go:\n```json\n{"name": "red", "rgb": [200, 30, 30]}\n```'),
                 chat_completion('{"name": "blue", "rgb": [0, 0, 255]}')])
    llm = llm_on(wire)
    assert llm.structured("", "Which colour?", Colour).name == "red"
    assert llm.structured("", "Which colour?", Colour).name == "blue"
    bodies = wire.bodies()
    assert "response_format" in bodies[0]
    assert "response_format" not in bodies[1] and "response_format" not in bodies[2]  # remembered
    assert "JSON schema" in bodies[1]["messages"][0]["content"]


def test_structured_malformed_reply(key):
    wire = Wire([chat_completion("The colour is red."), chat_completion('{"name": "red"}')])
    llm = llm_on(wire)
    with pytest.raises(MalformedOutput, match="no JSON object"):
        llm.structured("", "Which colour?", Colour)
    with pytest.raises(MalformedOutput, match="rgb"):
        llm.structured("", "Which colour?", Colour)


def test_compatible_spec_needs_no_key(monkeypatch):
    wire = Wire([fixture("openai/final_text.json")]).install(monkeypatch, "openai")
    llm = resolve("llm", "openai-compatible:qwen2.5@http://localhost:11434/v1")
    assert isinstance(llm, OpenAICompatibleLLM) and llm.name == "openai-compatible:qwen2.5@http://localhost:11434/v1"
    llm.complete("", HI, [])
    request = wire.requests[0]
    assert str(request.url) == "http://localhost:11434/v1/chat/completions"
    assert request.headers["authorization"] == "Bearer not-needed"
    body = json.loads(request.content)
    assert body["model"] == "qwen2.5" and body["max_tokens"] == 4096 and "max_completion_tokens" not in body


def test_compatible_base_url_from_environment_and_errors(monkeypatch):
    monkeypatch.setenv("OPENAI_BASE_URL", "http://127.0.0.1:8000/v1")
    wire = Wire([(503, {"error": {"message": "model is loading"}}, {"x-should-retry": "false"})])
    llm = OpenAICompatibleLLM("llama3.2-vision", http_client=wire.client())
    with pytest.raises(ServiceError) as e:
        llm.complete("", HI, [])
    assert str(e.value).startswith("openai-compatible: HTTP 503: model is loading")
    assert str(wire.requests[0].url) == "http://127.0.0.1:8000/v1/chat/completions"
    monkeypatch.delenv("OPENAI_BASE_URL")
    with pytest.raises(ConfigError, match="MODEL@BASE_URL"):
        OpenAICompatibleLLM("llama3.2-vision")
