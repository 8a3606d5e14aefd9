"""A run's last turn and its bill: the director presents what it made (kept in the record, shown as
a message); every LLM call's tokens are recorded, priced and counted against --max-cost; Anthropic
prompt caching marks the tools, system prompt and growing conversation. On recorded wire responses."""
import pytest

from agent import Studio
from agent.core.errors import InputError
from tests import fakes
from tests.llm_wire import (TEST_KEYS, Wire, anthropic_message, chat_completion, function_call, text_block,
                            tool_use_block)

PRESENTATION = ("A misty lake at dawn in soft, cool light: I kept the horizon low so the mist fills the "
                "frame, and changed the seed after the critic found the first attempt flat.")


@pytest.fixture(autouse=True)
def fake_backends(monkeypatch):
    yield from fakes.installed(monkeypatch, approve={31})


def cached(message: dict, read: int, write: int = 0) -> dict:
    message["usage"].update(cache_read_input_tokens=read, cache_creation_input_tokens=write)
    return message


def test_anthropic_director_presents_caches_and_counts_tokens(tmp_path, monkeypatch):
    monkeypatch.setenv("ANTHROPIC_API_KEY", TEST_KEYS["anthropic"])
    events = []
    wire = Wire([
        cached(anthropic_message(tool_use_block("generate_image", {"prompt": "a lake at dawn", "seed": 30},
                                                id="toolu_1")), read=0, write=1500),
        cached(anthropic_message(text_block("Another seed."),
                                 tool_use_block("generate_image", {"prompt": "a lake at dawn, mist", "seed": 31},
                                                id="toolu_2")), read=1500, write=300),
        cached(anthropic_message(text_block(PRESENTATION)), read=1800),
    ]).install(monkeypatch, "anthropic")
    result = Studio(llm="anthropic:claude-sonnet-4-6", image_model="test:flat", critic="critic:seed",
                    runs_dir=tmp_path, on_event=events.append).run("a lake at dawn", spec={"include": []}, seed=1)
    record = result.record
    assert result.approved and wire.exhausted
    # the last turn: asked to present, no tool run; kept in the record and shown as a message
    assert record.presentation == PRESENTATION
    assert any(e.type == "message" and e.data.get("presentation") for e in events)
    last = wire.bodies()[-1]
    assert "Present the result" in last["messages"][-1]["content"][-1]["text"]
    assert record.summary()["presentation"] == PRESENTATION
    # prompt caching: the system prompt, the tools and the end of the conversation are breakpoints
    for body in wire.bodies():
        assert body["system"][0]["cache_control"] == {"type": "ephemeral"}
        assert body["tools"][-1]["cache_control"] == {"type": "ephemeral"}
        assert body["messages"][-1]["content"][-1]["cache_control"] == {"type": "ephemeral"}
    # tokens per call: input (cached ones included), output, cached; priced at Sonnet's rates
    assert [(u["input_tokens"], u["output_tokens"], u["cached_tokens"]) for u in record.usage] == [
        (1600, 20, 0), (1900, 20, 1500), (1900, 20, 1800)]
    first = record.usage[0]
    assert first["cost_usd"] == pytest.approx((100 * 3 + 1500 * 3.75 + 20 * 15) / 1e6)
    assert record.cost_usd == pytest.approx(sum(u["cost_usd"] for u in record.usage))
    assert record.summary()["tokens"] == {"input_tokens": 5400, "output_tokens": 60, "cached_tokens": 3300}


def test_max_cost_counts_llm_tokens(tmp_path, monkeypatch):
    """--max-cost used to see only image costs: a director burning tokens never stopped."""
    monkeypatch.setenv("OPENAI_API_KEY", TEST_KEYS["openai"])
    big = chat_completion(tool_calls=[function_call("generate_image", {"prompt": "a lake", "seed": 30}, id="c1")])
    big["usage"] = {"prompt_tokens": 200_000, "completion_tokens": 1000, "total_tokens": 201_000,
                    "prompt_tokens_details": {"cached_tokens": 150_000, "audio_tokens": 0}}
    wire = Wire([big]).install(monkeypatch, "openai")
    result = Studio(llm="openai:gpt-5.5", image_model="test:flat", critic="critic:seed",
                    runs_dir=tmp_path).run("a lake", spec={"include": []}, budget={"max_cost_usd": 0.2})
    assert len(wire.bodies()) == 1  # the money is spent: no paid turn to present the result
    usage, = result.record.usage
    assert usage["cached_tokens"] == 150_000 and usage["llm"] == "openai:gpt-5.5"
    assert usage["cost_usd"] == pytest.approx((50_000 * 5 + 150_000 * 0.5 + 1000 * 30) / 1e6)
    assert result.status == "budget_spent" and "money budget" in result.record.stop_reason


def test_a_zero_money_budget_spends_nothing_free_back_ends_still_run(tmp_path, monkeypatch):
    """$0 is "spend nothing", not "no limit" and not "make nothing": the free world runs its rounds; a
    priced director is refused before the run starts (no record), the refusal naming it and its price."""
    free = Studio(image_model="test:flat", critic="critic:seed", runs_dir=tmp_path).run(
        "a lake", spec={"include": []}, seed=1, budget={"max_cost_usd": 0, "max_iterations": 2})
    assert len(free.attempts) == 2 and "iteration budget" in free.record.stop_reason and free.record.cost_usd == 0
    monkeypatch.setenv("OPENAI_API_KEY", TEST_KEYS["openai"])
    wire = Wire([]).install(monkeypatch, "openai")
    with pytest.raises(InputError, match=r"^refused: a money budget of \$0 spends nothing, and every call of "
                                         r"openai:gpt-5.5 is billed \(\$5.00 per million input tokens\)"):
        Studio(llm="openai:gpt-5.5", image_model="test:flat", critic="critic:seed",
               runs_dir=tmp_path / "paid").run("a lake", spec={"include": []}, budget={"max_cost_usd": 0})
    assert wire.bodies() == [] and not list((tmp_path / "paid").glob("*/run.json"))  # no run was recorded


def test_a_zero_money_budget_refuses_a_priced_vlm_critic_unsent_and_lets_a_free_llm_run(tmp_path, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", TEST_KEYS["openai"])
    wire = Wire([]).install(monkeypatch, "openai")
    with pytest.raises(InputError, match=r"every call of openai:gpt-5.5 is billed"):
        Studio(image_model="test:flat", critic="critic:detector+vlm@openai:gpt-5.5", runs_dir=tmp_path).run(
            "a lake", spec={"include": []}, seed=1, budget={"max_cost_usd": 0})
    assert wire.bodies() == [] and not list(tmp_path.glob("*/run.json"))
    # a server of your own bills nothing (prices.yaml: openai-compatible default 0): it runs under $0
    reply = chat_completion(tool_calls=[function_call("generate_image", {"prompt": "a lake", "seed": 30})])
    reply["usage"] = {"prompt_tokens": 2000, "completion_tokens": 100, "total_tokens": 2100}
    wire = Wire([reply]).install(monkeypatch, "openai")
    own = Studio(llm="openai-compatible:m@http://127.0.0.1:9/v1", image_model="test:flat", critic="critic:seed",
                 runs_dir=tmp_path).run("a lake", spec={"include": []}, seed=1,
                                        budget={"max_cost_usd": 0, "max_iterations": 1})
    assert len(wire.bodies()) >= 1 and own.attempts and own.record.cost_usd == 0


def test_an_unknown_model_under_a_money_budget_is_charged_the_dearest_rates(tmp_path, monkeypatch):
    """An id the price table does not list (a newer model) is budgeted at the provider's `default`,
    the dearest listed rates, so a money budget never under-counts it."""
    monkeypatch.setenv("OPENAI_API_KEY", TEST_KEYS["openai"])
    big = chat_completion(tool_calls=[function_call("generate_image", {"prompt": "a lake", "seed": 30})])
    big["usage"] = {"prompt_tokens": 20_000, "completion_tokens": 1000, "total_tokens": 21_000}
    Wire([big]).install(monkeypatch, "openai")
    result = Studio(llm="openai:gpt-7", image_model="test:flat", critic="critic:seed",
                    runs_dir=tmp_path).run("a lake", spec={"include": []}, budget={"max_cost_usd": 0.2})
    usage, = result.record.usage
    assert usage["cost_usd"] == pytest.approx((20_000 * 10.0 + 1000 * 50.0) / 1e6)
    assert result.status == "budget_spent" and "money budget" in result.record.stop_reason


def test_offline_planner_writes_its_own_summary(tmp_path):
    fakes.APPROVE_SEEDS.add(12)
    result = Studio(llm="offline", image_model="test:flat", critic="critic:seed", runs_dir=tmp_path).run(
        "a calm lake at dawn", seed=10, budget={"max_iterations": 6})
    text = result.record.presentation
    assert result.approved and text.startswith(f"Delivered attempt {result.best.index}")
    assert "approved by critic:seed" in text and not result.record.usage
