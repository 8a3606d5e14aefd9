"""Default model names live in one place; whether an LLM is asked for the brief's scene spec is a
capability its class declares, not something read from its name (issue 13, item 6)."""
import pytest

from agent import Studio
from agent.core import defaults, registry
from agent.core.spec_parser import parse_spec
from agent.core.types import RunRecord
from agent.surfaces.api import spec_for

ASKED: list[str] = []


class RulesOnly:
    """An LLM without structured output, under a name that says nothing of it."""

    structured_output = False

    def __init__(self, model: str = ""):
        self.name = "rules-only"

    def structured(self, system, prompt, schema, images=()):
        ASKED.append(prompt)
        raise AssertionError("a model without structured output was asked")


class Answers:
    """An LLM with structured output, under a name that starts like the offline planner's."""

    structured_output = True

    def __init__(self, model: str = ""):
        self.name = "offline-but-smart"

    def structured(self, system, prompt, schema, images=()):
        ASKED.append(prompt)
        return {"include": [{"class": "star", "count": 3, "color": "green"}]}


@pytest.fixture
def providers():
    ASKED.clear()
    with registry.override("llm", "rules", "tests.test_defaults:RulesOnly",
                           **{"offline-smart": "tests.test_defaults:Answers"}):
        yield


def test_the_spec_comes_from_the_declared_capability_not_the_name(providers):
    text = "two red circles left of a blue square"
    assert spec_for(text, "rules:x") == parse_spec(text) and ASKED == []
    derived = spec_for(text, "offline-smart:x")
    assert ASKED and [(o.cls, o.count, o.color) for o in derived.include] == [("star", 3, "green")]
    assert spec_for(text, "offline") == parse_spec(text)


def test_every_default_comes_from_one_place(tmp_path):
    studio = Studio(runs_dir=tmp_path)
    record = RunRecord(run_id="r", brief={"text": "a lake"})
    assert (studio.llm, studio.image_model, studio.critic) == \
        (defaults.DEFAULT_LLM, defaults.DEFAULT_IMAGE_MODEL, defaults.DEFAULT_CRITIC)
    assert (record.llm, record.image_model, record.critic) == \
        (defaults.DEFAULT_LLM, defaults.DEFAULT_IMAGE_MODEL, defaults.DEFAULT_CRITIC)
