"""A tool call that ends the run in the middle of a reply (here the image budget refuses the second of
three calls) leaves no call unanswered: it and every call after it get a result saying why, so the
presentation turn sent to the provider is well formed (Anthropic wants a tool_result for every tool_use
in the next user turn, OpenAI a tool message for every tool_call id), and so is the record a resumed run
continues from. Recorded-shape responses over a mock transport: nothing reaches the network."""
from __future__ import annotations

import pytest

from agent import Studio
from agent.core.protocols import Message, ToolCall, ToolResult
from tests import fakes
from tests.llm_wire import (TEST_KEYS, Wire, anthropic_message, chat_completion, function_call, text_block,
                            tool_use_block)

SPEC = {"include": [{"class": "lake"}]}
CALLS = [("generate_image", {"prompt": "a lake, mist", "seed": 30}), ("generate_image", {"prompt": "a lake", "seed": 32}),
         ("critique", {"attempt": 0})]


@pytest.fixture(autouse=True)
def fake_backends(monkeypatch):
    yield from fakes.installed(monkeypatch)  # no seed approved: the budget ends the run


def every_call_answered(record) -> list[str]:
    """The ids of the record's tool calls, each checked to have its result in the message that follows."""
    messages = [Message.model_validate(m) for m in record.messages]
    ids = []
    for message, after in zip(messages, messages[1:] + [None]):
        calls = [p.id for p in message.parts if isinstance(p, ToolCall)]
        answered = [p.call_id for p in (after.parts if after else []) if isinstance(p, ToolResult)]
        assert sorted(calls) == sorted(answered) if calls else True, (calls, answered)
        ids += calls
    return ids


def results_of(record) -> dict[str, str]:
    return {p.call_id: p.content[0].text for m in record.messages for p in Message.model_validate(m).parts
            if isinstance(p, ToolResult)}


def run(tmp_path, llm: str):
    return Studio(llm=llm, image_model="test:flat", critic="critic:seed", runs_dir=tmp_path).run(
        "a lake", spec=SPEC, budget={"max_generations": 1, "max_iterations": 4})


def test_anthropic_every_tool_use_gets_its_result(tmp_path, monkeypatch):
    monkeypatch.setenv("ANTHROPIC_API_KEY", TEST_KEYS["anthropic"])
    wire = Wire([anthropic_message(text_block("Two seeds, then a look."),
                                   *[tool_use_block(n, a, id=f"toolu_{k}") for k, (n, a) in enumerate(CALLS)]),
                 anthropic_message(text_block("One lake, misty; the budget allowed one picture."))]
                ).install(monkeypatch, "anthropic")
    result = run(tmp_path, "anthropic:claude-sonnet-4-6")
    assert result.status == "budget_spent" and len(result.attempts) == 1 and wire.exhausted
    assert result.record.presentation.startswith("One lake")
    said = results_of(result.record)
    assert said["toolu_1"].startswith("generate_image ended the run: generation budget spent (1 of 1)")
    assert said["toolu_2"].startswith("not run: the run ended because generation budget spent (1 of 1)")
    assert every_call_answered(result.record) == ["toolu_0", "toolu_1", "toolu_2"]
    # the presentation turn: after the assistant turn with three tool_use blocks, a user turn that
    # opens with their three tool_result blocks
    sent = wire.bodies()[-1]["messages"]
    turn = next(k for k, m in enumerate(sent) if m["role"] == "assistant"
                and any(b["type"] == "tool_use" for b in m["content"]))
    uses = [b["id"] for b in sent[turn]["content"] if b["type"] == "tool_use"]
    answers = [b for b in sent[turn + 1]["content"] if b["type"] == "tool_result"]
    assert uses == [b["tool_use_id"] for b in answers] == ["toolu_0", "toolu_1", "toolu_2"]
    assert [b["is_error"] for b in answers] == [False, True, True]
    assert sent[turn + 1]["content"][:3] == answers and sent[turn + 1]["role"] == "user"


def test_openai_every_tool_call_gets_its_tool_message(tmp_path, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", TEST_KEYS["openai"])
    wire = Wire([chat_completion(tool_calls=[function_call(n, a, id=f"call_{k}") for k, (n, a) in enumerate(CALLS)]),
                 chat_completion("One lake, misty.")]).install(monkeypatch, "openai")
    result = run(tmp_path, "openai:gpt-4o")
    assert result.status == "budget_spent" and wire.exhausted and result.record.presentation == "One lake, misty."
    assert every_call_answered(result.record) == ["call_0", "call_1", "call_2"]
    sent = wire.bodies()[-1]["messages"]
    turn = next(k for k, m in enumerate(sent) if m.get("tool_calls"))
    ids = [c["id"] for c in sent[turn]["tool_calls"]]
    tools = [m for m in sent[turn + 1:turn + 1 + len(ids)]]
    assert [m["role"] for m in tools] == ["tool"] * 3 and [m["tool_call_id"] for m in tools] == ids
    assert tools[2]["content"].startswith("Error: not run: the run ended because generation budget spent (1 of 1)")


def test_a_resumed_run_goes_on_from_the_answered_calls(tmp_path, monkeypatch):
    """The record ends on the results, not on unanswered calls: resumed with more budget, the
    conversation is sent as it was, the calls that did not run said so, and the director goes on."""
    monkeypatch.setenv("OPENAI_API_KEY", TEST_KEYS["openai"])
    Wire([chat_completion(tool_calls=[function_call(n, a, id=f"call_{k}") for k, (n, a) in enumerate(CALLS)]),
          chat_completion("One lake.")]).install(monkeypatch, "openai")
    first = run(tmp_path, "openai:gpt-4o")
    wire = Wire([chat_completion("Nothing more to do.")]).install(monkeypatch, "openai")
    studio = Studio(llm="openai:gpt-4o", image_model="test:flat", critic="critic:seed", runs_dir=tmp_path)
    record = studio.store.load(first.record.run_id)
    record.brief.budget.max_generations = 2
    studio.store.save(record)
    again = studio.resume(first.record.run_id)
    assert again.status == "ended" and wire.exhausted
    sent = wire.bodies()[0]["messages"]
    assert sum(m["role"] == "tool" for m in sent) == 3
    every_call_answered(again.record)
