"""Recorded LLM API responses and a mock HTTP transport, reusable by any test that drives an LLM
provider without the network.

    wire = Wire([fixture("anthropic/tool_use_refine.json"), fixture("anthropic/final_text.json")])
    wire.install(monkeypatch)               # every provider the registry builds now uses it
    llm = AnthropicLLM("claude-sonnet-4-6")  # or Director(... llm="anthropic:...")
    ...
    wire.bodies()                            # the JSON bodies the SDK sent, in order

The official SDKs (anthropic 2.x, openai 3.x) run on `httpx2`, so the mock is an
`httpx2.MockTransport`; the openai SDK also accepts an `httpx.Client`, anthropic does not.
A response is a dict (a 200 JSON body), a `(status, body)` or `(status, body, headers)` tuple, or an
`httpx2.Response`. Builders below make the variations the recorded fixtures do not cover."""
from __future__ import annotations

import contextlib
import json
from pathlib import Path
from typing import Any, Iterable

import httpx2

FIXTURES = Path(__file__).parent / "fixtures"
TEST_KEYS = {"anthropic": "sk-ant-api03-TESTKEY-never-real-0123456789abcdef",
             "openai": "sk-test-TESTKEY-never-real-0123456789abcd3456"}
# Real responses carry these; the SDKs surface them as `request_id`.
REQUEST_ID_HEADERS = {"anthropic": "request-id", "openai": "x-request-id"}


def fixture(name: str) -> Any:
    """A recorded response body from tests/fixtures/ (e.g. "openai/final_text.json")."""
    return json.loads((FIXTURES / name).read_text())


class Wire:
    """Replays `responses` in order, one per HTTP request, and records every request."""

    def __init__(self, responses: Iterable[Any] = ()):
        self.responses = list(responses)
        self.requests: list[httpx2.Request] = []

    def handler(self, request: httpx2.Request) -> httpx2.Response:
        self.requests.append(request)
        if not self.responses:
            # Not an exception: the SDKs would turn that into a connection error and retry.
            return httpx2.Response(418, headers={"x-should-retry": "false"}, json={
                "type": "error", "error": {"type": "test_error", "message":
                                           f"Wire: no recorded response left for request {len(self.requests)}"}})
        return _response(self.responses.pop(0))

    def client(self) -> httpx2.Client:
        return httpx2.Client(transport=httpx2.MockTransport(self.handler))

    def install(self, monkeypatch, *providers: str) -> "Wire":
        """Route the named providers' ("anthropic", "openai"; default both) SDK clients through this
        wire, and clear the registry's cache so `resolve("llm", ...)` builds fresh ones."""
        import importlib

        from agent.core.registry import resolve

        for name in providers or ("anthropic", "openai"):
            module = importlib.import_module(f"agent.llm.{name}")
            monkeypatch.setattr(module, "_default_http_client", self.client)
        resolve.cache_clear()
        monkeypatch.setattr(_CACHE_RESET, "token", object())  # its undo empties the cache again
        return self

    def bodies(self) -> list[dict[str, Any]]:
        return [json.loads(r.content) for r in self.requests]

    @property
    def exhausted(self) -> bool:
        return not self.responses


class _CacheReset:
    """monkeypatch undoes a patch by setting the attribute back; setting this one empties the
    registry's cache, so a provider built on a mock transport never outlives its test."""

    def __setattr__(self, name: str, value: Any) -> None:
        from agent.core.registry import resolve

        resolve.cache_clear()
        object.__setattr__(self, name, value)


_CACHE_RESET = _CacheReset()
_CACHE_RESET.token = None


def _response(spec: Any) -> httpx2.Response:
    if isinstance(spec, httpx2.Response):
        return spec
    status, body, headers = (200, spec, {}) if isinstance(spec, dict) else (tuple(spec) + ({},))[:3]
    return httpx2.Response(status, headers=headers, json=body)


# ---- Anthropic Messages API ---------------------------------------------------------------------
def anthropic_message(*content: dict[str, Any], stop_reason: str | None = None,
                      model: str = "claude-sonnet-4-6", id: str = "msg_01TestMessage") -> dict[str, Any]:
    """A Messages API response body holding the given content blocks."""
    if stop_reason is None:
        stop_reason = "tool_use" if any(b["type"] == "tool_use" for b in content) else "end_turn"
    return {"id": id, "type": "message", "role": "assistant", "model": model, "content": list(content),
            "stop_reason": stop_reason, "stop_sequence": None,
            "usage": {"input_tokens": 100, "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0,
                      "output_tokens": 20, "service_tier": "standard"}}


def text_block(text: str) -> dict[str, Any]:
    return {"type": "text", "text": text}


def tool_use_block(name: str, input: Any, id: str = "toolu_01TestToolUse") -> dict[str, Any]:
    return {"type": "tool_use", "id": id, "name": name, "input": input}


def anthropic_error(status: int, type: str, message: str, headers: dict[str, str] | None = None) -> tuple:
    body = {"type": "error", "error": {"type": type, "message": message}, "request_id": "req_011CTestError"}
    return status, body, {"request-id": "req_011CTestError", **(headers or {})}


# ---- OpenAI chat completions --------------------------------------------------------------------
def chat_completion(content: str | None = None, tool_calls: Iterable[dict[str, Any]] = (),
                    finish_reason: str | None = None, model: str = "gpt-4o-2024-08-06") -> dict[str, Any]:
    tool_calls = list(tool_calls)
    message: dict[str, Any] = {"role": "assistant", "content": content, "refusal": None, "annotations": []}
    if tool_calls:
        message["tool_calls"] = tool_calls
    return {"id": "chatcmpl-TestCompletion", "object": "chat.completion", "created": 1741570283, "model": model,
            "choices": [{"index": 0, "message": message, "logprobs": None,
                         "finish_reason": finish_reason or ("tool_calls" if tool_calls else "stop")}],
            "usage": {"prompt_tokens": 100, "completion_tokens": 20, "total_tokens": 120},
            "system_fingerprint": "fp_test"}


def function_call(name: str, arguments: dict[str, Any] | str, id: str = "call_TestToolCall") -> dict[str, Any]:
    """A tool call as OpenAI sends it: arguments are a JSON *string* (pass a str to send it raw)."""
    return {"id": id, "type": "function",
            "function": {"name": name, "arguments": arguments if isinstance(arguments, str) else json.dumps(arguments)}}


def openai_error(status: int, message: str, type: str = "invalid_request_error", code: str | None = None,
                 headers: dict[str, str] | None = None) -> tuple:
    body = {"error": {"message": message, "type": type, "param": None, "code": code}}
    return status, body, {"x-request-id": "req_test_openai_error", **(headers or {})}


# ---- images ----------------------------------------------------------------------------------------
def tiny_png(path: Path, color: tuple[int, int, int] = (200, 30, 30)) -> Path:
    """A small real PNG, for image content in requests."""
    from PIL import Image

    Image.new("RGB", (16, 16), color).save(path)
    return path


@contextlib.contextmanager
def loopback_server(respond):
    """A real HTTP server on 127.0.0.1 (a free port) for the length of the block: every POST is answered
    by `respond(headers) -> (status, JSON body)`. Yields the server, with `.url` its /v1 base."""
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            status, reply = respond(self.headers)
            body = json.dumps(reply).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    server.url = f"http://127.0.0.1:{server.server_address[1]}/v1"
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
