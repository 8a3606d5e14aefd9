"""Optional abilities are declared on the Protocols (agent/core/protocols.py, agent/core/plans.py), and
callers ask the declaration: a back end, critic or LLM that lacks one is treated as not having it."""
from __future__ import annotations

import pytest

from agent.core import registry
from agent.core.errors import ConfigError
from agent.core.plans import Planner
from agent.core.protocols import LLM, ChecksReady, Critic, Presents, check_ready
from agent.llm.offline import OfflinePlanner
from agent.llm.scripted import ScriptedLLM
from agent.run.planning import LLMPlanner
from tests.fakes import FlatBackend, SeedCritic


def test_the_offline_planner_plans_and_presents_a_scripted_llm_does_neither():
    offline, scripted = OfflinePlanner(), ScriptedLLM([])
    assert isinstance(offline, LLM) and isinstance(offline, Planner) and isinstance(offline, Presents)
    assert isinstance(scripted, LLM) and not isinstance(scripted, Planner) and not isinstance(scripted, Presents)
    assert isinstance(LLMPlanner(scripted), Planner)


def test_structured_output_is_read_off_the_class_without_building_it(monkeypatch):
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    monkeypatch.delenv("ANTHROPIC_AUTH_TOKEN", raising=False)
    assert registry.structured_output("anthropic:claude-sonnet-4-6")  # no key: building it would fail
    assert not registry.structured_output("offline")
    with pytest.raises(ConfigError, match="anthropic"):
        registry.resolve("llm", "anthropic:claude-sonnet-4-6")


def _scripted(model):
    return ScriptedLLM([])


def test_an_llm_made_by_a_factory_function_is_built_and_asked():
    with registry.override("llm", "madebyfn", "tests.test_capabilities:_scripted"):
        assert registry.structured_output("madebyfn:x") is False


def test_a_critic_declares_the_kinds_it_judges():
    assert isinstance(SeedCritic(), Critic) and SeedCritic.kinds == ("image",)

    class Unlabelled:
        name = "critic:unlabelled"

        def critique(self, artifact, brief_text, spec): ...

    assert not isinstance(Unlabelled(), Critic)


def test_check_ready_asks_only_a_back_end_that_declares_it():
    class Missing(FlatBackend):
        def check_ready(self) -> None:
            raise ConfigError("test:missing needs its weights: run atelier models pull test")

    assert not isinstance(FlatBackend(), ChecksReady)
    check_ready(FlatBackend())  # nothing to check: taken as ready
    assert isinstance(Missing(), ChecksReady)
    with pytest.raises(ConfigError, match="needs its weights"):
        check_ready(Missing())


class KindlessCritic:
    name = "critic:kindless"

    def critique(self, artifact, brief_text, spec): ...


def test_a_critic_that_does_not_declare_its_kinds_is_refused_before_anything_runs(tmp_path, monkeypatch):
    from agent import Studio
    from agent.critics import CRITICS

    monkeypatch.setitem(CRITICS, "kindless", "tests.test_capabilities:KindlessCritic")
    with registry.override("image", "test", "tests.fakes:FlatBackend"):
        studio = Studio(image_model="test:flat", critic="critic:kindless", runs_dir=tmp_path / "runs")
        with pytest.raises(ConfigError, match=r"critic:kindless is not a critic: it needs name, kinds"):
            studio.run("a lake", seed=1)
    assert not any((tmp_path / "runs").glob("*/run.json"))  # nothing made, nothing recorded


class _Undeclared:  # a plugin's LLM written before structured_output was declared
    name = "undeclared"

    def __init__(self, model): ...


def test_a_plugin_llm_that_does_not_declare_structured_output_is_refused_by_name(tmp_path):
    from agent import Studio
    with registry.override("llm", "undeclared", "tests.test_capabilities:_Undeclared"), \
            registry.override("image", "test", "tests.fakes:FlatBackend"):
        with pytest.raises(ConfigError, match=r"^undeclared:x is not an LLM: it needs .*structured_output"):
            registry.structured_output("undeclared:x")
        studio = Studio(llm="undeclared:x", image_model="test:flat", critic="critic:detector",
                        runs_dir=tmp_path / "runs")
        with pytest.raises(ConfigError, match="undeclared:x is not an LLM: it needs .*structured_output"):
            studio.run("a red circle", seed=1)
    assert not any((tmp_path / "runs").glob("*/run.json"))  # nothing made, nothing recorded


def test_an_mcp_direct_call_with_a_critic_that_does_not_declare_its_kinds_is_one_line(tmp_path, monkeypatch):
    pytest.importorskip("mcp", reason="the mcp SDK is not installed (pip install 'atelier[mcp]')")
    import anyio
    from mcp import Client

    from agent.critics import CRITICS
    from agent.surfaces.mcp_server import build_server

    monkeypatch.setitem(CRITICS, "kindless", "tests.test_capabilities:KindlessCritic")
    with registry.override("image", "test", "tests.fakes:FlatBackend"):
        server = build_server(tmp_path / "runs", image_model="test:flat", critic="critic:kindless")

        async def main():
            async with Client(server) as client:
                r = await client.call_tool("generate_image", {"prompt": "a red circle", "seed": 1})
                assert r.is_error
                text = r.content[0].text
                assert "\n" not in text and "critic:kindless is not a critic: it needs name, kinds" in text, text
                assert "AttributeError" not in text

        anyio.run(main)
    assert not any((tmp_path / "runs").glob("*/run.json"))  # refused before anything was made
