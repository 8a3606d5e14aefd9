"""What every remote back end shares: keys, timeouts, retries, error messages, capped downloads, polling.

One place decides what is worth retrying, so every service behaves the same way:
- 429, 408 and 5xx answers, and connections that never got through, are retried with exponential
  backoff, honouring `Retry-After`;
- 4xx answers that cannot succeed (bad request, auth, billing, content policy) fail at once with a
  message that says which, and names the service;
- a request that was sent but got no answer in time is retried only when it is a GET: re-sending
  a POST could start (and bill) a second job.

The `httpx.Client`, `sleep` and `clock` are injectable so tests replay recorded answers instantly.
"""
from __future__ import annotations

import email.utils
import logging
import os
import random
import time
from typing import Any, Callable, Iterable, TypeVar
from urllib.parse import urlsplit

import httpx

from agent.core.errors import ConfigError, ServiceError
from agent.core.trust import redact  # noqa: F401 (services echo keys back: never pass a fragment on)

log = logging.getLogger(__name__)

T = TypeVar("T")

DEFAULT_TIMEOUT = httpx.Timeout(connect=10.0, read=120.0, write=60.0, pool=10.0)
MAX_RETRY_AFTER = 120.0  # a service asking us to wait longer than this is treated as a refusal
MAX_IMAGE_BYTES = 50 * 2**20
MAX_VIDEO_BYTES = 500 * 2**20

# Words services use when a prompt or an output is refused on policy grounds.
_POLICY_MARKERS = ("content_moderation", "content_policy", "content policy", "moderation_blocked",
                   "safety system", "nsfw", "safety.")


class RemoteError(ServiceError):
    """A ServiceError that also says what kind of failure it was (`kind`), so the director can tell
    a refusal from an outage without parsing the message."""

    def __init__(self, service: str, message: str, *, kind: str, retryable: bool = False,
                 status: int | None = None):
        super().__init__(service, message, retryable)
        self.detail, self.kind, self.status = message, kind, status


def api_key(var: str, explicit: str | None, service: str) -> str:
    """The key from the constructor or the environment; a missing one is a ConfigError naming the variable."""
    key = (explicit or os.environ.get(var, "")).strip()
    if not key:
        raise ConfigError(f"{service}: no API key; set the {var} environment variable")
    return key




def is_policy(text: str) -> bool:
    text = text.lower()
    return any(marker in text for marker in _POLICY_MARKERS)


def service_message(response: httpx.Response) -> str:
    """The human part of an error body, whatever shape the service uses."""
    try:
        body = response.json()
    except ValueError:
        return response.text[:300].strip() or response.reason_phrase
    if isinstance(body, dict):
        err = body.get("error")
        if isinstance(err, dict):  # OpenAI: {"error": {"message", "code"}}
            return " ".join(str(err.get(k)) for k in ("message", "code") if err.get(k)) or str(err)
        if isinstance(err, str):  # Runway: {"error": "..."}
            return err
        if body.get("errors"):  # Stability: {"name", "errors": [...]}
            return f"{body.get('name', 'error')}: " + "; ".join(map(str, body["errors"]))
        if body.get("detail"):  # Replicate: problem+json {"title", "detail"}
            return f"{body.get('title', 'error')}: {body['detail']}"
    return str(body)[:300]


def error_for_status(service: str, status: int, message: str, key_var: str) -> RemoteError:
    """Classify an HTTP error answer into a RemoteError with a message a user can act on."""
    def err(kind: str, text: str, retryable: bool = False) -> RemoteError:
        return RemoteError(service, f"{text} (HTTP {status}): {message}", kind=kind,
                           retryable=retryable, status=status)

    if status == 429:
        return err("rate_limit", "rate limited", True)
    if status == 408 or status >= 500:
        return err("server", "the service failed", True)
    if is_policy(message):
        return err("content_policy", "refused by the service's content policy; change the prompt or image")
    if status == 401:
        return err("auth", f"authentication failed; check {key_var}")
    if status == 402:
        return err("billing", "payment required; add credit to the account")
    if status == 403:
        return err("forbidden", f"permission denied for this key ({key_var})")
    if status == 404:
        return err("not_found", "not found; check the model name")
    if status == 413:
        return err("bad_request", "request too large")
    return err("bad_request", "bad request, which will not succeed if retried")


def retry_after(headers: httpx.Headers, clock_now: float | None = None) -> float | None:
    """Seconds the service asks us to wait: `Retry-After` as seconds or an HTTP date (`retry-after-ms` too)."""
    if (ms := headers.get("retry-after-ms")) is not None:
        try:
            return max(0.0, float(ms) / 1000)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - (clock_now if clock_now is not None else time.time()))


def sniff(data: bytes) -> str | None:
    """The media type from the first bytes; a Content-Type header alone is not trusted."""
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if data.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    if data.startswith((b"GIF87a", b"GIF89a")):
        return "image/gif"
    if data[4:8] == b"ftyp":
        return "video/quicktime" if data[8:10] == b"qt" else "video/mp4"
    if data.startswith(b"\x1a\x45\xdf\xa3"):
        return "video/webm"
    return None


class Api:
    """One service's HTTP endpoint: auth headers, timeouts, retries, polling and capped downloads."""

    def __init__(self, service: str, base_url: str, *, headers: dict[str, str], secret: str,
                 key_var: str, client: httpx.Client | None = None,
                 timeout: httpx.Timeout = DEFAULT_TIMEOUT, max_attempts: int = 4, backoff: float = 1.0,
                 sleep: Callable[[float], None] = time.sleep, clock: Callable[[], float] = time.monotonic):
        self.service, self.base_url, self.key_var = service, base_url.rstrip("/"), key_var
        # Auth goes on each API request, never on the client, so downloads from CDNs carry no key.
        self._headers, self._secret = headers, secret
        self._client = client or httpx.Client(timeout=timeout)
        self.timeout, self.max_attempts, self.backoff = timeout, max_attempts, backoff
        self.sleep, self.clock = sleep, clock

    def __repr__(self) -> str:  # never show headers: they hold the key
        return f"Api({self.service!r}, {self.base_url!r})"

    # ---- requests ----------------------------------------------------------------------------
    def request(self, method: str, path: str, *, json: Any = None, files: Any = None,
                headers: dict[str, str] | None = None) -> httpx.Response:
        url = path if path.startswith("https://") else self.base_url + path
        hdrs = {**self._headers, **(headers or {})}
        return self._retrying(method, url, lambda: self._client.request(
            method, url, json=json, files=files, headers=hdrs, timeout=self.timeout))

    def json(self, method: str, path: str, **kwargs: Any) -> Any:
        return self.parse_json(self.request(method, path, **kwargs))

    def parse_json(self, response: httpx.Response) -> Any:
        try:
            return response.json()
        except ValueError:
            raise RemoteError(self.service, f"answered with malformed JSON (HTTP {response.status_code}, "
                              f"{len(response.content)} bytes)", kind="malformed", retryable=True,
                              status=response.status_code) from None

    def _retrying(self, method: str, url: str, send: Callable[[], httpx.Response]) -> httpx.Response:
        what = f"{method} {urlsplit(url).path}"
        for attempt in range(1, self.max_attempts + 1):
            wait: float | None = None
            try:
                response = send()
            except httpx.TimeoutException as e:
                sent = not isinstance(e, (httpx.ConnectTimeout, httpx.PoolTimeout))
                error = RemoteError(self.service, f"{what} got no answer in time ({type(e).__name__})",
                                    kind="timeout", retryable=True)
                if sent and method != "GET":
                    raise RemoteError(self.service, f"{error.detail}; not retried "
                                      f"because the job may have started (and be billed) anyway",
                                      kind="timeout", retryable=True) from None
            except httpx.TransportError as e:
                error = RemoteError(self.service, f"{what} failed to connect ({type(e).__name__}: "
                                    f"{redact(str(e), self._secret)})", kind="connection", retryable=True)
                if method != "GET" and not isinstance(e, httpx.ConnectError):
                    raise error from None
            else:
                if response.status_code < 400:
                    return response
                error = error_for_status(self.service, response.status_code,
                                         redact(service_message(response), self._secret), self.key_var)
                if not error.retryable:
                    raise error
                wait = retry_after(response.headers)
            if attempt == self.max_attempts:
                raise RemoteError(self.service, f"{error.detail} (gave up after "
                                  f"{attempt} attempts)", kind=error.kind, retryable=True, status=error.status)
            if wait is not None and wait > MAX_RETRY_AFTER:
                raise RemoteError(self.service, f"rate limited; the service asks to wait {wait:.0f}s, "
                                  f"longer than the {MAX_RETRY_AFTER:.0f}s we wait", kind="rate_limit",
                                  retryable=True, status=error.status)
            delay = wait if wait is not None else self.backoff * 2 ** (attempt - 1) * random.uniform(0.75, 1.25)
            log.info("%s: %s; retrying in %.1fs (attempt %d of %d)", self.service,
                     error.detail, delay, attempt + 1, self.max_attempts)
            self.sleep(delay)
        raise AssertionError("unreachable")

    # ---- downloads ---------------------------------------------------------------------------
    def download(self, url: str, *, kinds: Iterable[str] = ("image",), max_bytes: int = MAX_IMAGE_BYTES) -> bytes:
        """Fetch a result URL (no auth header), refusing non-HTTPS URLs, bodies over `max_bytes`
        (checked while streaming, not after) and content that is not one of `kinds` (by magic bytes)."""
        kinds = tuple(kinds)
        if urlsplit(url).scheme != "https":
            raise RemoteError(self.service, f"result URL is not HTTPS: {url[:80]}", kind="malformed")
        body = bytearray()

        def too_large(size: int) -> RemoteError:
            return RemoteError(self.service, f"result is {size / 2**20:.1f} MiB, over the "
                               f"{max_bytes / 2**20:.0f} MiB limit; not downloaded", kind="too_large")

        def send() -> httpx.Response:
            body.clear()
            with self._client.stream("GET", url, timeout=self.timeout, follow_redirects=True) as r:
                if r.status_code >= 400:
                    r.read()
                    return r
                declared = int(r.headers.get("content-length") or 0)
                if declared > max_bytes:
                    raise too_large(declared)
                for chunk in r.iter_bytes():
                    body.extend(chunk)
                    if len(body) > max_bytes:
                        raise too_large(len(body))
                return r

        response = self._retrying("GET", url, send)
        mime = sniff(bytes(body[:16]))
        if mime is None or not mime.startswith(tuple(f"{k}/" for k in kinds)):
            got = mime or response.headers.get("content-type", "unknown content")
            raise RemoteError(self.service, f"result is not a {' or '.join(kinds)} file "
                              f"(got {got}, {len(body)} bytes)", kind="malformed")
        return bytes(body)

    # ---- jobs --------------------------------------------------------------------------------
    def poll(self, fetch: Callable[[], T], *, done: Callable[[T], bool], deadline_s: float, what: str,
             cancel: Callable[[], Any] | None = None, first: float = 2.0, factor: float = 1.5,
             cap: float = 15.0) -> T:
        """Call `fetch` until `done`, sleeping with growing intervals; past `deadline_s` cancel the job
        (best effort) and raise, so a stuck job neither blocks the run nor keeps billing."""
        start, delay = self.clock(), first
        while True:
            state = fetch()
            if done(state):
                return state
            elapsed = self.clock() - start
            if elapsed >= deadline_s:
                if cancel is not None:
                    try:
                        cancel()
                    except ServiceError as e:  # the deadline error matters more than a failed cancel
                        log.warning("%s: could not cancel %s: %s", self.service, what, e)
                raise RemoteError(self.service, f"{what} did not finish within {deadline_s:.0f}s; "
                                  f"cancelled it", kind="deadline", retryable=True)
            self.sleep(min(delay, deadline_s - elapsed))
            delay = min(delay * factor, cap)


class BearerService:
    """A back end whose service takes its key as a Bearer token: `check_ready` before anything is
    spent and one lazily built `Api`. Subclasses set `service`, `key_var` and any `extra_headers`,
    and keep `_key`, `_client`, `_base_url`, `_sleep`, `_clock` and `_api` (None until first use)."""

    service: str
    key_var: str
    extra_headers: dict[str, str] = {}

    def check_ready(self) -> None:
        """The key is set (else a ConfigError naming the variable), before anything is spent."""
        api_key(self.key_var, self._key, self.service)

    def api(self) -> Api:
        if self._api is None:
            key = api_key(self.key_var, self._key, self.service)
            self._api = Api(self.service, self._base_url, secret=key, key_var=self.key_var, client=self._client,
                            headers={"Authorization": f"Bearer {key}", **self.extra_headers},
                            sleep=self._sleep, clock=self._clock)
        return self._api
