"""Tokens each LLM / VLM call used, reported by the providers and collected by whoever runs them.

A provider calls `report(Usage(...))` after every API call. A run opens `metering(sink)` around
itself (the surface does, beside the money budget), so the sink prices each call, charges it to the
run's budget and keeps it in the run record. The sink lives in a ContextVar, as the money budget
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


_sink: contextvars.ContextVar[Callable[[Usage], None] | None] = contextvars.ContextVar("atelier_usage", default=None)


@contextmanager
def metering(sink: Callable[[Usage], None] | None) -> Iterator[None]:
    token = _sink.set(sink)
    try:
        yield
    finally:
        _sink.reset(token)


def report(usage: Usage) -> None:
    if (sink := _sink.get()) is not None:
        sink(usage)
