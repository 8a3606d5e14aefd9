"""The director driven by real provider SDKs over recorded wire responses: a full tool-use run
(refine → generate → critique → generate again → approved), images sent back to the model,
and a rate limit on the way that succeeds on retry."""
import base64

import pytest

from agent import Studio
from tests import fakes
from tests.llm_wire import (TEST_KEYS, Wire, anthropic_error, anthropic_message, chat_completion,
                            function_call, text_block, tool_use_block)


@pytest.fixture(autouse=True)
def fake_backends(monkeypatch):
    yield from fakes.installed(monkeypatch, approve={31})


def test_anthropic_director_full_run(tmp_path, monkeypatch):
    monkeypatch.setenv("ANTHROPIC_API_KEY", TEST_KEYS["anthropic"])
    wire = Wire([
        anthropic_message(tool_use_block("record_answer", {"include": [{"class": "lake", "count": 1}],
                                                           "exclude": []}, id="toolu_0")),
        anthropic_message(text_block("Sharpening the brief."),
                          tool_use_block("refine_prompt", {"prompt": "a lake at dawn, mist, soft light"}, id="toolu_1")),
        anthropic_message(tool_use_block("generate_image", {"prompt": "a lake at dawn, mist, soft light",
                                                            "seed": 30}, id="toolu_2")),
        anthropic_error(429, "rate_limit_error", "Number of request tokens has exceeded your per-minute rate limit",
                        {"retry-after": "0"}),
        anthropic_message(tool_use_block("critique", {"attempt": 0}, id="toolu_3")),
        anthropic_message(text_block("Trying another seed."),
                          tool_use_block("generate_image", {"prompt": "a lake at dawn, mist, soft light",
                                                            "seed": 31}, id="toolu_4")),
    ]).install(monkeypatch, "anthropic")
    result = Studio(llm="anthropic:claude-sonnet-4-6", image_model="test:flat", critic="critic:seed",
                    runs_dir=tmp_path).run("a lake at dawn", seed=1)
    assert result.approved and result.best.seed == 31 and [a.seed for a in result.attempts] == [30, 31]
    assert wire.exhausted
    bodies = wire.bodies()[1:]  # the first derived the scene spec
    assert result.record.spec.include[0].cls == "lake"
    assert {t["name"] for t in bodies[0]["tools"]} == {"refine_prompt", "generate_image", "edit_image",
                                                       "generate_video", "critique", "typeset_text"}
    # the generated image went back to Claude inside the tool_result, as image content
    results = [b for b in bodies[2]["messages"][-1]["content"] if b["type"] == "tool_result"]
    assert results[0]["tool_use_id"] == "toolu_2"
    image = next(c for c in results[0]["content"] if c["type"] == "image")
    assert base64.b64decode(image["source"]["data"]).startswith(b"\x89PNG")
    assert bodies[2] == bodies[3]  # the rate-limited request was sent again as is
    assert TEST_KEYS["anthropic"] not in result.record.model_dump_json()


def test_openai_director_with_a_tool_error(tmp_path, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", TEST_KEYS["openai"])
    wire = Wire([
        chat_completion(tool_calls=[function_call("refine_prompt", {"prompt": "a lake, mist"}, id="c1")]),
        chat_completion(tool_calls=[function_call("edit_image", {"attempt": 5, "prompt": "x"}, id="c2")]),
        chat_completion(tool_calls=[function_call("generate_image", {"prompt": "a lake, mist", "seed": 31}, id="c3")]),
    ]).install(monkeypatch, "openai")
    result = Studio(llm="openai:gpt-4o", image_model="test:flat", critic="critic:seed",
                    runs_dir=tmp_path).run("a lake", spec={"include": [{"class": "lake"}]})
    assert result.approved
    tool_message = next(m for m in wire.bodies()[2]["messages"] if m.get("tool_call_id") == "c2")
    assert "no attempt 5" in tool_message["content"]


def test_director_ends_when_the_llm_gives_up(tmp_path, monkeypatch):
    monkeypatch.setenv("ANTHROPIC_API_KEY", TEST_KEYS["anthropic"])
    Wire([anthropic_message(text_block("I cannot draw that."))]).install(monkeypatch, "anthropic")
    result = Studio(llm="anthropic:claude-sonnet-4-6", image_model="test:flat", critic="critic:seed",
                    runs_dir=tmp_path).run("a lake", spec={"include": []})
    assert result.status == "ended" and "I cannot draw that" in result.record.stop_reason
