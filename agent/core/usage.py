"""Tokens each LLM / VLM call used, reported by the providers and collected by whoever runs them.

A provider calls `before_call(...)` before every API call and `report(Usage(...))` after it. A run
opens `metering(sink, gate)` around itself (the surface does, beside the money budget), so the gate may
refuse a call before it is paid for and the sink prices each call, charges it to the run's budget and
keeps it in the run record. The sink lives in a ContextVar, as the money budget
does: providers are shared between runs, and code that runs tools in a thread pool copies the context.
"""
from __future__ import annotations

import contextvars
from contextlib import contextmanager
from typing import Callable, Iterator

from pydantic import BaseModel


class Usage(BaseModel):
    llm: str  # "anthropic:claude-sonnet-4-6"
    provider: str  # the price table's section: anthropic, openai, openai-compatible
    model: str
    call: str = "complete"  # complete | structured
    input_tokens: int = 0  # all input tokens, cached ones included
    output_tokens: int = 0
    cached_tokens: int = 0  # input read from the provider's prompt cache
    cache_write_tokens: int = 0  # input written to it (Anthropic bills these above the input rate)
    cost_usd: float | None = None  # set by the sink; None when the price table has no price


# (llm, provider, model) -> None, or raises to refuse the call before it is sent (a money budget with
# nothing left refuses a priced model: a budget of $0 is "spend nothing", not "stop after the first bill")
Gate = Callable[[str, str, str], None]
_sink: contextvars.ContextVar[Callable[[Usage], None] | None] = contextvars.ContextVar("atelier_usage", default=None)
_gate: contextvars.ContextVar[Gate | None] = contextvars.ContextVar("atelier_usage_gate", default=None)


@contextmanager
def metering(sink: Callable[[Usage], None] | None, gate: Gate | None = None) -> Iterator[None]:
    tokens = _sink.set(sink), _gate.set(gate)
    try:
        yield
    finally:
        _sink.reset(tokens[0])
        _gate.reset(tokens[1])


def before_call(llm: str, provider: str, model: str) -> None:
    """Asked by a provider before every API call (the run's gate may refuse it); `provider` and
    `model` as its Usage will say."""
    if (gate := _gate.get()) is not None:
        gate(llm, provider, model)


def report(usage: Usage) -> None:
    if (sink := _sink.get()) is not None:
        sink(usage)
