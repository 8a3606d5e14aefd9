"""`anthropic:MODEL` → Claude through the official SDK's Messages API, with tool use.

The SDK reads ANTHROPIC_API_KEY (or ANTHROPIC_AUTH_TOKEN) and ANTHROPIC_BASE_URL itself, so any
compatible server can stand in; it also owns retries (429/5xx/timeouts, honouring retry-after).
We add a timeout on every call, clear one-line errors without keys, and the conversion between our
Message types and the wire format."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Sequence

import anthropic
from pydantic import BaseModel

from agent.core.defaults import default_model
from agent.core.errors import ConfigError, ServiceError
from agent.core.usage import Usage, before_call, report
from agent.llm import (CallDeadlineSpent, MalformedOutput, ReplyCutOff, bound_to_deadline, call_deadline,
                       encode_image, llm_total_deadline, media_type_of, more_tokens, parse_arguments,
                       parse_structured, per_try_timeout, sdk_error, tool_result_text)
from agent.llm.images import ANTHROPIC, fit_images
from agent.core.protocols import ImagePart, Message, Part, TextPart, ToolCall, ToolResult, ToolSpec

SERVICE = "anthropic"
# structured() forces a call of this tool whose input_schema is the pydantic schema: the API then
# returns the answer as a JSON object rather than prose we would have to parse.
ANSWER_TOOL = "record_answer"


class _DeadlineSpent(CallDeadlineSpent, anthropic.AnthropicError):
    """An SDK error, so the SDK passes it on instead of retrying it."""


def _default_http_client() -> Any:
    """None lets the SDK build its own client. Tests patch this to put a mock transport under every
    AnthropicLLM the registry builds (tests/llm_wire.py)."""
    return None


class AnthropicLLM:
    """The LLM protocol over Anthropic's Messages API."""

    structured_output = True  # derives the brief's SceneSpec; can be critic:vlm's judge

    def __init__(self, model: str = "", *, api_key: str | None = None, client: anthropic.Anthropic | None = None,
                 http_client: Any = None, timeout: float | None = None, max_retries: int = 3, max_tokens: int = 4096):
        self.model = model or default_model("anthropic")  # a setting: agent/core/data/models.yaml
        self.name = f"anthropic:{self.model}"
        # timeout: each try's (ATELIER_LLM_TIMEOUT, 120 s); all tries together within self.total
        self.timeout, self.max_tokens = per_try_timeout(timeout, max_retries), max_tokens
        self.total = llm_total_deadline(self.timeout)
        timeout = self.timeout
        if client is None:
            if not (api_key or os.environ.get("ANTHROPIC_API_KEY") or os.environ.get("ANTHROPIC_AUTH_TOKEN")):
                raise ConfigError(f"{self.name} needs an API key: set ANTHROPIC_API_KEY "
                                  f"(and ANTHROPIC_BASE_URL to use a compatible server)")
            # api_key=None makes the SDK read the environment exactly as it documents.
            client = anthropic.Anthropic(api_key=api_key, timeout=timeout, max_retries=max_retries,
                                         http_client=http_client or _default_http_client())
        self._client = client
        bound_to_deadline(client, self.timeout, _DeadlineSpent, self.total)

    def __repr__(self) -> str:  # never the key
        return f"AnthropicLLM(model={self.model!r}, base_url={str(self._client.base_url)!r})"

    def complete(self, system: str, messages: list[Message], tools: list[ToolSpec]) -> Message:
        """One director turn. Prompt caching: the tools and system prompt never change within a
        run and the conversation only grows (an image per attempt), so both prefixes are marked
        `cache_control` and each turn reads the previous turns from the cache instead of paying
        for them again."""
        kwargs: dict[str, Any] = {"messages": cache_last_block(to_wire(fit_images(messages, ANTHROPIC)))}
        if tools:
            kwargs["tools"] = [{"name": t.name, "description": t.description, "input_schema": t.parameters}
                               for t in tools]
            kwargs["tools"][-1]["cache_control"] = CACHE
        if system:
            system = [{"type": "text", "text": system, "cache_control": CACHE}]
        return from_wire(self._create(system, **kwargs))

    def structured(self, system: str, prompt: str, schema: type[BaseModel],
                   images: Sequence[Path] = ()) -> BaseModel:
        content = [image_block(ImagePart(path=p, media_type=media_type_of(p))) for p in images]
        content.append({"type": "text", "text": prompt})
        tool = {"name": ANSWER_TOOL, "description": f"Record your answer as a {schema.__name__} object.",
                "input_schema": schema.model_json_schema()}
        reply = self._create(system, messages=[{"role": "user", "content": content}], tools=[tool],
                             tool_choice={"type": "tool", "name": ANSWER_TOOL})
        for block in reply.content:
            if block.type == "tool_use" and block.name == ANSWER_TOOL:
                return parse_structured(SERVICE, schema, block.input)
        raise MalformedOutput(SERVICE, f"the model did not call {ANSWER_TOOL} (stop_reason: {reply.stop_reason})")

    def _create(self, system: str | list, **kwargs: Any) -> anthropic.types.Message:
        """One call; a reply cut off at max_tokens is asked again once with more tokens, and one
        still cut off without a tool call in it is a ReplyCutOff."""
        reply = self._send(system, self.max_tokens, **kwargs)
        if reply.stop_reason != "max_tokens":
            return reply
        more = more_tokens(self.max_tokens)
        if more is not None:
            reply = self._send(system, more, **kwargs)
        if reply.stop_reason == "max_tokens" and not any(b.type == "tool_use" for b in reply.content):
            raise ReplyCutOff(SERVICE, more or self.max_tokens)
        return reply

    def _send(self, system: str | list, max_tokens: int, **kwargs: Any) -> anthropic.types.Message:
        if system:
            kwargs["system"] = system
        call = "structured" if "tool_choice" in kwargs else "complete"
        before_call(self.name, SERVICE, self.model)  # a money budget with nothing left refuses it unsent
        try:
            with call_deadline(self.total):
                reply = self._client.messages.create(model=self.model, max_tokens=max_tokens,
                                                     timeout=self.timeout, **kwargs)
            self._report(reply, call)
            return reply
        except anthropic.APIError as e:
            # `from None`: the SDK's own message embeds the raw body, which a server may fill with the key.
            raise self._service_error(e) from None
        except CallDeadlineSpent as e:
            raise self._service_error(e) from None
        except ValueError as e:  # a 200 whose body is not the JSON the API defines
            raise MalformedOutput(SERVICE, f"the server's reply is not a message "
                                           f"({type(e).__name__}: {str(e)[:120]})") from None

    def _service_error(self, e: Exception) -> ServiceError:
        return sdk_error(e, anthropic, SERVICE, "ANTHROPIC_API_KEY", self.timeout, self._client, self.total)

    def _report(self, reply: Any, call: str) -> None:
        """The tokens this call used. Anthropic's input_tokens excludes the cached ones; Usage counts
        all input, with the cache reads and writes broken out."""
        u = getattr(reply, "usage", None)
        if u is None:
            return
        read = getattr(u, "cache_read_input_tokens", 0) or 0
        write = getattr(u, "cache_creation_input_tokens", 0) or 0
        report(Usage(llm=self.name, provider=SERVICE, model=self.model, call=call,
                     input_tokens=(u.input_tokens or 0) + read + write, output_tokens=u.output_tokens or 0,
                     cached_tokens=read, cache_write_tokens=write))


# ---- our messages ⇄ Anthropic's wire format ------------------------------------------------------
CACHE = {"type": "ephemeral"}  # a cache breakpoint: the prompt up to here is cached (5 minutes)


def cache_last_block(wire: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Mark the conversation's last block as a cache breakpoint: the next turn, which repeats this
    conversation and adds to it, reads it all from the cache (the API looks back for the longest
    cached prefix). Prompts under the model's minimum (1024 tokens for Sonnet) are simply not cached."""
    if wire and wire[-1]["content"]:
        wire[-1]["content"][-1] = {**wire[-1]["content"][-1], "cache_control": CACHE}
    return wire
def to_wire(messages: list[Message]) -> list[dict[str, Any]]:
    """Our conversation as Anthropic `messages`. Tool results travel in user turns; consecutive
    same-role turns are merged (the API wants strict alternation), and in a user turn the
    tool_result blocks go first, as the API requires after a tool_use turn."""
    wire: list[dict[str, Any]] = []
    for message in messages:
        role = "assistant" if message.role == "assistant" else "user"
        content = [block for part in message.parts if (block := _block(part)) is not None]
        if not content:
            continue
        if wire and wire[-1]["role"] == role:
            wire[-1]["content"].extend(content)
        else:
            wire.append({"role": role, "content": content})
    for turn in wire:
        if turn["role"] == "user":
            turn["content"].sort(key=lambda block: block["type"] != "tool_result")  # stable
    return wire


def _block(part: Part) -> dict[str, Any] | None:
    if isinstance(part, TextPart):
        # The API rejects empty or whitespace-only text blocks.
        return {"type": "text", "text": part.text} if part.text.strip() else None
    if isinstance(part, ImagePart):
        return image_block(part)
    if isinstance(part, ToolCall):
        return {"type": "tool_use", "id": part.id, "name": part.name, "input": part.arguments}
    if isinstance(part, ToolResult):
        # Images go inside the tool_result, so the model sees what the tool made.
        content = [{"type": "text", "text": tool_result_text(part)}]
        content += [image_block(p) for p in part.content if isinstance(p, ImagePart)]
        return {"type": "tool_result", "tool_use_id": part.call_id, "content": content, "is_error": part.is_error}
    raise TypeError(f"cannot send {type(part).__name__} to Anthropic")


def image_block(part: ImagePart) -> dict[str, Any]:
    media_type, data = encode_image(part.path, part.media_type)
    return {"type": "image", "source": {"type": "base64", "media_type": media_type, "data": data}}


def from_wire(reply: anthropic.types.Message) -> Message:
    """The assistant's reply as our Message. Tool arguments that are not an object, or were cut off
    at max_tokens, become a ToolCall with `error` set rather than an exception."""
    parts: list[Part] = []
    for i, block in enumerate(reply.content):
        if block.type == "text" and block.text:
            parts.append(TextPart(text=block.text))
        elif block.type == "tool_use":
            arguments, error = parse_arguments(block.input)
            if error is None and reply.stop_reason == "max_tokens" and i == len(reply.content) - 1:
                error = "the reply was cut off (max_tokens) before the arguments were complete"
            parts.append(ToolCall(id=block.id, name=block.name, arguments=arguments, error=error))
        # thinking and server-tool blocks are not part of our conversation model
    if reply.stop_reason == "refusal" and not parts:
        parts.append(TextPart(text="(the model declined to answer)"))
    return Message(role="assistant", parts=parts)

