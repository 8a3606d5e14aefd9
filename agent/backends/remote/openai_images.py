"""`openai:gpt-image-1` and `openai:dall-e-3` through the official SDK (POST /v1/images/generations,
POST /v1/images/edits). The SDK does its own retries (429/5xx/connection errors, honouring
Retry-After) and timeouts; this file checks options before paying, maps SDK errors to clear
messages, and keeps the revised prompt the service reports on the artifact.

Needs OPENAI_API_KEY (OPENAI_BASE_URL is honoured as the SDK honours it).
"""
from __future__ import annotations

import io
import time
from pathlib import Path
from typing import Any

import httpx

from agent.core.errors import ConfigError, InputError
from agent.core.protocols import ModelInfo
from agent.core.types import Artifact, GenerationRequest
from agent.backends.remote import prices
from agent.backends.remote.http import RemoteError, api_key, error_for_status, redact
from agent.backends.remote.outputs import b64decode, image_artifact, png_bytes, source_digest

SERVICE = "OpenAI"
KEY_VAR = "OPENAI_API_KEY"

# What each model accepts (developers.openai.com/api/reference/resources/images).
MODELS: dict[str, dict[str, Any]] = {
    "gpt-image-1": dict(sizes=[(1024, 1024), (1536, 1024), (1024, 1536)],
                        qualities=("auto", "low", "medium", "high"), styles=(), max_n=10,
                        max_prompt=32000, edits=["inpaint", "instruct"]),
    "dall-e-3": dict(sizes=[(1024, 1024), (1792, 1024), (1024, 1792)],
                     qualities=("standard", "hd"), styles=("vivid", "natural"), max_n=1,
                     max_prompt=4000, edits=[]),
}


class OpenAIImages:
    """ImageBackend for OpenAI's image models. Options in `request.extra`: quality, style (dall-e-3)."""

    def __init__(self, model: str, *, api_key: str | None = None, base_url: str | None = None,
                 http_client: httpx.Client | None = None, timeout: float = 180.0, max_retries: int = 3):
        if model not in MODELS:
            raise ConfigError(f"openai:{model} is not an image model here; choose one of "
                              f"{', '.join('openai:' + m for m in MODELS)}")
        self.model, self.spec = model, MODELS[model]
        self.info = ModelInfo(name=f"openai:{model}", sizes=self.spec["sizes"], supports_negative=False,
                              max_n=self.spec["max_n"], edits=self.spec["edits"])
        self._key, self._base_url, self._http_client = api_key, base_url, http_client
        self._timeout, self._max_retries = timeout, max_retries
        self._sdk: Any = None

    def __repr__(self) -> str:
        return f"OpenAIImages({self.model!r})"

    def _client(self) -> Any:
        if self._sdk is None:
            from openai import OpenAI

            self._secret = api_key(KEY_VAR, self._key, SERVICE)
            kwargs: dict[str, Any] = {"base_url": self._base_url} if self._base_url else {}
            self._sdk = OpenAI(api_key=self._secret, http_client=self._http_client, timeout=self._timeout,
                               max_retries=self._max_retries, **kwargs)
        return self._sdk

    # ---- checks before paying ----------------------------------------------------------------
    def _options(self, request: GenerationRequest) -> dict[str, Any]:
        spec = self.spec
        if request.negative_prompt:
            raise InputError(f"openai:{self.model} takes no negative prompt; say what to leave out in the prompt")
        if len(request.prompt) > spec["max_prompt"]:
            raise InputError(f"openai:{self.model} takes prompts of at most {spec['max_prompt']} characters")
        if request.n > spec["max_n"]:
            raise InputError(f"openai:{self.model} makes at most {spec['max_n']} image(s) per call; asked for {request.n}")
        w, h = request.width or spec["sizes"][0][0], request.height or spec["sizes"][0][1]
        if (w, h) not in spec["sizes"]:
            raise InputError(f"openai:{self.model} makes {', '.join(f'{a}x{b}' for a, b in spec['sizes'])}; "
                             f"{w}x{h} is not one of them")
        quality = request.extra.get("quality", spec["qualities"][0])
        if quality not in spec["qualities"]:
            raise InputError(f"openai:{self.model} quality must be one of {', '.join(spec['qualities'])}")
        style = request.extra.get("style")
        if style is not None and style not in spec["styles"]:
            raise InputError(f"openai:{self.model} style must be one of {', '.join(spec['styles']) or '(none)'}")
        unknown = set(request.extra) - {"quality", "style"}
        if unknown:
            raise InputError(f"openai:{self.model} does not know the option(s) {', '.join(sorted(unknown))}")
        return {"size": f"{w}x{h}", "quality": quality, **({"style": style} if style else {})}

    def _estimate(self, opts: dict[str, Any], n: int) -> float:
        per = prices.price("openai", self.model, "per_image", opts["quality"], opts["size"], default=0.0)
        return float(per) * n

    def _actual(self, usage: Any, estimate: float) -> float:
        """gpt-image-1 bills by tokens: use the usage it reports when there is one."""
        rates = prices.price("openai", self.model, "tokens")
        if not usage or not rates:
            return estimate
        details = getattr(usage, "input_tokens_details", None)
        text_in = getattr(details, "text_tokens", None) if details else None
        image_in = getattr(details, "image_tokens", 0) if details else 0
        if text_in is None:
            text_in, image_in = getattr(usage, "input_tokens", 0) or 0, 0
        out = getattr(usage, "output_tokens", 0) or 0
        return (text_in * rates["text_input"] + (image_in or 0) * rates["image_input"]
                + out * rates["output"]) / 1e6

    # ---- calls -------------------------------------------------------------------------------
    def generate(self, request: GenerationRequest, out_dir: Path) -> list[Artifact]:
        opts = self._options(request)
        estimate = self._estimate(opts, request.n)
        prices.before_paying(estimate, f"openai:{self.model} x{request.n}")
        kwargs = dict(model=self.model, prompt=request.prompt, n=request.n, **opts)
        if self.model == "dall-e-3":
            kwargs["response_format"] = "b64_json"  # no result URL to fetch; gpt-image-1 always sends base64
        return self._call("generate", kwargs, request, out_dir, estimate)

    def edit(self, request: GenerationRequest, out_dir: Path) -> list[Artifact]:
        if not self.spec["edits"]:
            raise InputError(f"openai:{self.model} cannot edit images; use openai:gpt-image-1")
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

    def _call(self, method: str, kwargs: dict[str, Any], request: GenerationRequest, out_dir: Path,
              estimate: float) -> list[Artifact]:
        import openai

        client = self._client()
        start = time.monotonic()
        try:
            response = getattr(client.images, method)(**kwargs)
        except openai.APIError as e:
            raise self._error(e) from None  # no chained SDK error: its request carries the auth header
        except ValueError:  # the SDK's json.loads on a malformed body
            raise RemoteError(SERVICE, "answered with malformed JSON", kind="malformed", retryable=True) from None
        seconds = time.monotonic() - start
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
                    "quality": kwargs["quality"], "seed_used": False}
            if kwargs.get("style"):
                meta["style"] = kwargs["style"]
            if item.revised_prompt:  # dall-e-3 rewrites prompts; the user should see what was drawn
                meta["revised_prompt"] = item.revised_prompt
            artifacts.append(image_artifact(b64decode(item.b64_json, SERVICE), SERVICE, out_dir, request,
                                            index=i, parent=source_digest(request) if method == "edit" else None,
                                            seconds=seconds, cost_usd=cost / len(data), meta=meta))
        return artifacts

    def _error(self, e: Exception) -> RemoteError:
        import openai

        secret = getattr(self, "_secret", None)
        if isinstance(e, openai.APITimeoutError):
            return RemoteError(SERVICE, f"no answer within {self._timeout:.0f}s (after {self._max_retries} "
                               f"retries)", kind="timeout", retryable=True)
        if isinstance(e, openai.APIConnectionError):
            return RemoteError(SERVICE, f"could not connect (after {self._max_retries} retries)",
                               kind="connection", retryable=True)
        if isinstance(e, openai.APIStatusError):
            body = e.body if isinstance(e.body, dict) else {}
            err = body.get("error", body) if isinstance(body.get("error", body), dict) else {}
            message = " ".join(str(x) for x in (err.get("message"), err.get("code")) if x) or str(e)
            error = error_for_status(SERVICE, e.status_code, redact(message, secret), KEY_VAR)
            if error.retryable:  # the SDK already retried these
                error = RemoteError(SERVICE, f"{error.detail} (after {self._max_retries} retries)",
                                    kind=error.kind, retryable=True, status=error.status)
            return error
        return RemoteError(SERVICE, redact(str(e), secret), kind="malformed", retryable=True)
