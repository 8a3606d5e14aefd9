"""`stability:MODEL`: Stability AI's Stable Image API over httpx (platform.stability.ai/docs/api-reference).

  generate  POST /v2beta/stable-image/generate/{core|ultra|sd3}   (sd3 takes `model`: sd3.5-large, ...)
  edit      POST /v2beta/stable-image/edit/inpaint                 (with a mask)
            POST /v2beta/stable-image/edit/search-and-replace      (with extra.search_prompt, no mask)

Bodies are multipart/form-data; we ask for `Accept: application/json`, which answers
{"image": base64, "finish_reason": "SUCCESS" | "CONTENT_FILTERED", "seed": N}. One image per call,
so n images are n calls. Needs STABILITY_API_KEY.
"""
from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Callable

import httpx

from agent.core.errors import ConfigError, InputError
from agent.core.protocols import ModelInfo
from agent.core.types import Artifact, GenerationRequest
from agent.backends.remote import prices
from agent.backends.remote.http import Api, BearerService, RemoteError
from agent.backends.remote.outputs import b64decode, image_artifact, png_bytes, source_digest

SERVICE = "Stability"
KEY_VAR = "STABILITY_API_KEY"
BASE_URL = "https://api.stability.ai"

# model name -> (endpoint, value of the `model` form field)
MODELS: dict[str, tuple[str, str | None]] = {
    "core": ("core", None), "stable-image-core": ("core", None),
    "ultra": ("ultra", None), "stable-image-ultra": ("ultra", None),
    "sd3": ("sd3", "sd3.5-large"),
    **{m: ("sd3", m) for m in ("sd3.5-large", "sd3.5-large-turbo", "sd3.5-medium", "sd3.5-flash",
                               "sd3-large", "sd3-large-turbo", "sd3-medium")},
}
# The API takes an aspect ratio, not pixels; these are the sizes each ratio gives at about 1 MP.
ASPECTS: dict[str, tuple[int, int]] = {
    "1:1": (1024, 1024), "16:9": (1344, 768), "21:9": (1536, 640), "2:3": (832, 1216),
    "3:2": (1216, 832), "4:5": (896, 1088), "5:4": (1088, 896), "9:16": (768, 1344), "9:21": (640, 1536)}
STYLE_PRESETS = ("3d-model", "analog-film", "anime", "cinematic", "comic-book", "digital-art", "enhance",
                 "fantasy-art", "isometric", "line-art", "low-poly", "modeling-compound", "neon-punk",
                 "origami", "photographic", "pixel-art", "tile-texture")
MAX_PROMPT = 10000


class StabilityImages(BearerService):
    """ImageBackend for Stable Image Core / Ultra / SD3.x. Options in `request.extra`: aspect_ratio,
    style_preset; for edits, search_prompt (search-and-replace) and grow_mask (inpaint)."""

    service, key_var, extra_headers = SERVICE, KEY_VAR, {"Accept": "application/json"}

    def __init__(self, model: str, *, api_key: str | None = None, client: httpx.Client | None = None,
                 base_url: str = BASE_URL, sleep: Callable[[float], None] = time.sleep,
                 clock: Callable[[], float] = time.monotonic):
        model = model or "core"
        if model not in MODELS and not model.startswith("sd"):
            raise ConfigError(f"stability:{model} is unknown; choose one of "
                              f"{', '.join('stability:' + m for m in MODELS)} or another sd* model "
                              f"of the Stable Diffusion 3 endpoint")
        self.model = model
        # a newer SD model is a `model` value of the sd3 endpoint: sent as named, the service decides
        self.endpoint, self.form_model = MODELS.get(model, ("sd3", model))
        self.info = ModelInfo(name=f"stability:{model}", sizes=list(ASPECTS.values()),
                              default_guidance=None, supports_negative=True, max_n=4,
                              edits=["inpaint", "search-and-replace"],
                              # the sd3 endpoint's cfg_scale is the one image setting it takes
                              guidance_range=(1.0, 10.0) if self.form_model else None)
        self._key, self._client, self._base_url = api_key, client, base_url
        self._sleep, self._clock = sleep, clock
        self._api: Api | None = None

    def __repr__(self) -> str:
        return f"StabilityImages({self.model!r})"


    # ---- checks before paying ----------------------------------------------------------------
    def _common(self, request: GenerationRequest, allowed: set[str]) -> dict[str, str]:
        if len(request.prompt) > MAX_PROMPT or len(request.negative_prompt) > MAX_PROMPT:
            raise InputError(f"stability prompts are limited to {MAX_PROMPT} characters")
        if request.n > self.info.max_n:
            raise InputError(f"stability:{self.model} makes at most {self.info.max_n} images per request")
        if request.seed >= 4294967295:
            raise InputError("stability seeds go up to 4294967294")
        unknown = set(request.extra) - allowed
        if unknown:
            raise InputError(f"stability:{self.model} does not know the option(s) {', '.join(sorted(unknown))}")
        form = {"output_format": "png", "seed": str(request.seed)}  # seed 0 asks the service for a random one
        if request.negative_prompt:
            form["negative_prompt"] = request.negative_prompt
        return form

    def _generate_form(self, request: GenerationRequest) -> dict[str, str]:
        form = self._common(request, {"aspect_ratio", "style_preset"})
        form["prompt"] = request.prompt
        aspect = request.extra.get("aspect_ratio")
        if aspect is None and (request.width or request.height):
            size = (request.width, request.height)
            aspect = next((a for a, wh in ASPECTS.items() if wh == size), None)
            if aspect is None:
                raise InputError(f"stability:{self.model} makes {', '.join(f'{w}x{h}' for w, h in ASPECTS.values())}"
                                 f" (aspect ratios {', '.join(ASPECTS)}); {request.width}x{request.height} is not one")
        if aspect is not None and aspect not in ASPECTS:
            raise InputError(f"aspect_ratio must be one of {', '.join(ASPECTS)}")
        form["aspect_ratio"] = aspect or "1:1"
        if (style := request.extra.get("style_preset")) is not None:
            if style not in STYLE_PRESETS:
                raise InputError(f"style_preset must be one of {', '.join(STYLE_PRESETS)}")
            form["style_preset"] = style
        if self.form_model:
            form["model"] = self.form_model
            if request.guidance is not None:
                if not 1 <= request.guidance <= 10:
                    raise InputError("stability sd3 guidance (cfg_scale) must be between 1 and 10")
                form["cfg_scale"] = str(request.guidance)
        return form

    def least_cost_usd(self) -> float | None:
        """One generated image at the table's price (prices.Priced; None: not in it)."""
        return prices.price("stability", "generate", self.form_model or self.endpoint)

    # ---- calls -------------------------------------------------------------------------------
    def generate(self, request: GenerationRequest, out_dir: Path) -> list[Artifact]:
        form = self._generate_form(request)
        cost = prices.price("stability", "generate", self.form_model or self.endpoint)
        return self._run(f"/v2beta/stable-image/generate/{self.endpoint}", form, {}, request, out_dir, cost)

    def edit(self, request: GenerationRequest, out_dir: Path) -> list[Artifact]:
        if request.source_image is None:
            raise InputError("an edit needs a source image")
        form = self._common(request, {"search_prompt", "grow_mask"})
        form["prompt"] = request.instruction or request.prompt
        files: dict[str, Any] = {"image": ("image.png", png_bytes(request.source_image), "image/png")}
        if request.mask is not None:  # white = repaint, as Stability's inpaint expects
            operation = "inpaint"
            files["mask"] = ("mask.png", png_bytes(request.mask, mode="L"), "image/png")
            if "grow_mask" in request.extra:
                form["grow_mask"] = str(int(request.extra["grow_mask"]))
        elif request.extra.get("search_prompt"):
            operation = "search-and-replace"
            form["search_prompt"] = str(request.extra["search_prompt"])
        else:
            raise InputError("a stability edit needs a mask (inpaint) or extra.search_prompt (search and replace)")
        cost = prices.price("stability", "edit", operation)
        return self._run(f"/v2beta/stable-image/edit/{operation}", form, files, request, out_dir, cost,
                         parent=source_digest(request))

    def _run(self, path: str, form: dict[str, str], files: dict[str, Any], request: GenerationRequest,
             out_dir: Path, cost: float | None, parent: str | None = None) -> list[Artifact]:
        """`cost` per image from the price table; None when it has none (refused under a money budget)."""
        api = self.api()
        artifacts = []
        for i in range(request.n):
            prices.before_paying(cost, f"stability:{self.model}")
            fields = dict(form)
            if request.seed and i:  # a fixed seed gives n distinct images as seed, seed+1, ...
                fields["seed"] = str((request.seed + i) % 4294967295)
            # Every field as a multipart part (filename None): the API refuses url-encoded bodies.
            parts = [(k, (None, v)) for k, v in fields.items()] + list(files.items())
            start = time.monotonic()
            body = api.json("POST", path, files=parts)
            seconds = time.monotonic() - start
            if not isinstance(body, dict) or "image" not in body:
                raise RemoteError(SERVICE, "answered without an image", kind="malformed", retryable=True)
            if body.get("finish_reason") == "CONTENT_FILTERED":
                raise RemoteError(SERVICE, "the image was blocked by the content filter "
                                  "(finish_reason CONTENT_FILTERED); change the prompt", kind="content_policy")
            prices.paid(cost or 0.0)
            meta = {"service": "stability", "model": self.form_model or self.endpoint, "endpoint": path,
                    "seed": body.get("seed"), "finish_reason": body.get("finish_reason")}
            meta.update({k: fields[k] for k in ("aspect_ratio", "style_preset", "search_prompt") if k in fields})
            artifacts.append(image_artifact(b64decode(body["image"], SERVICE), SERVICE, out_dir, request,
                                            index=i, parent=parent, seconds=seconds, cost_usd=cost or 0.0, meta=meta))
        return artifacts
