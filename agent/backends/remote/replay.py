"""Recorded answers in place of a service: an httpx transport that replays responses in order and
keeps every request it was sent, plus a fake clock. For offline tests and demos; nothing here
touches the network."""
from __future__ import annotations

from typing import Callable, Union

import httpx

Step = Union[httpx.Response, Exception, Callable[[httpx.Request], httpx.Response]]


class Replay:
    """`Replay(("POST", "/v1/predictions", response), ("GET", "/v1/predictions/x", TimeoutError))`:
    each request must match the next step's method and URL substring, or the test fails loudly."""

    def __init__(self, *steps: tuple[str, str, Step]):
        self.steps = list(steps)
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        request.read()
        self.requests.append(request)
        if not self.steps:
            raise AssertionError(f"unexpected request {request.method} {request.url}")
        method, fragment, answer = self.steps.pop(0)
        if request.method != method or fragment not in str(request.url):
            raise AssertionError(f"expected {method} …{fragment}, got {request.method} {request.url}")
        if isinstance(answer, Exception):
            raise answer
        if isinstance(answer, httpx.Response):
            return answer
        return answer(request)

    def client(self) -> httpx.Client:
        return httpx.Client(transport=httpx.MockTransport(self))

    @property
    def done(self) -> bool:
        return not self.steps


class FakeClock:
    """`sleep` advances `now` instead of waiting, so polling and backoff run instantly."""

    def __init__(self) -> None:
        self.t, self.sleeps = 0.0, []

    def now(self) -> float:
        return self.t

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.t += seconds
