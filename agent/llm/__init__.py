"""LLM back ends (one per file) and the few helpers they share: reading tool arguments, parsing
structured replies, encoding images and keeping keys out of messages. No SDK is imported here, so
`import agent.llm` stays cheap; each provider module imports its own SDK."""
from __future__ import annotations

import base64
import io
import json
import re
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from agent.core.errors import InputError, MalformedOutput, ServiceError  # noqa: F401 (MalformedOutput re-exported)
from agent.core.protocols import ToolResult
from agent.core.trust import redact  # noqa: F401 (servers echo keys back: never pass a fragment on)

# Anthropic refuses images over 5 MB of base64 and OpenAI over 20 MB; a budget under both (base64
# grows data by 4/3) means one encoder serves every provider.
MAX_IMAGE_BYTES = 3_700_000


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
    """(media_type, base64 data) for an image file, re-encoded smaller when it is over the size
    every provider accepts, so one large remote render does not fail the whole conversation."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError:
        raise InputError(f"image not found: {path}") from None
    if len(data) > MAX_IMAGE_BYTES:
        media_type, data = "image/jpeg", _shrink(data)
    return media_type, base64.b64encode(data).decode("ascii")


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




def _shrink(data: bytes) -> bytes:
    from PIL import Image  # only for the rare oversized image

    with Image.open(io.BytesIO(data)) as im:
        im = im.convert("RGB")
        for side in (2048, 1568, 1024, 768):
            im.thumbnail((side, side))
            out = io.BytesIO()
            im.save(out, "JPEG", quality=85)
            if out.tell() <= MAX_IMAGE_BYTES:
                break
        return out.getvalue()


def _validation_summary(e: ValidationError) -> str:
    errors = e.errors()
    shown = "; ".join(f"{'.'.join(map(str, err['loc'])) or '(root)'}: {err['msg']}" for err in errors[:4])
    return shown + (f" (and {len(errors) - 4} more)" if len(errors) > 4 else "")


def _clip(text: str, limit: int = 200) -> str:
    return text if len(text) <= limit else text[:limit] + "..."


DEADLINE_VAR = "ATELIER_LLM_TIMEOUT"
DEFAULT_DEADLINE = 120.0  # seconds for one LLM call, every retry included


def llm_deadline() -> float:
    """The total time one LLM call may take, retries included: ATELIER_LLM_TIMEOUT or 120 s."""
    import os
    raw = os.environ.get(DEADLINE_VAR, "").strip()
    if not raw:
        return DEFAULT_DEADLINE
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if not 0 < value <= 24 * 3600:
        from agent.core.errors import ConfigError
        raise ConfigError(f"{DEADLINE_VAR} must be a number of seconds (0 < s <= 86400), not {raw!r}")
    return value


def per_try_timeout(timeout: float | None, max_retries: int) -> float:
    """Each try's share of the deadline, so that every try and retry together fit in it."""
    return timeout if timeout else llm_deadline() / (max_retries + 1)


def bound_to_deadline(client, timeout: float) -> None:
    """A 429 or 503 whose Retry-After is longer than the whole deadline is not retried (the SDK
    would otherwise ignore the header and try again at once): the error says how long it asked."""
    deadline = timeout * (client.max_retries + 1)

    def hook(response) -> None:
        wait = _retry_after(response.headers)
        if wait is not None and wait > deadline:
            response.headers["x-should-retry"] = "false"
    hooks = getattr(getattr(client, "_client", None), "event_hooks", None)
    if hooks is not None:
        hooks["response"] = [*hooks.get("response", []), hook]


def _retry_after(headers) -> float | None:
    for name, scale in (("retry-after-ms", 0.001), ("retry-after", 1.0)):
        try:
            return float(headers.get(name)) * scale
        except (TypeError, ValueError):
            continue
    return None


def sdk_error(e, sdk, service: str, key_var: str, timeout: float, client) -> ServiceError:
    """A ServiceError for an exception of the anthropic or openai SDK (they share class names),
    naming the service, saying whether it was retried, never carrying the key."""
    tries = f"tried {client.max_retries + 1} times"
    if client.max_retries:
        tries += f", {timeout * (client.max_retries + 1):g} s in all; {DEADLINE_VAR} sets it"
    retryable = False
    wait = _retry_after(e.response.headers) if isinstance(e, sdk.APIStatusError) else None
    if isinstance(e, sdk.AuthenticationError):
        message = f"the API key was refused (HTTP 401): check {key_var}"
    elif wait is not None and wait > timeout * (client.max_retries + 1):
        message, retryable = (f"HTTP {e.status_code}: the service asked to wait {wait:g} s, longer than the "
                              f"{timeout * (client.max_retries + 1):g} s deadline ({DEADLINE_VAR})"), True
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
