"""`runway:MODEL`: Runway's developer API over httpx (docs.dev.runwayml.com/api), as an asynchronous job.

  submit  POST https://api.dev.runwayml.com/v1/image_to_video  {"model", "promptImage", "promptText",
                                                                "ratio", "duration", "seed"}
          POST .../v1/text_to_video                            {"model", "promptText", "ratio", "duration"}
  poll    GET  .../v1/tasks/{id}   status: PENDING | THROTTLED | RUNNING | SUCCEEDED | FAILED | CANCELLED
  cancel  DELETE .../v1/tasks/{id}   (when the overall deadline passes)
  output  `output` is a list of URLs, downloaded size-capped and type-checked.

Every request carries `X-Runway-Version: 2024-11-06`. The source image goes inline as a data URI.
Runway renders at 24 fps: the clip length is `extra.duration` or num_frames / fps, rounded to what the
model allows. Needs RUNWAYML_API_SECRET.
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
from agent.backends.remote.http import MAX_VIDEO_BYTES, Api, BearerService, RemoteError
from agent.backends.remote.outputs import data_url, video_artifact

SERVICE = "Runway"
KEY_VAR = "RUNWAYML_API_SECRET"
BASE_URL = "https://api.dev.runwayml.com"
API_VERSION = "2024-11-06"
FPS = 24

_GEN4_RATIOS = ["1280:720", "720:1280", "1104:832", "832:1104", "960:960", "1584:672"]
_VEO_RATIOS = ["1280:720", "720:1280", "1080:1920", "1920:1080"]
# model -> ratios, allowed durations (s), endpoints it offers (from the API reference / SDK types)
MODELS: dict[str, dict[str, Any]] = {
    "gen4_turbo": dict(ratios=_GEN4_RATIOS, durations=[5, 10], modes=("image",), seed=True),
    "gen4.5": dict(ratios=_GEN4_RATIOS, durations=list(range(2, 11)), modes=("image", "text"), seed=True),
    "veo3.1": dict(ratios=_VEO_RATIOS, durations=[4, 6, 8], modes=("image", "text"), seed=False),
    "veo3.1_fast": dict(ratios=_VEO_RATIOS, durations=[4, 6, 8], modes=("image", "text"), seed=False),
    "veo3": dict(ratios=_VEO_RATIOS, durations=[8], modes=("image", "text"), seed=False),
}
UNLISTED: dict[str, Any] = dict(ratios=_GEN4_RATIOS + [r for r in _VEO_RATIOS if r not in _GEN4_RATIOS],
                                durations=list(range(2, 11)), modes=("image", "text"), seed=False)
DONE = ("SUCCEEDED", "FAILED", "CANCELLED")


class RunwayVideo(BearerService):
    """VideoBackend for Runway's image-to-video and text-to-video models."""

    service, key_var, extra_headers = SERVICE, KEY_VAR, {"X-Runway-Version": API_VERSION}

    def __init__(self, model: str, *, api_key: str | None = None, client: httpx.Client | None = None,
                 base_url: str = BASE_URL, deadline_s: float = 900.0,
                 sleep: Callable[[float], None] = time.sleep, clock: Callable[[], float] = time.monotonic):
        model = model or "gen4_turbo"
        if not model.replace(".", "").replace("_", "").replace("-", "").isalnum():
            raise ConfigError(f"runway:{model} is not a model name; known: {', '.join('runway:' + m for m in MODELS)}")
        # a model newer than this table is sent as named; the service checks ratio and duration
        self.model, self.spec = model, MODELS.get(model, UNLISTED)
        sizes = [tuple(int(x) for x in r.split(":")) for r in self.spec["ratios"]]
        self.info = ModelInfo(name=f"runway:{model}", sizes=sizes, supports_negative=False, max_n=1,
                              edits=[], vocabulary="image to video" if self.spec["modes"] == ("image",) else "")
        self._key, self._client, self._base_url = api_key, client, base_url
        self._sleep, self._clock, self.deadline_s = sleep, clock, deadline_s
        self._api: Api | None = None

    def __repr__(self) -> str:
        return f"RunwayVideo({self.model!r})"


    def least_cost_usd(self) -> float | None:
        """The shortest clip this model makes at the table's rate (prices.Priced; None: not in it)."""
        rate = prices.price("runway", "per_second", self.model)
        return None if rate is None else float(rate) * min(self.spec["durations"])

    def _body(self, request: GenerationRequest) -> tuple[str, dict[str, Any], int]:
        spec = self.spec
        if request.n != 1:
            raise InputError(f"runway:{self.model} makes one clip per call")
        if request.negative_prompt:
            raise InputError(f"runway:{self.model} takes no negative prompt")
        if len(request.prompt) > 1000:
            raise InputError("runway prompts are limited to 1000 characters")
        unknown = set(request.extra) - {"duration", "ratio"}
        if unknown:
            raise InputError(f"runway:{self.model} does not know the option(s) {', '.join(sorted(unknown))}")
        ratio = request.extra.get("ratio") or (f"{request.width}:{request.height}" if request.width and request.height
                                              else self._ratio_for(request.source_image))
        if ratio not in spec["ratios"]:
            raise InputError(f"runway:{self.model} makes {', '.join(r.replace(':', 'x') for r in spec['ratios'])};"
                             f" {ratio.replace(':', 'x')} is not one of them")
        if "duration" in request.extra:
            duration = int(request.extra["duration"])
        elif request.num_frames:
            seconds = request.num_frames / (request.fps or FPS)
            duration = min(spec["durations"], key=lambda d: abs(d - seconds))  # the nearest length offered
        else:
            duration = spec["durations"][0]
        if duration not in spec["durations"]:
            raise InputError(f"runway:{self.model} makes clips of {', '.join(map(str, spec['durations']))} s")
        body: dict[str, Any] = {"model": self.model, "promptText": request.prompt, "ratio": ratio,
                                "duration": duration}
        if spec["seed"]:
            body["seed"] = request.seed
        if request.source_image is not None:
            body["promptImage"] = data_url(request.source_image, max_bytes=5 * 2**20)
            return "/v1/image_to_video", body, duration
        if "text" not in spec["modes"]:
            raise InputError(f"runway:{self.model} animates an image: give a source image, "
                             f"or use runway:gen4.5 or runway:veo3.1 for text to video")
        body.pop("seed", None)
        return "/v1/text_to_video", body, duration

    def _ratio_for(self, source: Path | None) -> str:
        """The ratio nearest the source image's shape (Runway would crop a portrait into 16:9), else the
        model's first."""
        if source is None:
            return self.spec["ratios"][0]
        import math

        from agent.core.artifacts import load_image

        w, h = load_image(source).size

        def off(ratio: str) -> float:
            rw, rh = map(int, ratio.split(":"))
            return abs(math.log((rw / rh) / (w / h)))
        return min(self.spec["ratios"], key=off)

    def generate(self, request: GenerationRequest, out_dir: Path) -> list[Artifact]:
        path, body, duration = self._body(request)
        rate = prices.price("runway", "per_second", self.model)
        cost = None if rate is None else float(rate) * duration
        prices.before_paying(cost, f"runway:{self.model} {duration}s clip")
        api = self.api()
        start = time.monotonic()
        task = api.json("POST", path, json=body)
        if not isinstance(task, dict) or not task.get("id"):
            raise RemoteError(SERVICE, "accepted the job without a task id", kind="malformed", retryable=True)
        tid = task["id"]

        def fetch() -> dict:
            state = api.json("GET", f"/v1/tasks/{tid}")
            if not isinstance(state, dict) or "status" not in state:
                raise RemoteError(SERVICE, f"task {tid} answered without a status", kind="malformed", retryable=True)
            return state

        # Runway asks clients not to poll a task more often than every 5 seconds.
        done = api.poll(fetch, done=lambda s: s["status"] in DONE, deadline_s=self.deadline_s,
                        what=f"task {tid}", cancel=lambda: api.request("DELETE", f"/v1/tasks/{tid}"),
                        first=5.0, cap=20.0)
        seconds = time.monotonic() - start
        if done["status"] != "SUCCEEDED":
            code = str(done.get("failureCode") or "")
            reason = f"{done.get('failure') or done['status']}" + (f" ({code})" if code else "")
            if code.startswith("SAFETY"):
                raise RemoteError(SERVICE, f"task {tid} refused by content moderation: {reason}",
                                  kind="content_policy")
            # INTERNAL.* failures are Runway's own and may pass on a new attempt; others will not.
            raise RemoteError(SERVICE, f"task {tid} {done['status'].lower()}: {reason}", kind="failed",
                              retryable=code.startswith("INTERNAL"))
        cost = cost or 0.0
        prices.paid(cost)  # billed once it succeeded, whether or not the download works
        urls = [u for u in done.get("output") or [] if isinstance(u, str)]
        if not urls:
            raise RemoteError(SERVICE, f"task {tid} succeeded without an output URL", kind="malformed")
        data = api.download(urls[0], kinds=("video",), max_bytes=MAX_VIDEO_BYTES)
        meta = {"service": "runway", "model": self.model, "task_id": tid, "ratio": body["ratio"],
                "duration_s": duration, "fps": FPS, "endpoint": path}
        return [video_artifact(data, SERVICE, out_dir, request, index=0, seconds=seconds, cost_usd=cost, meta=meta)]
