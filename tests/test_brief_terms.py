"""The brief's negative prompt and style reach the image back end; refine_prompt's proposed negative
prompt is kept and used (issue 13, item 4)."""
import pytest

from agent import Studio
from agent.core import registry
from agent.core.artifacts import read_metadata
from agent.llm.scripted import ScriptedLLM
from tests import fakes


@pytest.fixture(autouse=True)
def fake_backends(monkeypatch):
    yield from fakes.installed(monkeypatch, approve=())


_LLM = None


def _fixed(model):
    return _LLM


def _run(tmp_path, monkeypatch, steps, **brief):
    monkeypatch.setattr("tests.test_brief_terms._LLM", ScriptedLLM(steps))
    with registry.override("llm", "fixed", "tests.test_brief_terms:_fixed"):
        studio = Studio(llm="fixed:x", image_model="test:flat", critic="critic:seed", runs_dir=tmp_path / "runs")
        return studio.run("a lake", seed=1, budget={"max_iterations": len(steps)}, **brief)


def _requests(result):
    return [read_metadata(a.artifact.path)["request"] for a in result.attempts]


def test_the_briefs_negative_prompt_and_style_reach_generate_and_edit(tmp_path, monkeypatch):
    result = _run(tmp_path, monkeypatch, [
        {"tool_calls": [{"name": "generate_image", "arguments": {"prompt": "a lake at dawn"}}]},
        {"tool_calls": [{"name": "generate_image", "arguments": {"prompt": "a lake, Watercolor",
                                                                 "negative_prompt": "blurry"}}]},
        {"tool_calls": [{"name": "edit_image", "arguments": {"attempt": 0, "prompt": "a lake at dusk"}}]},
    ], negative_prompt="text, watermark", style="watercolor")
    first, second, edit = _requests(result)
    assert first["prompt"] == "a lake at dawn, watercolor" and first["negative_prompt"] == "text, watermark"
    assert second["prompt"] == "a lake, Watercolor"  # named already: not added twice
    assert second["negative_prompt"] == "blurry, text, watermark"
    assert edit["prompt"] == "a lake at dusk, watercolor" and edit["negative_prompt"] == "text, watermark"


def test_refine_prompt_keeps_the_negative_prompt_it_proposes(tmp_path, monkeypatch):
    result = _run(tmp_path, monkeypatch, [
        {"tool_calls": [{"name": "refine_prompt", "arguments": {"prompt": "a lake at dawn, mist",
                                                                "negative_prompt": "people, boats"}}]},
        {"tool_calls": [{"name": "generate_image", "arguments": {"prompt": "a lake at dawn, mist"}}]},
    ])
    assert result.record.refined_negative_prompt == "people, boats"
    assert _requests(result)[0]["negative_prompt"] == "people, boats"
