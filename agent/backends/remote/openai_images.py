"""`openai:MODEL`: OpenAI's image models (gpt-image-2, gpt-image-1.5, gpt-image-1-mini, ... and any
newer name the service accepts) through the official SDK (POST /v1/images/generations, POST
/v1/images/edits).

What each model accepts and costs is data, not code: the `openai:` section of the price table
(prices.yaml, with the user's ATELIER_PRICES file merged over it). A listed model's options are
checked before paying; an unlisted one is sent as asked and the service judges it, but with a money
budget set it is refused before the call, since its cost is unknown.

Retries: a POST here bills, and one the service received but did not answer in time may still be
made (and billed). So the SDK's own retries are off (`max_retries=0`) and this file retries only
what cannot have been billed: 429, 5xx answers and connections that never got through, honouring
Retry-After. Needs OPENAI_API_KEY (OPENAI_BASE_URL is honoured as the SDK honours it).
"""
from __future__ import annotations

import io
import random
import time
from pathlib import Path
from typing import Any

import httpx

from agent.backends.remote import prices
from agent.backends.remote.http import (MAX_RETRY_AFTER, RemoteError, api_key, error_for_status, redact,
                                        retry_after)
from agent.backends.remote.outputs import b64decode, image_artifact, png_bytes, source_digest
from agent.core.defaults import default_model
from agent.core.errors import ConfigError, InputError
from agent.core.protocols import ModelInfo
from agent.core.types import Artifact, GenerationRequest

SERVICE = "OpenAI"
KEY_VAR = "OPENAI_API_KEY"
# What an unlisted model is assumed to offer (the service has the last word on each request).
UNLISTED: dict[str, Any] = dict(sizes=[[1024, 1024], [1536, 1024], [1024, 1536]], qualities=[], styles=[],
                                max_n=10, max_prompt=32000, edits=["inpaint", "instruct"])


def model_table(model: str) -> dict[str, Any] | None:
    """The price table's entry for `model`, or None when it is not listed. A dated snapshot's entry
    may be `{same_as: NAME}` (with anything that differs beside it)."""
    entry = prices.price("openai", model)
    for _ in range(4):  # an alias of an alias, never a loop
        if not (isinstance(entry, dict) and "same_as" in entry):
            break
        target = prices.price("openai", str(entry["same_as"]))
        entry = {**target, **{k: v for k, v in entry.items() if k != "same_as"}} if isinstance(target, dict) else None
    return entry if isinstance(entry, dict) and "sizes" in entry else None


class OpenAIImages:
    """ImageBackend for OpenAI's image models. Options in `request.extra`: quality, style, and any
    other option the Images API takes (background, output_format, moderation, ...), passed through."""

    def __init__(self, model: str = "", *, api_key: str | None = None, base_url: str | None = None,
                 http_client: httpx.Client | None = None, timeout: float = 180.0, max_retries: int = 3):
        model = (model or default_model("openai", "image")).strip()
        if not model or any(c.isspace() for c in model):
            raise ConfigError(f"openai:{model} is not a model name")
        self.model = model
        spec = model_table(model)
        self.listed = spec is not None
        spec = spec or UNLISTED
        self.spec = {**UNLISTED, **spec}
        self.info = ModelInfo(name=f"openai:{model}", sizes=[tuple(s) for s in self.spec["sizes"]],
                              supports_negative=False, max_n=self.spec["max_n"], edits=list(self.spec["edits"]))
        self._key, self._base_url, self._http_client = api_key, base_url, http_client
        self._timeout, self._max_retries = timeout, max_retries
        self._sdk: Any = None

    def __repr__(self) -> str:
        return f"OpenAIImages({self.model!r})"

    def check_ready(self) -> None:
        """The key is set (else a ConfigError naming OPENAI_API_KEY), before anything is spent."""
        api_key(KEY_VAR, self._key, SERVICE)

    def _client(self) -> Any:
        if self._sdk is None:
            from openai import OpenAI

            self._secret = api_key(KEY_VAR, self._key, SERVICE)
            kwargs: dict[str, Any] = {"base_url": self._base_url} if self._base_url else {}
            # max_retries=0: a re-sent POST could bill a second image; _send retries what is safe.
            self._sdk = OpenAI(api_key=self._secret, http_client=self._http_client, timeout=self._timeout,
                               max_retries=0, **kwargs)
        return self._sdk

    # ---- checks before paying ----------------------------------------------------------------
    def _size(self, request: GenerationRequest) -> tuple[int, int]:
        spec, name = self.spec, f"openai:{self.model}"
        if not (request.width and request.height) and request.source_image is not None:
            return self._size_for_source(request.source_image)
        default = spec["sizes"][0]
        w, h = request.width or default[0], request.height or default[1]
        menu = [tuple(s) for s in spec["sizes"]]
        if not self.listed or (w, h) in menu:
            return w, h
        bounds = spec.get("any_size")
        if bounds:
            m, side, pixels = bounds.get("multiple", 16), bounds.get("max_side", 4096), bounds.get("max_pixels")
            aspect = bounds.get("max_aspect")
            if w % m or h % m or max(w, h) > side or (pixels and w * h > pixels):
                raise InputError(f"{name} takes sizes that are multiples of {m}, at most {side} px a side"
                                 + (f" and {pixels:,} pixels" if pixels else "") + f"; {w}x{h} is not one")
            if aspect and max(w, h) > aspect * min(w, h):
                raise InputError(f"{name} takes aspect ratios from 1:{aspect:g} to {aspect:g}:1; "
                                 f"{w}x{h} is {max(w, h) / min(w, h):.2f}:1")
            return w, h
        raise InputError(f"{name} makes {', '.join(f'{a}x{b}' for a, b in menu)}; {w}x{h} is not one of them")

    def _size_for_source(self, source: Path) -> tuple[int, int]:
        """An edit keeps its source's shape: a model that takes any size gets the source's aspect
        (within its bounds, at the area of its standard sizes, 1024x1024 to 1536x1024); one with a menu gets the
        size on it nearest that aspect (the smaller of two equally near). The service would otherwise
        answer 1024x1024 whatever it was given."""
        import math

        from agent.core.artifacts import load_image

        sw, sh = load_image(source).size
        bounds, menu = self.spec.get("any_size"), [tuple(s) for s in self.spec["sizes"]]
        if bounds:
            m, aspect = bounds.get("multiple", 16), float(bounds.get("max_aspect") or 3)
            ratio = min(max(sw / sh, 1 / aspect), aspect)
            standard = [a * b for a, b in menu[:3]]  # the service's own pixel floor is not published: stay in these
            area = min(max(sw * sh, min(standard)), max(standard), bounds.get("max_pixels") or 10**9)
            w, h = math.sqrt(area * ratio), math.sqrt(area / ratio)
            scale = min(1.0, bounds.get("max_side", 4096) / max(w, h))
            w, h = (max(m, round(v * scale / m) * m) for v in (w, h))
            if max(w, h) > aspect * min(w, h):  # rounding must not leave the allowed aspects
                w, h = (w, int(w * aspect) // m * m) if h > w else (int(h * aspect) // m * m, h)
            return w, h
        return min(menu, key=lambda s: (round(abs(math.log((s[0] / s[1]) / (sw / sh))), 3), s[0] * s[1]))

    def _options(self, request: GenerationRequest) -> dict[str, Any]:
        spec, name = self.spec, f"openai:{self.model}"
        if request.negative_prompt:
            raise InputError(f"{name} takes no negative prompt; say what to leave out in the prompt")
        if len(request.prompt) > spec["max_prompt"]:
            raise InputError(f"{name} takes prompts of at most {spec['max_prompt']} characters")
        if request.n > spec["max_n"]:
            raise InputError(f"{name} makes at most {spec['max_n']} image(s) per call; asked for {request.n}")
        w, h = self._size(request)
        opts: dict[str, Any] = {"size": f"{w}x{h}"}
        quality = request.extra.get("quality", spec["qualities"][0] if spec["qualities"] else None)
        if quality is not None:
            if self.listed and quality not in spec["qualities"]:
                raise InputError(f"{name} quality must be one of {', '.join(spec['qualities']) or '(none)'}")
            opts["quality"] = quality
        style = request.extra.get("style")
        if style is not None:
            if self.listed and style not in spec["styles"]:
                raise InputError(f"{name} style must be one of {', '.join(spec['styles']) or '(none)'}")
            opts["style"] = style
        passed = {k: v for k, v in request.extra.items() if k not in ("quality", "style")}
        for bad in ("model", "prompt", "n", "image", "mask", "size", "response_format"):
            if bad in passed:
                raise InputError(f"{name}: {bad} is set by Atelier, not by an extra option")
        return {**opts, **passed}

    def _estimate(self, opts: dict[str, Any], n: int) -> float | None:
        """USD for `n` images, or None when the table has no price for this model and quality."""
        table = (model_table(self.model) or {}).get("per_image")  # read now: an edited table applies at once
        if not isinstance(table, dict) or not table:
            return None
        quality = opts.get("quality") or next(iter(table))
        by_size = table.get(quality)
        if not isinstance(by_size, dict) or not by_size:
            return None
        if opts["size"] in by_size:
            return float(by_size[opts["size"]]) * n
        # a size the table does not list: scale the dearest listed size by area (never cheaper)
        w, h = map(int, opts["size"].split("x"))
        size, per = max(by_size.items(), key=lambda kv: kv[1])
        sw, sh = map(int, size.split("x"))
        return float(per) * max(1.0, (w * h) / (sw * sh)) * n

    def least_cost_usd(self) -> float | None:
        """The cheapest image the table lists for this model (prices.Priced), None when it lists none."""
        table = (model_table(self.model) or {}).get("per_image")
        listed = [float(v) for by_size in (table or {}).values() if isinstance(by_size, dict)
                  for v in by_size.values()]
        return min(listed) if listed else None

    def _actual(self, usage: Any, estimate: float | None) -> float:
        """Token-billed models: the cost from the usage the service reports, when there is one."""
        rates = (model_table(self.model) or {}).get("tokens")
        if not usage or not rates:
            return estimate or 0.0
        details = getattr(usage, "input_tokens_details", None)
        text_in = getattr(details, "text_tokens", None) if details else None
        image_in = getattr(details, "image_tokens", 0) if details else 0
        cached = getattr(details, "cached_tokens", 0) if details else 0
        if text_in is None:
            text_in, image_in = getattr(usage, "input_tokens", 0) or 0, 0
        out = getattr(usage, "output_tokens", 0) or 0
        cached = min(cached or 0, text_in or 0)
        return ((text_in - cached) * rates["text_input"] + cached * rates.get("text_cached", rates["text_input"])
                + (image_in or 0) * rates["image_input"] + out * rates["output"]) / 1e6

    # ---- calls -------------------------------------------------------------------------------
    def generate(self, request: GenerationRequest, out_dir: Path) -> list[Artifact]:
        opts = self._options(request)
        estimate = self._estimate(opts, request.n)
        prices.before_paying(estimate, f"openai:{self.model} x{request.n}")
        kwargs = dict(model=self.model, prompt=request.prompt, n=request.n, **opts)
        if self.spec.get("response_format"):
            kwargs["response_format"] = self.spec["response_format"]  # no result URL to fetch
        return self._call("generate", kwargs, request, out_dir, estimate)

    def edit(self, request: GenerationRequest, out_dir: Path) -> list[Artifact]:
        if not self.spec["edits"]:
            editors = [m for m, e in (prices.price("openai", default={}) or {}).items()
                       if isinstance(e, dict) and e.get("edits")]
            raise InputError(f"openai:{self.model} cannot edit images; use "
                             + (" or ".join(f"openai:{m}" for m in editors[:2]) or "another model"))
        if request.source_image is None:
            raise InputError("an edit needs a source image")
        opts = self._options(request)
        image = png_bytes(request.source_image)
        kwargs: dict[str, Any] = dict(model=self.model, prompt=request.instruction or request.prompt,
                                      n=request.n, image=("image.png", image, "image/png"), **opts)
        if request.mask is not None:
            kwargs["mask"] = ("mask.png", self._mask(request.source_image, request.mask), "image/png")
        estimate = self._estimate(opts, request.n)
        prices.before_paying(estimate, f"openai:{self.model} edit x{request.n}")
        return self._call("edit", kwargs, request, out_dir, estimate)

    @staticmethod
    def _mask(source: Path, mask: Path) -> bytes:
        """Our masks are white where to repaint (as in diffusers); OpenAI wants a PNG whose fully
        transparent pixels mark the area to edit, the same size as the image."""
        from PIL import Image

        from agent.core.artifacts import load_image

        src, m = load_image(source), load_image(mask).convert("L")
        if m.size != src.size:
            raise InputError(f"the mask is {m.size[0]}x{m.size[1]} but the image is {src.size[0]}x{src.size[1]}")
        rgba = Image.new("RGBA", m.size, (0, 0, 0, 255))
        rgba.putalpha(m.point(lambda v: 0 if v >= 128 else 255))
        buf = io.BytesIO()
        rgba.save(buf, format="PNG")
        return buf.getvalue()

    def _send(self, method: str, kwargs: dict[str, Any]) -> Any:
        """One billed POST; retried only when the service cannot have made the image."""
        import openai

        client = self._client()
        for attempt in range(self._max_retries + 1):
            try:
                return getattr(client.images, method)(**kwargs)
            except openai.APITimeoutError:
                raise RemoteError(SERVICE, f"no answer within {self._timeout:.0f}s; not retried because the "
                                  f"image may have been made (and billed) anyway", kind="timeout",
                                  retryable=True) from None
            except openai.APIConnectionError as e:
                error, wait = self._error(e), None
                if type(e.__cause__).__name__ not in ("ConnectError", "ConnectTimeout"):
                    raise error from None  # it may have got through: sending again could bill twice
            except openai.APIStatusError as e:
                error = self._error(e)
                if not error.retryable:
                    raise error from None
                wait = retry_after(e.response.headers) if e.response is not None else None
            except openai.APIError as e:
                raise self._error(e) from None  # no chained SDK error: its request carries the auth header
            if attempt == self._max_retries:
                raise RemoteError(SERVICE, f"{error.detail} (gave up after {attempt + 1} attempts)",
                                  kind=error.kind, retryable=True, status=error.status) from None
            if wait is not None and wait > MAX_RETRY_AFTER:
                raise RemoteError(SERVICE, f"rate limited; the service asks to wait {wait:.0f}s",
                                  kind="rate_limit", retryable=True, status=error.status) from None
            time.sleep(wait if wait is not None else min(8.0, 0.5 * 2 ** attempt) * random.uniform(0.75, 1.25))
        raise AssertionError("unreachable")

    def _call(self, method: str, kwargs: dict[str, Any], request: GenerationRequest, out_dir: Path,
              estimate: float | None) -> list[Artifact]:
        start = time.monotonic()
        try:
            response = self._send(method, kwargs)
        except ValueError:  # the SDK's json.loads on a malformed body
            raise RemoteError(SERVICE, "answered with malformed JSON", kind="malformed", retryable=True) from None
        seconds = time.monotonic() - start
        source_size = None
        if method == "edit" and request.source_image is not None:
            from agent.core.artifacts import load_image

            source_size = "x".join(map(str, load_image(request.source_image).size))  # the size asked was chosen from it
        data = list(getattr(response, "data", None) or [])
        if not data:
            raise RemoteError(SERVICE, "answered without any image", kind="malformed", retryable=True)
        cost = self._actual(getattr(response, "usage", None), estimate)
        prices.paid(cost)
        artifacts = []
        for i, item in enumerate(data):
            if not item.b64_json:
                raise RemoteError(SERVICE, "answered without image data", kind="malformed", retryable=True)
            meta = {"service": "openai", "model": self.model, "size": kwargs["size"],
                    **({"source_size": source_size} if source_size else {}),
                    "quality": kwargs.get("quality") or getattr(response, "quality", None), "seed_used": False}
            if kwargs.get("style"):
                meta["style"] = kwargs["style"]
            if getattr(item, "revised_prompt", None):  # the user should see what was drawn
                meta["revised_prompt"] = item.revised_prompt
            if estimate is None:
                meta["cost_unknown"] = True
            artifacts.append(image_artifact(b64decode(item.b64_json, SERVICE), SERVICE, out_dir, request,
                                            index=i, parent=source_digest(request) if method == "edit" else None,
                                            seconds=seconds, cost_usd=cost / len(data), meta=meta))
        return artifacts

    def _error(self, e: Exception) -> RemoteError:
        import openai

        secret = getattr(self, "_secret", None)
        if isinstance(e, openai.APIConnectionError):
            return RemoteError(SERVICE, "could not connect", kind="connection", retryable=True)
        if isinstance(e, openai.APIStatusError):
            body = e.body if isinstance(e.body, dict) else {}
            err = body.get("error", body) if isinstance(body.get("error", body), dict) else {}
            message = " ".join(str(x) for x in (err.get("message"), err.get("code")) if x) or str(e)
            return error_for_status(SERVICE, e.status_code, redact(message, secret), KEY_VAR)
        return RemoteError(SERVICE, redact(str(e), secret), kind="malformed", retryable=True)
