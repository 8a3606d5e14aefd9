"""ScriptedLLM: replaying turns from code, files and functions; recording calls; clear failures."""
from __future__ import annotations

import json

import pytest
from pydantic import BaseModel

from agent.core.errors import ConfigError
from agent.llm import MalformedOutput
from agent.llm.scripted import ScriptedLLM, ScriptExhausted
from agent.core.protocols import LLM, Message, TextPart, ToolCall, ToolSpec
from agent.core.registry import resolve

TOOLS = [ToolSpec(name="refine_prompt", description="refine", parameters={"type": "object", "properties": {}})]
HI = [Message(role="user", parts=[TextPart(text="two red circles")])]


class Colour(BaseModel):
    name: str
    rgb: tuple[int, int, int]


def test_turns_in_code_replay_in_order_and_calls_are_recorded():
    llm = ScriptedLLM([
        {"text": "Refining first.", "tool_calls": [{"name": "refine_prompt", "arguments": {"brief": "x"}}]},
        {"tool_calls": [{"name": "generate_image", "arguments": {"prompt": "p", "seed": 1}, "id": "gen"}]},
        "Done.",
    ])
    assert isinstance(llm, LLM)
    first = llm.complete("system prompt", HI, TOOLS)
    assert first.role == "assistant" and first.text == "Refining first."
    assert first.tool_calls == [ToolCall(id="call_0_0", name="refine_prompt", arguments={"brief": "x"})]
    assert llm.complete("system prompt", HI, TOOLS).tool_calls[0].id == "gen"
    assert llm.complete("system prompt", HI, TOOLS).text == "Done."
    assert llm.exhausted
    assert [c.kind for c in llm.calls] == ["complete"] * 3
    assert llm.calls[0].system == "system prompt" and llm.calls[0].tools == TOOLS
    assert llm.calls[0].messages == HI


def test_recorded_messages_are_snapshots():
    llm = ScriptedLLM(["a", "b"])
    messages = list(HI)
    llm.complete("", messages, [])
    messages.append(Message(role="user", parts=[TextPart(text="more")]))
    llm.complete("", messages, [])
    assert len(llm.calls[0].messages) == 1 and len(llm.calls[1].messages) == 2


def test_running_out_is_a_clear_error():
    llm = ScriptedLLM(["only turn"])
    llm.complete("", HI, [])
    with pytest.raises(ScriptExhausted, match=r"1 turns and all were used; call 2 .*'two red circles'"):
        llm.complete("", HI, [])
    with pytest.raises(ScriptExhausted, match="0 structured replies"):
        llm.structured("", "q", Colour)


def test_yaml_script_through_the_registry(tmp_path):
    script = tmp_path / "demo.yaml"
    script.write_text(
        "turns:\n"
        "  - text: Let me sharpen the prompt.\n"
        "    tool_calls:\n"
        "      - {name: refine_prompt, arguments: {brief: two red circles}}\n"
        "  - All done.\n"
        "structured:\n"
        "  - {name: red, rgb: [200, 30, 30]}\n")
    llm = resolve("llm", f"scripted:{script}")
    assert isinstance(llm, ScriptedLLM) and llm.name == f"scripted:{script}"
    assert llm.complete("", HI, TOOLS).tool_calls[0].arguments == {"brief": "two red circles"}
    assert llm.complete("", HI, TOOLS).text == "All done."
    assert llm.structured("", "which colour?", Colour) == Colour(name="red", rgb=(200, 30, 30))
    assert llm.calls[-1].kind == "structured" and llm.calls[-1].schema_name == "Colour"


def test_json_script_as_a_bare_list(tmp_path):
    script = tmp_path / "turns.json"
    script.write_text(json.dumps(["one", {"text": "two"}]))
    llm = ScriptedLLM(str(script))
    assert [llm.complete("", HI, []).text for _ in range(2)] == ["one", "two"]


def test_bad_scripts_are_config_errors(tmp_path):
    with pytest.raises(ConfigError, match="scripted:PATH"):
        ScriptedLLM("")
    with pytest.raises(ConfigError, match="cannot read"):
        ScriptedLLM(str(tmp_path / "missing.yaml"))
    typo = tmp_path / "typo.yaml"
    typo.write_text("turns:\n  - {text: hi, tool_call: [{name: x}]}\n")
    with pytest.raises(ConfigError, match="not a valid script"):
        ScriptedLLM(str(typo))


def test_string_arguments_are_parsed_like_a_provider_would():
    llm = ScriptedLLM([{"tool_calls": [{"name": "generate_image", "arguments": '{"prompt": "p"}'},
                                       {"name": "generate_image", "arguments": '{"prompt": '}]}])
    good, bad = llm.complete("", HI, TOOLS).tool_calls
    assert good.arguments == {"prompt": "p"} and good.error is None
    assert bad.arguments == {} and "not valid JSON" in bad.error


def test_function_model():
    def reply(system, messages, tools):
        return f"{len(messages)} messages, {len(tools)} tools"

    llm = ScriptedLLM(reply, structured=lambda system, prompt, schema, images: {"name": prompt, "rgb": [1, 2, 3]})
    assert llm.complete("", HI, TOOLS).text == "1 messages, 1 tools"
    assert llm.structured("", "teal", Colour).name == "teal"
    assert llm.name == "scripted:reply" and len(llm.calls) == 2


def test_structured_replies_are_validated(tmp_path):
    image = tmp_path / "x.png"
    llm = ScriptedLLM([], structured=[Colour(name="red", rgb=(1, 2, 3)), {"name": "red"}, "not json at all"])
    assert llm.structured("", "q", Colour, [image]).name == "red"
    assert llm.calls[0].images == [image]
    with pytest.raises(MalformedOutput, match="rgb"):
        llm.structured("", "q", Colour)
    with pytest.raises(MalformedOutput, match="no JSON object"):
        llm.structured("", "q", Colour)
