"""Words due after the budget: the director sets them by rule, so an LLM director is never given a turn
past its budget for them. A FunctionModel-style fake LLM (its reply a function of the conversation)
spends the one round on the shapes; the next thing it is asked is to present the result, which it is
told includes the words typeset without a model."""
from __future__ import annotations

import pytest
from PIL import Image

from agent.core import registry
from agent.core.protocols import Message, TextPart, ToolCall

pytest.importorskip("rapidocr_onnxruntime")
BRIEF = "a red circle and the word SALE at the top"


class FunctionLLM:
    """Draws once; asked again for work, it would typeset (what a good director does), which the run
    must not need; asked to present, it presents. Every conversation it is shown is kept."""

    structured_output = False
    SEEN: list[list[Message]] = []

    def __init__(self, model: str = ""):
        self.name = "fake:function"

    def complete(self, system: str, messages: list[Message], tools) -> Message:
        FunctionLLM.SEEN.append(list(messages))
        last = messages[-1].text
        if "present" in last.lower() and any(p.type == "tool_result" for m in messages for p in m.parts):
            return Message(role="assistant", parts=[TextPart(text="Here is the circle, the word set on it.")])
        drew = any(p.type == "tool_result" for m in messages for p in m.parts)
        call = ToolCall(id=f"c{len(FunctionLLM.SEEN)}", name="typeset_text",
                        arguments={"attempt": 0, "text": "SALE", "placement": "top"}) if drew else \
            ToolCall(id="c0", name="generate_image", arguments={"prompt": "a red circle"})
        return Message(role="assistant", parts=[call])

    def structured(self, system, prompt, schema, images=()):
        raise AssertionError("the rules parser reads the brief of an LLM without structured output")


@pytest.mark.parametrize("budget,stop", [
    ({"max_iterations": 1}, "iteration budget spent (1); then the words typeset without a model (0 denoising "
                            "steps) as attempt(s) 1"),
    ({"max_iterations": 4, "max_denoiser_steps": 1}, "compute budget spent (1 of 1 denoising steps)")])
def test_an_llm_director_gets_no_turn_past_the_budget_for_the_words(tmp_path, budget, stop):
    from agent import Studio
    from agent.surfaces.bench_text import read_words

    FunctionLLM.SEEN.clear()
    with registry.override("image", "test", "tests.test_words_loop:WrongShapes"), \
            registry.override("llm", "fake", "tests.test_director_words:FunctionLLM"):
        result = Studio(llm="fake:function", image_model="test:wrong", critic="critic:detector",
                        runs_dir=tmp_path, mode="agent").run(BRIEF, seed=3, budget=budget)
    record = result.record
    assert [a.typeset for a in record.attempts] == [None, "SALE"]  # the shapes' round, then the words by rule
    assert record.status == "budget_spent" and record.stop_reason == stop, record.stop_reason
    assert record.iterations <= budget["max_iterations"]
    # two turns: the round's, and the presentation; none in between asked for work past the budget
    assert len(FunctionLLM.SEEN) == 2
    told = FunctionLLM.SEEN[-1][-1].text
    assert "typeset by rule, with no model" in told and "attempt 1" in told
    assert record.presentation == "Here is the circle, the word set on it."
    with Image.open(record.attempts[-1].artifact.path) as im:
        assert [t for t, _, _ in read_words(im)] == ["SALE"]
