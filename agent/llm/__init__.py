"""LLM back ends (one per file) and the few helpers they share: reading tool arguments, parsing
structured replies, encoding images and keeping keys out of messages. No SDK is imported here, so
`import agent.llm` stays cheap; each provider module imports its own SDK."""
from __future__ import annotations

import contextlib
import contextvars
import json
import os
import time
import re
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from agent.core.errors import MalformedOutput, ServiceError  # noqa: F401 (MalformedOutput re-exported)
from agent.core.protocols import ToolResult
from agent.core.trust import redact  # noqa: F401 (servers echo keys back: never pass a fragment on)

RETRY_MAX_TOKENS = 16384  # the output limit of the one retry after a cut-off reply; higher needs streaming


class ReplyCutOff(ServiceError):
    """The model spent its whole output budget (a reasoning model: on thinking) without an answer,
    even when asked again with more tokens. Named, so the run ends saying so, not "(no reason given)"."""

    def __init__(self, service: str, max_tokens: int):
        super().__init__(service, f"the reply was cut off at the output limit ({max_tokens} tokens) before it "
                                  f"held an answer, also when asked again with more; the model may be spending "
                                  f"its tokens on reasoning: use one that thinks less, or a higher max_tokens")


def more_tokens(max_tokens: int) -> int | None:
    """The output limit to ask again with after a cut-off reply, or None when there is no more to give."""
    more = min(max(4 * max_tokens, 8192), RETRY_MAX_TOKENS)
    return more if more > max_tokens else None


def parse_arguments(raw: Any) -> tuple[dict[str, Any], str | None]:
    """A tool call's arguments as a dict, or ({}, why) when the model sent something else.
    Providers send a JSON string (OpenAI) or an object (Anthropic, some OpenAI-compatible servers);
    the director turns the `why` into an error tool result so the model can try again."""
    if isinstance(raw, dict):
        return raw, None
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        return {}, None  # a tool without parameters: OpenAI sends "" or "{}"
    if isinstance(raw, str):
        try:
            value = json.loads(raw)
        except json.JSONDecodeError as e:
            return {}, f"the arguments are not valid JSON ({e.msg} at character {e.pos}): {_clip(raw)}"
        if isinstance(value, dict):
            return value, None
        return {}, f"the arguments must be a JSON object, got {type(value).__name__}: {_clip(raw)}"
    return {}, f"the arguments must be a JSON object, got {type(raw).__name__}"


def extract_json(text: str) -> Any:
    """The JSON value in a reply that was asked to be JSON only. Models often wrap it in a ```json
    fence or a sentence anyway, so fall back to the outermost {...}; raises ValueError."""
    text = text.strip()
    fence = re.search(r"```(?:json)?\s*(.*?)```", text, re.DOTALL)
    for candidate in (text, fence.group(1) if fence else None,
                      text[text.find("{"): text.rfind("}") + 1] if "{" in text else None):
        if candidate:
            try:
                return json.loads(candidate)
            except json.JSONDecodeError:
                continue
    raise ValueError(f"no JSON object in the reply: {_clip(text)}")


def parse_structured(service: str, schema: type[BaseModel], data: Any) -> BaseModel:
    """Validate a structured reply (a dict, or text holding JSON) against `schema`."""
    try:
        value = extract_json(data) if isinstance(data, str) else data
        return schema.model_validate(value)
    except ValueError as e:  # ValidationError is a ValueError
        detail = _validation_summary(e) if isinstance(e, ValidationError) else str(e)
        raise MalformedOutput(service, f"the reply does not fit {schema.__name__}: {detail}") from None


def encode_image(path: Path, media_type: str = "image/png") -> tuple[str, str]:
    """(media_type, base64 data) of the image as an LLM gets it: a preview at most 1568 px and about
    1 MB (agent/llm/images.py), never the full-resolution file."""
    from agent.llm.images import encode_preview

    return encode_preview(path, media_type)


def media_type_of(path: Path) -> str:
    return {".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".webp": "image/webp",
            ".gif": "image/gif"}.get(Path(path).suffix.lower(), "image/png")


def tool_result_text(result: ToolResult) -> str:
    """The text of a tool result; an empty result still says something, since providers reject
    empty text and the model needs to know the call finished."""
    text = "\n".join(p.text for p in result.content if p.type == "text").strip()
    images = sum(1 for p in result.content if p.type == "image")
    if not text:
        text = f"({images} image{'s' if images != 1 else ''} returned)" if images else "(no output)"
    return text


def error_text(body: object) -> str:
    """The human part of an API error body. The SDKs hand over the inner `error` object
    (Anthropic: {"type", "message"}; OpenAI: {"message", "type", "code", "param"}); accept the
    outer envelope too, and anything else a compatible server sends."""
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        body = body["error"]
    if isinstance(body, dict) and body.get("message"):
        kind = body.get("type") or body.get("code")
        return f"{kind}: {body['message']}" if kind else str(body["message"])
    return _clip(str(body), 300) if body else "no details"




def _validation_summary(e: ValidationError) -> str:
    errors = e.errors()
    shown = "; ".join(f"{'.'.join(map(str, err['loc'])) or '(root)'}: {err['msg']}" for err in errors[:4])
    return shown + (f" (and {len(errors) - 4} more)" if len(errors) > 4 else "")


def _clip(text: str, limit: int = 200) -> str:
    return text if len(text) <= limit else text[:limit] + "..."


DEADLINE_VAR = "ATELIER_LLM_TIMEOUT"
DEFAULT_DEADLINE = 120.0  # seconds for one try of an LLM call: a reasoning model judging frames needs it
TOTAL_VAR = "ATELIER_LLM_TOTAL_TIMEOUT"
TOTAL_FACTOR = 2.5  # by default one call, every retry and backoff included, may take 2.5 tries' time


def _seconds(var: str, default: float) -> float:
    raw = os.environ.get(var, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if not 0 < value <= 24 * 3600:
        from agent.core.errors import ConfigError
        raise ConfigError(f"{var} must be a number of seconds (0 < s <= 86400), not {raw!r}")
    return value


def llm_deadline() -> float:
    """How long one try of an LLM call may take: ATELIER_LLM_TIMEOUT or 120 s."""
    return _seconds(DEADLINE_VAR, DEFAULT_DEADLINE)


def llm_total_deadline(per_try: float | None = None) -> float:
    """How long one LLM call may take with its retries: ATELIER_LLM_TOTAL_TIMEOUT, else 2.5 times a
    try's deadline (300 s by default): two full tries and a shorter third, or many quick retries."""
    return _seconds(TOTAL_VAR, TOTAL_FACTOR * (per_try or llm_deadline()))


def per_try_timeout(timeout: float | None, max_retries: int) -> float:
    """Each try's deadline: the whole per-call deadline (a retry is not given less time to think);
    the total over all tries is capped separately (`call_deadline`)."""
    return timeout if timeout else llm_deadline()


class CallDeadlineSpent(Exception):
    """Raised before a retry when the call's total deadline has passed. Each provider mixes in its
    SDK's base error, which both SDKs pass on as it is, without retrying it."""


_call_ends: contextvars.ContextVar[float | None] = contextvars.ContextVar("atelier_llm_call_ends", default=None)


@contextlib.contextmanager
def call_deadline(total: float):
    """One LLM call, retries included, ends within `total` seconds: each try's timeout is cut to what
    is left, and no try starts once it is spent. A ContextVar, as providers are shared between runs."""
    token = _call_ends.set(time.monotonic() + total)
    try:
        yield
    finally:
        _call_ends.reset(token)


def bound_to_deadline(client, timeout: float, spent: type[CallDeadlineSpent] = CallDeadlineSpent,
                      total: float | None = None) -> None:
    """Hooks on the SDK's HTTP client that keep a call within its total deadline: a try's timeout is
    cut to the time left; once it is spent the next try raises `spent`; a 429 or 503 whose
    Retry-After is longer than the time left is not retried (the SDK would otherwise ignore the
    header and try again at once), and the error says how long it asked."""
    total = total or llm_total_deadline(timeout)

    def left() -> float | None:
        ends = _call_ends.get()
        return None if ends is None else ends - time.monotonic()

    def before(request) -> None:
        remaining = left()
        if remaining is None:
            return
        if remaining <= 0.5:
            raise spent(f"no reply within the {total:g} s deadline of the call (at most {timeout:g} s a try; "
                        f"{DEADLINE_VAR} sets a try's, {TOTAL_VAR} the call's)")
        limits = request.extensions.get("timeout")
        if isinstance(limits, dict):
            request.extensions["timeout"] = {k: min(v, remaining) if v is not None else remaining
                                             for k, v in limits.items()}

    def after(response) -> None:
        wait, remaining = _retry_after(response.headers), left()
        if wait is not None and wait > (remaining if remaining is not None else total):
            response.headers["x-should-retry"] = "false"
    hooks = getattr(getattr(client, "_client", None), "event_hooks", None)
    if hooks is not None:
        hooks["request"] = [*hooks.get("request", []), before]
        hooks["response"] = [*hooks.get("response", []), after]


def _retry_after(headers) -> float | None:
    for name, scale in (("retry-after-ms", 0.001), ("retry-after", 1.0)):
        try:
            return float(headers.get(name)) * scale
        except (TypeError, ValueError):
            continue
    return None


def sdk_error(e, sdk, service: str, key_var: str, timeout: float, client, total: float | None = None) -> ServiceError:
    """A ServiceError for an exception of the anthropic or openai SDK (they share class names),
    naming the service, saying whether it was retried, never carrying the key."""
    total = total or llm_total_deadline(timeout)
    if isinstance(e, CallDeadlineSpent):
        return ServiceError(service, str(e), retryable=True)
    tries = f"tried {client.max_retries + 1} times"
    if client.max_retries:
        tries += f", {timeout:g} s a try and {total:g} s in all; {DEADLINE_VAR} and {TOTAL_VAR} set them"
    retryable = False
    wait = _retry_after(e.response.headers) if isinstance(e, sdk.APIStatusError) else None
    if isinstance(e, sdk.AuthenticationError):
        message = f"the API key was refused (HTTP 401): check {key_var}"
    elif wait is not None and wait > total:
        message, retryable = (f"HTTP {e.status_code}: the service asked to wait {wait:g} s, longer than the "
                              f"{total:g} s deadline of the call ({TOTAL_VAR})"), True
    elif isinstance(e, sdk.APITimeoutError):
        message, retryable = f"no reply within {timeout:g} s ({tries})", True
    elif isinstance(e, sdk.APIConnectionError):
        message, retryable = f"cannot reach {client.base_url} ({tries})", True
    elif isinstance(e, sdk.APIStatusError):
        retryable = e.status_code in (408, 409, 429) or e.status_code >= 500
        message = f"HTTP {e.status_code}: {error_text(e.body)}" + (f" ({tries})" if retryable else "")
        if e.request_id:
            message += f" [request-id {e.request_id}]"
    else:
        message = str(e)
    error = ServiceError(service, redact(message, client.api_key), retryable=retryable)
    error.status = getattr(e, "status_code", None)  # lets structured() tell "server lacks json_schema" apart
    return error
