"""`openai:MODEL` and `openai-compatible:MODEL@BASE_URL` → chat completions with function calling,
through the official SDK (which reads OPENAI_API_KEY / OPENAI_BASE_URL and owns the retries,
honouring retry-after). The compatible variant serves Ollama, vLLM, llama.cpp and LM Studio."""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Sequence

import openai
from pydantic import BaseModel

from agent.core.defaults import default_model
from agent.core.errors import ConfigError, ServiceError
from agent.core.usage import Usage, before_call, report
from agent.core.trust import llm_key_for, server_url
from agent.llm import (CallDeadlineSpent, MalformedOutput, ReplyCutOff, bound_to_deadline, call_deadline,
                       encode_image, llm_total_deadline, media_type_of, more_tokens, parse_arguments,
                       parse_structured, per_try_timeout, sdk_error, tool_result_text)
from agent.llm.images import OPENAI, fit_images
from agent.core.protocols import ImagePart, Message, Part, TextPart, ToolCall, ToolResult, ToolSpec

# Used when a server rejects `response_format: json_schema`; glue for the protocol, not a prompt.
JSON_ONLY = ("Reply with a single JSON object and nothing else (no prose, no code fence). "
             "It must validate against this JSON schema:\n{schema}")


class _DeadlineSpent(CallDeadlineSpent, openai.OpenAIError):
    """An SDK error, so the SDK passes it on instead of retrying it."""


def _default_http_client() -> Any:
    """None lets the SDK build its own client. Tests patch this to put a mock transport under every
    provider the registry builds (tests/llm_wire.py)."""
    return None


class OpenAILLM:
    """The LLM protocol over OpenAI's chat completions API."""

    service = "openai"
    prefix = "openai"
    structured_output = True  # derives the brief's SceneSpec; can be critic:vlm's judge
    # OpenAI's newer models reject `max_tokens`; most compatible servers only know `max_tokens`.
    token_param = "max_completion_tokens"

    def __init__(self, model: str = "", *, api_key: str | None = None, base_url: str | None = None,
                 client: openai.OpenAI | None = None, http_client: Any = None, timeout: float | None = None,
                 max_retries: int = 3, max_tokens: int = 4096):
        self.model = model or default_model("openai")  # a setting: agent/core/data/models.yaml
        self.name = f"{self.prefix}:{self.model}"
        # timeout: each try's (ATELIER_LLM_TIMEOUT, 120 s); all tries together within self.total
        self.timeout, self.max_tokens = per_try_timeout(timeout, max_retries), max_tokens
        self.total = llm_total_deadline(self.timeout)
        timeout = self.timeout
        # Request shapes (schema, with images or not) the server refused json_schema for, saying so;
        # other shapes still ask for it, and a 400 about something else is not remembered.
        self._no_json_schema: set[tuple[str, bool]] = set()
        if client is None:
            api_key = api_key or os.environ.get("OPENAI_API_KEY")
            if not api_key:
                raise ConfigError(f"{self.name} needs an API key: set OPENAI_API_KEY "
                                  f"(and OPENAI_BASE_URL to use a compatible server)")
            # base_url=None makes the SDK read OPENAI_BASE_URL exactly as it documents.
            client = openai.OpenAI(api_key=api_key, base_url=base_url, timeout=timeout, max_retries=max_retries,
                                   http_client=http_client or _default_http_client())
        self._client = client
        bound_to_deadline(client, self.timeout, _DeadlineSpent, self.total)

    def __repr__(self) -> str:  # never the key
        return f"{type(self).__name__}(model={self.model!r}, base_url={str(self._client.base_url)!r})"

    def complete(self, system: str, messages: list[Message], tools: list[ToolSpec]) -> Message:
        kwargs: dict[str, Any] = {"messages": _system(system) + to_wire(fit_images(messages, OPENAI))}
        if tools:
            kwargs["tools"] = [{"type": "function", "function": {
                "name": t.name, "description": t.description, "parameters": t.parameters}} for t in tools]
        return self.from_wire(self._create(**kwargs))

    def structured(self, system: str, prompt: str, schema: type[BaseModel],
                   images: Sequence[Path] = ()) -> BaseModel:
        content = [image_part(ImagePart(path=p, media_type=media_type_of(p))) for p in images]
        json_schema = schema.model_json_schema()
        shape = (schema.__name__, bool(images))
        if shape not in self._no_json_schema:
            messages = _system(system) + [{"role": "user", "content": _content([*content, _text(prompt)])}]
            # strict=False: pydantic schemas (defaults, optional fields) do not meet strict mode's
            # rules; pydantic validates the reply instead.
            fmt = {"type": "json_schema", "json_schema": {"name": schema.__name__, "schema": json_schema,
                                                          "strict": False}}
            try:
                return self._parse(schema, self._create(messages=messages, response_format=fmt))
            except ServiceError as e:
                if getattr(e, "status", None) not in (400, 404, 422, 501):
                    raise
                if any(word in str(e).lower() for word in ("response_format", "json_schema", "json schema")):
                    self._no_json_schema.add(shape)  # the server said it cannot: stop asking for this shape
        instruction = JSON_ONLY.format(schema=json.dumps(json_schema))
        messages = _system(system) + [{"role": "user",
                                       "content": _content([*content, _text(f"{prompt}\n\n{instruction}")])}]
        return self._parse(schema, self._create(messages=messages))

    def from_wire(self, completion: Any) -> Message:
        """The reply as our Message. Arguments that are not a JSON object become a ToolCall with
        `error` set, so the director can answer with an error result instead of crashing."""
        if not completion.choices:
            raise ServiceError(self.service, "the reply has no choices")
        message = completion.choices[0].message
        parts: list[Part] = []
        if message.content:
            parts.append(TextPart(text=message.content))
        elif getattr(message, "refusal", None):
            parts.append(TextPart(text=f"(the model declined) {message.refusal}"))
        for i, call in enumerate(message.tool_calls or []):
            function = getattr(call, "function", None)  # custom (free-text) tools are never declared
            if function is None:
                continue
            arguments, error = parse_arguments(function.arguments)
            # Some compatible servers omit the id; the reply to the call still needs one.
            parts.append(ToolCall(id=getattr(call, "id", None) or f"call_{i}", name=function.name,
                                  arguments=arguments, error=error))
        return Message(role="assistant", parts=parts)

    def _parse(self, schema: type[BaseModel], completion: Any) -> BaseModel:
        if not completion.choices:
            raise MalformedOutput(self.service, "the reply has no choices")
        message = completion.choices[0].message
        if not message.content:
            why = f"the model declined: {message.refusal}" if getattr(message, "refusal", None) else "empty reply"
            raise MalformedOutput(self.service, why)
        return parse_structured(self.service, schema, message.content)

    def _create(self, **kwargs: Any) -> Any:
        """One call; a reply cut off at the output limit (finish_reason "length", a reasoning model
        that spent its tokens thinking) is asked again once with more, and one still cut off without
        a tool call in it is a ReplyCutOff."""
        completion = self._send(self.max_tokens, **kwargs)
        if not _cut_off(completion):
            return completion
        more = more_tokens(self.max_tokens)
        if more is not None:
            completion = self._send(more, **kwargs)
        if _cut_off(completion) and not completion.choices[0].message.tool_calls:
            raise ReplyCutOff(self.service, more or self.max_tokens)
        return completion

    def _send(self, max_tokens: int, **kwargs: Any) -> Any:
        kwargs[self.token_param] = max_tokens
        call = "structured" if "response_format" in kwargs or "tools" not in kwargs else "complete"
        before_call(self.name, self.service, self.model)  # a money budget with nothing left refuses it unsent
        try:
            with call_deadline(self.total):
                completion = self._client.chat.completions.create(model=self.model, timeout=self.timeout, **kwargs)
            self._report(completion, call)
            return completion
        except (openai.APIError, CallDeadlineSpent) as e:
            # `from None`: the SDK's message embeds the raw body, and OpenAI echoes part of a bad key.
            raise self._service_error(e) from None
        except ValueError as e:  # a 200 whose body is not the JSON the API defines
            raise MalformedOutput(self.service, f"the server's reply is not a chat completion "
                                                f"({type(e).__name__}: {str(e)[:120]})") from None

    def _service_error(self, e: Exception) -> ServiceError:
        return sdk_error(e, openai, self.service, "OPENAI_API_KEY", self.timeout, self._client, self.total)

    def _report(self, completion: Any, call: str) -> None:
        """The tokens this call used (OpenAI caches long prompt prefixes by itself and reports the
        cached part in prompt_tokens_details)."""
        u = getattr(completion, "usage", None)
        if u is None:
            return
        details = getattr(u, "prompt_tokens_details", None)
        report(Usage(llm=self.name, provider=self.service, model=self.model, call=call,
                     input_tokens=u.prompt_tokens or 0, output_tokens=u.completion_tokens or 0,
                     cached_tokens=(getattr(details, "cached_tokens", 0) or 0) if details else 0))


class OpenAICompatibleLLM(OpenAILLM):
    """A local or self-hosted server speaking the OpenAI API: `MODEL@BASE_URL`, e.g.
    `qwen2.5@http://localhost:11434/v1`. The key is optional (local servers ignore it)."""

    service = "openai-compatible"
    prefix = "openai-compatible"
    token_param = "max_tokens"

    def __init__(self, spec: str = "", *, timeout: float | None = None, **kwargs: Any):
        model, _, base_url = spec.partition("@")
        base_url = base_url or kwargs.pop("base_url", None) or os.environ.get("OPENAI_BASE_URL")
        if kwargs.get("client") is None and not (model and base_url):
            raise ConfigError(f"openai-compatible:{spec} needs MODEL@BASE_URL, e.g. "
                              f"openai-compatible:qwen2.5@http://localhost:11434/v1 (or set OPENAI_BASE_URL)")
        if base_url:
            server_url(base_url, f"openai-compatible:{spec}: the server URL")  # refused up front, never tried
        # Keys are bound to their services (agent/core/trust.py): OPENAI_API_KEY only to OpenAI or the
        # operator's OPENAI_BASE_URL, OPENAI_COMPATIBLE_API_KEY elsewhere, none over plain http.
        api_key = kwargs.pop("api_key", None)
        self.key_var = "the api_key given"
        if api_key is None and base_url:
            api_key, self.key_var = llm_key_for(base_url)
            if api_key is None:
                self.key_var = f"OPENAI_COMPATIBLE_API_KEY (no key was sent: {self.key_var})"
        # The SDK insists on a key; local servers ignore it.
        super().__init__(model, api_key=api_key or "not-needed", base_url=base_url, timeout=timeout, **kwargs)
        self.name = f"{self.prefix}:{model}@{base_url}" if base_url else f"{self.prefix}:{model}"

    def _service_error(self, e: Exception) -> ServiceError:
        return sdk_error(e, openai, self.service, self.key_var, self.timeout, self._client, self.total)


def _cut_off(completion: Any) -> bool:
    return bool(getattr(completion, "choices", None)) and completion.choices[0].finish_reason == "length"


# ---- our messages → OpenAI's wire format ----------------------------------------------------------
def to_wire(messages: list[Message]) -> list[dict[str, Any]]:
    """Our conversation as chat `messages`. A tool message carries text only, so images a tool
    returned follow in one user message after all the tool messages answering the same turn
    (the API wants those tool messages right after the assistant turn that called them)."""
    wire: list[dict[str, Any]] = []
    pending: list[dict[str, Any]] = []  # user content waiting for the tool messages to end

    def flush() -> None:
        if pending:
            wire.append({"role": "user", "content": _content(pending)})
            pending.clear()

    for message in messages:
        if message.role == "assistant":
            flush()
            wire.append(_assistant(message))
            continue
        for part in message.parts:
            if isinstance(part, ToolResult):
                text = tool_result_text(part)
                wire.append({"role": "tool", "tool_call_id": part.call_id,
                             "content": f"Error: {text}" if part.is_error else text})
                images = [p for p in part.content if isinstance(p, ImagePart)]
                if images:
                    pending.append(_text(f"The image{'s' if len(images) > 1 else ''} returned by "
                                         f"{part.name} (call {part.call_id}):"))
                    pending.extend(image_part(p) for p in images)
            elif isinstance(part, ImagePart):
                pending.append(image_part(part))
            elif isinstance(part, TextPart) and part.text.strip():
                pending.append(_text(part.text))
    flush()
    return wire


def _assistant(message: Message) -> dict[str, Any]:
    calls = message.tool_calls
    wire: dict[str, Any] = {"role": "assistant", "content": message.text or (None if calls else "")}
    if calls:
        wire["tool_calls"] = [{"id": c.id, "type": "function",
                               "function": {"name": c.name, "arguments": json.dumps(c.arguments)}} for c in calls]
    return wire


def image_part(part: ImagePart) -> dict[str, Any]:
    media_type, data = encode_image(part.path, part.media_type)
    return {"type": "image_url", "image_url": {"url": f"data:{media_type};base64,{data}"}}


def _content(parts: list[dict[str, Any]]) -> str | list[dict[str, Any]]:
    # Plain text as a string: the most widely supported form among compatible servers.
    if all(p["type"] == "text" for p in parts):
        return "\n\n".join(p["text"] for p in parts)
    return list(parts)


def _text(text: str) -> dict[str, Any]:
    return {"type": "text", "text": text}


def _system(system: str) -> list[dict[str, Any]]:
    return [{"role": "system", "content": system}] if system else []
