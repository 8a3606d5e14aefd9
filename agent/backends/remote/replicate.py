"""`replicate:OWNER/MODEL[:VERSION]`: any Replicate model through the predictions API over httpx
(replicate.com/docs/reference/http), for images (FLUX, SDXL, ...) and video models.

  create  POST /v1/models/{owner}/{name}/predictions  {"input": {...}}        (official models)
          POST /v1/predictions {"version": VERSION, "input": {...}}        (a pinned version)
  poll    GET  /v1/predictions/{id}   status: starting | processing | succeeded | failed | canceled
          | aborted (terminated before it started, e.g. its deadline passed: final, not billed)
  files   POST /v1/files (multipart `content`) for an input image over 1 MB; its `urls.get` is
          passed as the input (smaller ones go inline as data URLs, as Replicate recommends)
  cancel  POST /v1/predictions/{id}/cancel   (when the overall deadline passes)
  output  a URL or a list of URLs on replicate.delivery, downloaded size-capped and type-checked.

Each model has its own input schema; the common fields are mapped for the families below and
anything in `request.extra` is passed through as model input. Needs REPLICATE_API_TOKEN.
"""
from __future__ import annotations

import base64
import re
import time
from pathlib import Path
from typing import Any, Callable

import httpx

from agent.core.errors import ConfigError, InputError
from agent.core.protocols import ModelInfo
from agent.core.types import Artifact, GenerationRequest
from agent.backends.remote import prices
from agent.backends.remote.http import MAX_IMAGE_BYTES, MAX_VIDEO_BYTES, Api, BearerService, RemoteError, is_policy
from agent.backends.remote.outputs import image_artifact, png_bytes, source_digest, video_artifact

SERVICE = "Replicate"
KEY_VAR = "REPLICATE_API_TOKEN"
BASE_URL = "https://api.replicate.com"
FINAL = ("succeeded", "failed", "canceled", "aborted")
INLINE_MAX = 1_000_000  # Replicate: data URLs for files under 1 MB, the files API above
_NAME = re.compile(r"^[\w.-]+/[\w.-]+(:[0-9a-f]{64})?$")

FLUX_ASPECTS = {"1:1": (1024, 1024), "16:9": (1344, 768), "21:9": (1536, 640), "3:2": (1216, 832),
                "2:3": (832, 1216), "4:5": (896, 1088), "5:4": (1088, 896), "3:4": (896, 1152),
                "4:3": (1152, 896), "9:16": (768, 1344), "9:21": (640, 1536)}
SDXL_SIZES = [(1024, 1024), (1152, 896), (896, 1152), (1216, 832), (832, 1216), (1344, 768),
              (768, 1344), (1536, 640), (640, 1536), (768, 768), (512, 512)]
# Video models name their inputs differently; (first-frame image key, takes num_frames/fps?).
VIDEO_INPUTS: dict[str, tuple[str, bool]] = {
    "minimax/video-01": ("first_frame_image", False),
    "kwaivgi/kling-v1.6-standard": ("start_image", False),
    "wan-video/wan-2.1-i2v-480p": ("image", True),
    "wan-video/wan-2.1-t2v-480p": ("image", True),
}


def parse_model(model: str) -> tuple[str, str | None]:
    if not _NAME.match(model or ""):
        raise ConfigError(f"replicate:{model} is not OWNER/MODEL or OWNER/MODEL:VERSION "
                          f"(VERSION is the 64-character version id)")
    name, _, version = model.partition(":")
    return name, version or None


class _Replicate(BearerService):
    """The predictions API, shared by the image and the video back ends."""

    kind = "image"
    deadline_s = 300.0
    service, key_var = SERVICE, KEY_VAR

    def __init__(self, model: str, *, api_key: str | None = None, client: httpx.Client | None = None,
                 base_url: str = BASE_URL, deadline_s: float | None = None,
                 sleep: Callable[[float], None] = time.sleep, clock: Callable[[], float] = time.monotonic):
        self.model = model
        self.name, self.version = parse_model(model)
        self._key, self._client, self._base_url = api_key, client, base_url
        self._sleep, self._clock = sleep, clock
        self.deadline_s = deadline_s or self.deadline_s
        self._api: Api | None = None

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.model!r})"


    # ---- prices ------------------------------------------------------------------------------
    def _rate(self) -> dict[str, float]:
        return prices.price("replicate", self.name) or prices.price("replicate", "default", default={})

    def _estimate(self, outputs: int) -> float:
        rate = self._rate()
        if "per_output" in rate:
            return rate["per_output"] * outputs
        return rate.get("per_second", 0.0) * 30 * outputs  # budget for about 30 s of GPU time each

    def least_cost_usd(self) -> float | None:
        """One output at the table's rate (prices.Priced), as the budget counts it before a prediction."""
        return self._estimate(1)

    def _cost(self, prediction: dict, outputs: int) -> float:
        rate = self._rate()
        if "per_output" in rate:
            return rate["per_output"] * outputs
        seconds = (prediction.get("metrics") or {}).get("predict_time") or 0.0
        return rate.get("per_second", 0.0) * float(seconds)

    # ---- one prediction, start to finish -----------------------------------------------------
    def predict(self, model_input: dict[str, Any], outputs: int) -> tuple[dict, list[str], float, float]:
        prices.before_paying(self._estimate(outputs), f"replicate:{self.name}")
        api = self.api()
        start = time.monotonic()
        if self.version:
            created = api.json("POST", "/v1/predictions", json={"version": self.version, "input": model_input})
        else:
            created = api.json("POST", f"/v1/models/{self.name}/predictions", json={"input": model_input})
        if not isinstance(created, dict) or not created.get("id"):
            raise RemoteError(SERVICE, "created a prediction without an id", kind="malformed", retryable=True)
        pid = created["id"]

        def fetch() -> dict:
            state = api.json("GET", f"/v1/predictions/{pid}")
            if not isinstance(state, dict) or "status" not in state:
                raise RemoteError(SERVICE, f"prediction {pid} answered without a status", kind="malformed",
                                  retryable=True)
            return state

        done = created if created.get("status") in FINAL else api.poll(
            fetch, done=lambda s: s["status"] in FINAL,
            deadline_s=self.deadline_s, what=f"prediction {pid}",
            cancel=lambda: api.request("POST", f"/v1/predictions/{pid}/cancel"))
        seconds = time.monotonic() - start
        if done["status"] != "succeeded":
            error = str(done.get("error") or done["status"])
            cost = self._cost(done, 0) if done["status"] == "failed" else 0.0
            prices.paid(cost)  # hardware-billed models charge for the time a failed run used
            if is_policy(error):
                raise RemoteError(SERVICE, f"prediction {pid} refused by the content filter: {error}",
                                  kind="content_policy")
            raise RemoteError(SERVICE, f"prediction {pid} {done['status']}: {error[:300]}", kind="failed",
                              retryable=done["status"] in ("failed", "aborted"))
        output = done.get("output")
        urls = [output] if isinstance(output, str) else [u for u in output or [] if isinstance(u, str)]
        if not urls:
            raise RemoteError(SERVICE, f"prediction {pid} succeeded without any output file", kind="malformed")
        cost = self._cost(done, len(urls))
        prices.paid(cost)
        return done, urls, cost, seconds

    def input_file(self, path: Path) -> str:
        """An input image as Replicate takes it: inline under 1 MB, else uploaded to the files API."""
        data = png_bytes(path)
        if len(data) <= INLINE_MAX:
            return "data:image/png;base64," + base64.b64encode(data).decode()
        uploaded = self.api().json("POST", "/v1/files", files={
            "content": (Path(path).stem + ".png", data, "image/png")})
        url = ((uploaded or {}).get("urls") or {}).get("get") if isinstance(uploaded, dict) else None
        if not url:
            raise RemoteError(SERVICE, "the files API answered without a URL for the upload", kind="malformed",
                              retryable=True)
        return url

    def _meta(self, prediction: dict) -> dict[str, Any]:
        return {"service": "replicate", "model": self.model, "prediction_id": prediction.get("id"),
                "predict_time": (prediction.get("metrics") or {}).get("predict_time")}


# the scheduler values stability-ai/sdxl's `scheduler` input takes on Replicate
SDXL_SCHEDULERS = ("DDIM", "DPMSolverMultistep", "HeunDiscrete", "KarrasDPM", "K_EULER_ANCESTRAL", "K_EULER", "PNDM")


class ReplicateImages(_Replicate):
    """ImageBackend for image models on Replicate (FLUX, SDXL, ...)."""

    def __init__(self, model: str, **kwargs: Any):
        super().__init__(model, **kwargs)
        self.flux = self.name.startswith("black-forest-labs/flux")
        sizes = list(FLUX_ASPECTS.values()) if self.flux else SDXL_SIZES
        # the image settings _input sends (num_inference_steps, guidance / guidance_scale, scheduler)
        ranges = {"steps_range": (1, 50), "guidance_range": (0.0, 10.0)} if self.flux else \
            {"steps_range": (1, 500), "guidance_range": (1.0, 50.0), "schedulers": list(SDXL_SCHEDULERS)}
        self.info = ModelInfo(name=f"replicate:{model}", sizes=sizes, supports_negative=not self.flux,
                              max_n=4, edits=["inpaint", "img2img"], **ranges)

    def _input(self, request: GenerationRequest) -> dict[str, Any]:
        model_input: dict[str, Any] = {"prompt": request.prompt, "seed": request.seed}
        if self.flux:
            if request.negative_prompt:
                raise InputError(f"replicate:{self.name} takes no negative prompt")
            if request.width or request.height:
                aspect = next((a for a, wh in FLUX_ASPECTS.items() if wh == (request.width, request.height)), None)
                if aspect is None:
                    raise InputError(f"replicate:{self.name} makes "
                                     f"{', '.join(f'{w}x{h}' for w, h in FLUX_ASPECTS.values())}; "
                                     f"{request.width}x{request.height} is not one of them")
                model_input["aspect_ratio"] = aspect
            model_input.update(num_outputs=request.n, output_format="png")
            if request.steps is not None:
                model_input["num_inference_steps"] = request.steps
            if request.guidance is not None:
                model_input["guidance"] = request.guidance
        else:
            w, h = request.width or 1024, request.height or 1024
            if w % 8 or h % 8 or not (256 <= w <= 2048 and 256 <= h <= 2048):
                raise InputError(f"replicate:{self.name} sizes must be multiples of 8 from 256 to 2048")
            model_input.update(width=w, height=h, num_outputs=request.n)
            if request.negative_prompt:
                model_input["negative_prompt"] = request.negative_prompt
            if request.steps is not None:
                model_input["num_inference_steps"] = request.steps
            if request.guidance is not None:
                model_input["guidance_scale"] = request.guidance
            if request.scheduler:
                model_input["scheduler"] = request.scheduler
        model_input.update(request.extra)  # model-specific inputs win
        return model_input

    def generate(self, request: GenerationRequest, out_dir: Path) -> list[Artifact]:
        if request.n > self.info.max_n:
            raise InputError(f"replicate:{self.name} makes at most {self.info.max_n} images per call here")
        return self._images(self._input(request), request, out_dir, parent=None)

    def edit(self, request: GenerationRequest, out_dir: Path) -> list[Artifact]:
        if request.source_image is None:
            raise InputError("an edit needs a source image")
        model_input = self._input(request)
        model_input["image"] = self.input_file(request.source_image)
        if request.mask is not None:  # white = repaint, the convention of SDXL and FLUX Fill on Replicate
            model_input["mask"] = self.input_file(request.mask)
        if request.strength is not None:
            model_input["prompt_strength"] = request.strength
        return self._images(model_input, request, out_dir, parent=source_digest(request))

    def _images(self, model_input: dict, request: GenerationRequest, out_dir: Path,
                parent: str | None) -> list[Artifact]:
        prediction, urls, cost, seconds = self.predict(model_input, request.n)
        api = self.api()
        return [image_artifact(api.download(url, kinds=("image",), max_bytes=MAX_IMAGE_BYTES), SERVICE,
                               out_dir, request, index=i, parent=parent, seconds=seconds,
                               cost_usd=cost / len(urls), meta=self._meta(prediction))
                for i, url in enumerate(urls)]


class ReplicateVideo(_Replicate):
    """VideoBackend for video models on Replicate (text or image to video) as an asynchronous job."""

    kind = "video"
    deadline_s = 900.0

    def __init__(self, model: str, **kwargs: Any):
        super().__init__(model, **kwargs)
        self.image_key, self.takes_frames = VIDEO_INPUTS.get(self.name, ("image", False))
        self.info = ModelInfo(name=f"replicate:{model}", sizes=[(1280, 720), (720, 1280), (832, 480)],
                              supports_negative=True, max_n=1, edits=[])

    def generate(self, request: GenerationRequest, out_dir: Path) -> list[Artifact]:
        if request.n != 1:
            raise InputError(f"replicate:{self.name} makes one clip per call")
        model_input: dict[str, Any] = {"prompt": request.prompt, "seed": request.seed}
        if request.negative_prompt:
            model_input["negative_prompt"] = request.negative_prompt
        if request.source_image is not None:
            model_input[self.image_key] = self.input_file(request.source_image)
        if self.takes_frames:
            if request.num_frames:
                model_input["num_frames"] = request.num_frames
            if request.fps:
                model_input["frames_per_second"] = request.fps
        elif request.num_frames and request.fps:
            model_input["duration"] = max(1, round(request.num_frames / request.fps))
        model_input.update(request.extra)
        prediction, urls, cost, seconds = self.predict(model_input, 1)
        data = self.api().download(urls[0], kinds=("video",), max_bytes=MAX_VIDEO_BYTES)
        return [video_artifact(data, SERVICE, out_dir, request, index=0, seconds=seconds, cost_usd=cost,
                               meta=self._meta(prediction))]
