"""The price table (prices.yaml, overridable with ATELIER_PRICES) and the money budget of a run.

The director opens `spending_limit(brief.budget.max_cost_usd)` around a run; every remote back end
calls `before_paying(estimate)` before a paid call and `paid(cost)` after it. A call that would
overspend raises BudgetSpent (a StopRun), so the run stops instead of the tool erroring. The limit
lives in a ContextVar because back ends are shared between runs (the registry caches them); code
that runs tools in a thread pool must copy the context (`contextvars.copy_context().run`).
"""
from __future__ import annotations

import contextvars
import copy
import functools
import os
import re
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator, Protocol, runtime_checkable

import yaml

from agent.core.errors import BudgetSpent, ConfigError, InputError

PRICES_ENV = "ATELIER_PRICES"
DEFAULT_PRICES = Path(__file__).with_name("prices.yaml")


def _merge(base: dict, over: dict) -> dict:
    out = dict(base)
    for key, value in over.items():
        out[key] = _merge(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


def _read(path: Path) -> dict:
    try:
        stamp = path.stat().st_mtime_ns
    except OSError as e:
        raise ConfigError(f"cannot read the price table {path}: {e}") from None
    return _parsed(path, stamp)


@functools.lru_cache(maxsize=8)  # parsed once per version of the file: an edit still applies at once
def _parsed(path: Path, stamp: int) -> dict:
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except (OSError, yaml.YAMLError) as e:
        raise ConfigError(f"cannot read the price table {path}: {e}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"the price table {path} must be a mapping of service -> prices")
    return data


def load_prices() -> dict[str, Any]:
    """The shipped table with the user's file (ATELIER_PRICES) merged over it. Looked at on every
    call (parsed again only when a file changes), so an edit takes effect without a restart."""
    prices = copy.deepcopy(_read(DEFAULT_PRICES))
    if override := os.environ.get(PRICES_ENV):
        prices = _merge(prices, _read(Path(override)))
    return prices


def price(*keys: str, default: Any = None) -> Any:
    """`price("stability", "generate", "core")` -> 0.03; `default` when any key is missing."""
    node: Any = load_prices()
    for key in keys:
        if not isinstance(node, dict) or key not in node:
            return default
        node = node[key]
    return node


def token_rates(provider: str, model: str) -> dict | None:
    """USD per million tokens for `model` of `provider` (the table's `llm:` section), or None."""
    table = price("llm", provider, default={}) or {}
    base = model.split("@")[0]
    alias = re.sub(r"-(\d{8}|\d{4}-\d{2}-\d{2})$", "", base)  # a dated snapshot costs what its alias does
    rates = table.get(model) or table.get(base) or table.get(alias) or table.get("default")
    return rates if isinstance(rates, dict) else None


def token_cost(usage) -> float | None:
    """USD for one LLM call's `Usage` (agent.core.usage), or None when the table has no price."""
    rates = token_rates(usage.provider, usage.model)
    if rates is None:
        return None
    long_prompt = rates.get("long_prompt")
    if isinstance(long_prompt, dict) and usage.input_tokens > long_prompt.get("threshold_tokens", float("inf")):
        rates = long_prompt
    fresh = max(0, usage.input_tokens - usage.cached_tokens - usage.cache_write_tokens)
    return (fresh * rates.get("input", 0.0) + usage.cached_tokens * rates.get("cached", rates.get("input", 0.0))
            + usage.cache_write_tokens * rates.get("cache_write", rates.get("input", 0.0))
            + usage.output_tokens * rates.get("output", 0.0)) / 1e6


# ---- the money budget --------------------------------------------------------------------------
@dataclass
class Wallet:
    limit_usd: float
    spent_usd: float = 0.0

    def check(self, estimate_usd: float, what: str) -> None:
        if self.spent_usd + estimate_usd > self.limit_usd + 1e-9:
            raise BudgetSpent(f"money budget spent: ${self.spent_usd:.3f} of ${self.limit_usd:.2f} used; "
                              f"{what} would cost about ${estimate_usd:.3f} more", budget="money")

    def charge(self, cost_usd: float) -> None:
        self.spent_usd += cost_usd


_wallet: contextvars.ContextVar[Wallet | None] = contextvars.ContextVar("atelier_wallet", default=None)


@contextmanager
def spending_limit(limit_usd: float | None) -> Iterator[Wallet | None]:
    """Within this block remote calls are charged to one wallet; `None` means no money limit."""
    wallet = None if limit_usd is None else Wallet(float(limit_usd))
    token = _wallet.set(wallet)
    try:
        yield wallet
    finally:
        _wallet.reset(token)


@runtime_checkable
class Priced(Protocol):
    """A paid back end declares what its cheapest call costs, from the price table (None: the table
    has no price for it), so a money budget that cannot pay for a single call is refused before the
    run starts (`check_affordable`) rather than ending it with nothing made."""

    def least_cost_usd(self) -> float | None: ...


def _unpriced(what: str) -> ConfigError:
    return ConfigError(f"{what} has no price in the price table, so a money budget cannot be kept: "
                       f"add its price to a YAML file named by {PRICES_ENV} (merged over "
                       f"{DEFAULT_PRICES.name}), or run without a money budget")


def check_affordable(backend: Any, spec: str, limit_usd: float | None) -> None:
    """Before a run: refuse a money budget that cannot pay for one call of `backend` (a free back end,
    one that does not declare `Priced`, always passes). InputError (a budget of $0 is "spend nothing",
    and a paid back end can make nothing then), or ConfigError when the table has no price for it."""
    if limit_usd is None or not isinstance(backend, Priced):
        return
    cost = backend.least_cost_usd()
    if cost is None:
        raise _unpriced(spec)
    if cost > limit_usd + 1e-9:
        raise InputError(f"refused: a money budget of ${limit_usd:.2f} cannot pay for one call of {spec} "
                         f"(at least ${cost:.3f}); raise it (--max-cost) or use a free back end (local:shapes, "
                         f"local:shapes-video)")


def check_llm_affordable(llm: str, limit_usd: float | None) -> None:
    """Before a run: refuse a money budget of $0 (or one with nothing left) for an LLM whose every call is
    billed, as `before_tokens` would refuse its first call; one of a provider the table does not meter
    (offline, scripted, a plugin's) or with rates of 0 (a server of your own) passes."""
    provider, _, model = llm.partition(":")
    if limit_usd is None or not isinstance(price("llm", provider), dict):
        return
    rates = token_rates(provider, model)
    if rates is None:
        raise _unpriced(llm)
    billed = [r for r in (rates.get("input", 0.0), rates.get("output", 0.0)) if r > 0]
    if billed and limit_usd <= 0:
        raise InputError(f"refused: a money budget of $0 spends nothing, and every call of {llm} is billed "
                         f"(${rates.get('input', 0.0):.2f} per million input tokens); raise it (--max-cost) or "
                         f"use an LLM with no token bill (offline, openai-compatible)")


def before_paying(estimate_usd: float | None, what: str) -> None:
    """Refuse a paid call that would overspend the run's money budget. `None` means the price is
    unknown (not in the price table): with a budget set that is refused too, since nobody can
    say whether the call fits; without one the call goes ahead."""
    if (wallet := _wallet.get()) is None:
        return
    if estimate_usd is None:
        raise _unpriced(what)
    wallet.check(estimate_usd, what)


def before_tokens(llm: str, provider: str, model: str) -> None:
    """Refuse an LLM / VLM call the money budget cannot pay for, before it is sent (agent.core.usage's
    gate): a model the table has no token price for, and a priced one once nothing is left, so a budget
    of $0 ("spend nothing") never pays for a call. A free one (rates of 0: a server of your own) goes on."""
    if (wallet := _wallet.get()) is None:
        return
    rates = token_rates(provider, model)
    if rates is None:
        raise BudgetSpent(f"{llm} has no token price in the price table, so a money budget cannot be kept: "
                          f"add it under `llm:` in a YAML file named by {PRICES_ENV}, or run without a money "
                          f"budget", budget="money")
    if wallet.spent_usd >= wallet.limit_usd and (rates.get("input", 0.0) > 0 or rates.get("output", 0.0) > 0):
        raise BudgetSpent(f"money budget spent: ${wallet.spent_usd:.3f} of ${wallet.limit_usd:.2f} used; {llm} "
                          f"costs ${rates.get('input', 0.0):.2f} per million input tokens and "
                          f"${rates.get('output', 0.0):.2f} per million output (an LLM with no token bill, "
                          f"offline or openai-compatible, runs under any budget)", budget="money")


def priced() -> bool:
    """Whether a money budget is being kept (then unknown prices are refused)."""
    return _wallet.get() is not None


def paid(cost_usd: float) -> None:
    if (wallet := _wallet.get()) is not None:
        wallet.charge(cost_usd)
