"""A money budget that cannot pay for one call of a paid back end is refused before the run starts: no
record, one line naming the back end and its price, `atelier run` exits 2. A budget of $0 is "spend
nothing": free back ends run under it (tests/test_director_present.py), a paid one can make nothing."""
from __future__ import annotations

import pytest
from typer.testing import CliRunner

from agent import Studio
from agent.backends.remote import prices
from agent.backends.remote.openai_images import OpenAIImages
from agent.backends.remote.replicate import ReplicateImages
from agent.backends.remote.runway import RunwayVideo
from agent.backends.remote.stability import StabilityImages
from agent.core.errors import ConfigError, InputError
from agent.surfaces.cli import app
from tests import fakes
from tests.llm_wire import TEST_KEYS


@pytest.fixture(autouse=True)
def fake_backends(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", TEST_KEYS["openai"])
    yield from fakes.installed(monkeypatch, approve={8})


def test_each_paid_back_end_declares_its_cheapest_call_from_the_price_table():
    backends = [OpenAIImages("gpt-image-2", api_key="k"), StabilityImages("core", api_key="k"),
                ReplicateImages("black-forest-labs/flux-schnell", api_key="k"), RunwayVideo("gen4_turbo", api_key="k")]
    for backend in backends:
        assert isinstance(backend, prices.Priced)
        cost = backend.least_cost_usd()
        assert cost is not None and cost > 0, backend
    assert not isinstance(fakes.FlatBackend(), prices.Priced)  # a free back end declares nothing


def test_a_budget_too_small_for_one_paid_call_is_refused_and_a_free_back_end_passes():
    backend = OpenAIImages("gpt-image-2", api_key="k")
    cheapest = backend.least_cost_usd()
    with pytest.raises(InputError, match=r"^refused: a money budget of \$0.00 cannot pay for one call of "
                                         r"openai:gpt-image-2 \(at least \$"):
        prices.check_affordable(backend, "openai:gpt-image-2", 0.0)
    prices.check_affordable(backend, "openai:gpt-image-2", cheapest)  # exactly one: it may run
    prices.check_affordable(backend, "openai:gpt-image-2", None)  # no money budget: nothing to keep
    prices.check_affordable(fakes.FlatBackend(), "test:flat", 0.0)


def test_a_paid_back_end_the_price_table_does_not_list_is_refused_under_any_money_budget():
    unlisted = OpenAIImages("gpt-image-99", api_key="k")
    with pytest.raises(ConfigError, match="openai:gpt-image-99 has no price in the price table"):
        prices.check_affordable(unlisted, "openai:gpt-image-99", 5.0)


def test_a_zero_budget_with_a_paid_image_model_is_refused_before_a_record(tmp_path):
    with pytest.raises(InputError, match=r"^refused: a money budget of \$0.00 cannot pay for one call of "
                                         r"openai:gpt-image-2"):
        Studio(image_model="openai:gpt-image-2", critic="critic:seed", runs_dir=tmp_path).run(
            "a lake", seed=1, budget={"max_cost_usd": 0})
    assert not list(tmp_path.glob("*/run.json"))


def test_atelier_run_says_it_was_refused_and_exits_2(tmp_path):
    r = CliRunner().invoke(app, ["run", "a lake", "--image-model", "openai:gpt-image-2", "--critic", "critic:seed",
                                 "--max-cost", "0", "--out", str(tmp_path / "runs"), "--local", "--json"])
    lines = [line for line in r.stderr.splitlines() if line.strip()]
    assert r.exit_code == 2 and len(lines) == 1 and "refused: a money budget of $0.00" in lines[0], r.stderr
    assert not list((tmp_path / "runs").glob("*/run.json"))
