"""The back-end contract (tests/backend_contract.py) for the remote services' stand-ins: OpenAI's
images API (through the official SDK), Stability, Replicate and Runway, each over a mock transport.

tests/backend_contract.py's classes are built round a local pipeline (tiny sizes, the memory ladder,
the VAE's decode); a service has none of those, so its stand-in passes this sibling of them, the
same promises where they apply: n=1 and n>=2 (a seeded service's picture i of a batch is the single
call with seed + i), the size or aspect asked for (an edit: its source's) kept and recorded, the cost
recorded, a service error a tool error that names the service, a safety refusal a content-policy error
sent once, every request under a deadline, and retries bounded, with backoff."""
from __future__ import annotations

import base64
import hashlib
import io
import json
from pathlib import Path

import httpx
import pytest
from PIL import Image

from agent.backends.remote import openai_images, prices
from agent.backends.remote.openai_images import OpenAIImages
from agent.backends.remote.replay import FakeClock
from agent.backends.remote.replicate import ReplicateImages
from agent.backends.remote.runway import RunwayVideo
from agent.backends.remote.stability import ASPECTS, StabilityImages
from agent.core.errors import AtelierError, ConfigError, InputError
from agent.core.types import GenerationRequest
from agent.run.tooling import Reply, Tool
from agent.core.protocols import ToolCall
from tests.backend_contract import pixels

FIX = Path(__file__).parent / "fixtures" / "remote"


def png(size: tuple[int, int], key: str) -> bytes:
    """A picture that depends on `key` only (what a seeded service returns for a seed)."""
    colour = tuple(hashlib.sha256(key.encode()).digest()[:3])
    buf = io.BytesIO()
    Image.new("RGB", size, colour).save(buf, "PNG")
    return buf.getvalue()


def form(request: httpx.Request) -> dict[str, bytes]:
    """Every part of a multipart body, files too, by name."""
    boundary = request.headers["content-type"].split("boundary=")[1].encode()
    parts = {}
    for part in request.content.split(b"--" + boundary):
        head, _, value = part.partition(b"\r\n\r\n")
        if b'name="' in head:
            parts[head.split(b'name="')[1].split(b'"')[0].decode()] = value[:-2] if value.endswith(b"\r\n") else value
    return parts


class Service:
    """A stand-in service: answers `failures` first (status codes), then renders what was asked."""

    def __init__(self, render, failures: tuple[int, ...] = ()):
        self.render, self.failures, self.requests = render, list(failures), []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        request.read()
        self.requests.append(request)
        if self.failures:
            status = self.failures.pop(0)
            return httpx.Response(status, json={"error": {"message": f"stand-in says {status}", "type": "server_error"},
                                                "errors": [f"stand-in says {status}"], "name": "stand_in"})
        return self.render(request)

    def client(self) -> httpx.Client:
        return httpx.Client(transport=httpx.MockTransport(self))


def openai_render(request: httpx.Request) -> httpx.Response:
    if request.headers["content-type"].startswith("multipart"):
        fields = {k: v.decode(errors="replace") for k, v in form(request).items() if k not in ("image", "mask")}
    else:
        fields = {k: str(v) for k, v in json.loads(request.content).items()}
    w, h = map(int, fields["size"].split("x"))
    n = int(fields.get("n", 1))
    return httpx.Response(200, json={
        "created": 1760000000, "size": fields["size"], "quality": fields.get("quality", "low"),
        "data": [{"b64_json": base64.b64encode(png((w // 32, h // 32), f"{fields['prompt']}|{i}")).decode()}
                 for i in range(n)],
        "usage": {"input_tokens": 50, "input_tokens_details": {"image_tokens": 0, "text_tokens": 50},
                  "output_tokens": 272, "total_tokens": 322}})


def stability_render(request: httpx.Request) -> httpx.Response:
    fields = form(request)
    seed = fields["seed"].decode()
    if "image" in fields:  # an edit keeps its source's size
        with Image.open(io.BytesIO(fields["image"])) as source:
            size = source.size
    else:
        size = ASPECTS[fields["aspect_ratio"].decode()]
    return httpx.Response(200, json={"image": base64.b64encode(png(size, seed)).decode(),
                                     "finish_reason": "SUCCESS", "seed": int(seed)})


def recorded(name: str, status: int = 200) -> httpx.Response:
    return httpx.Response(status, json=json.loads((FIX / name).read_text()))


class RemoteContract:
    service = ""  # as errors name it
    seeded = True  # the service takes a seed: picture i of a batch is the single call with seed + i
    price_per_image: float | None = None  # from the price table; None when billed by tokens or time

    def make(self, service: Service):
        raise NotImplementedError

    def run(self, backend, task: str, files, out, **kw):
        raise NotImplementedError

    def expected_size(self, task: str, files) -> tuple[int, int]:
        raise NotImplementedError

    def render(self, request):
        raise NotImplementedError

    tasks: tuple[str, ...] = ()

    @pytest.fixture
    def files(self, tmp_path):
        Image.new("RGB", (880, 1320), (90, 120, 200)).save(tmp_path / "source.png")  # 2:3, a portrait
        mask = Image.new("L", (880, 1320), 0)
        mask.paste(255, (200, 200, 600, 600))
        mask.save(tmp_path / "mask.png")
        return tmp_path / "source.png", tmp_path / "mask.png"

    @pytest.fixture(autouse=True)
    def no_waiting(self, monkeypatch):
        self.waits: list[float] = []
        monkeypatch.setattr(openai_images.time, "sleep", self.waits.append)

    def test_each_task_with_one_and_many(self, files, tmp_path):
        for task in self.tasks:
            service = Service(self.render)
            backend = self.make(service)
            many = self.run(backend, task, files, tmp_path, seed=3, n=2)
            assert len(many) == 2, task
            want = self.expected_size(task, files)
            for art in many:
                w, h = Image.open(art.path).size
                assert abs(w / h - want[0] / want[1]) < 0.02, f"{task}: {w}x{h} is not the shape of {want}"
                assert art.seconds is not None and art.cost_usd > 0, task
                if self.price_per_image is not None:
                    assert art.cost_usd == pytest.approx(self.price_per_image), task
            if self.seeded:
                for i, art in enumerate(many):
                    alone = self.run(backend, task, files, tmp_path, seed=3 + i, n=1)[0]
                    assert (pixels(alone.path) == pixels(art.path)).all(), f"{task}: picture {i} is not seed {3 + i}'s"
            assert (pixels(many[0].path) != pixels(many[1].path)).any(), f"{task}: two pictures the same"

    def test_a_service_error_is_a_tool_error_naming_the_service(self, files, tmp_path):
        backend = self.make(Service(self.render, failures=(400,)))

        def generate_image(ctx) -> Reply:
            """Make a picture."""
            self.run(backend, self.tasks[0], files, tmp_path, seed=1, n=1)
            return Reply(text="made")
        result = Tool(generate_image)(None, ToolCall(id="c1", name="generate_image"))
        assert result.is_error and self.service in result.data["error"] and "\n" not in result.data["error"]

    def flagged(self, request) -> httpx.Response:
        """The service's recorded answer when its safety system refuses the request."""
        raise NotImplementedError

    def test_a_safety_flag_is_surfaced(self, files, tmp_path):
        """A refusal by the service's safety system is a content-policy tool error naming the service, sent
        once (not retried, not saved as a picture)."""
        service = Service(self.flagged)
        with pytest.raises(AtelierError) as e:
            self.run(self.make(service), self.tasks[0], files, tmp_path, seed=1, n=1)
        assert e.value.kind == "content_policy" and not e.value.retryable and not self.waits
        assert str(e.value).startswith(self.service) and "\n" not in str(e.value)
        made = {p.name for p in tmp_path.rglob("*") if p.suffix in (".png", ".jpg", ".webp", ".mp4")}
        assert made <= {"source.png", "mask.png"}, made
        assert len([r for r in service.requests if r.method == "POST"]) == 1

    def test_retries_are_bounded_and_back_off(self, files, tmp_path):
        service = Service(self.render, failures=(503,) * 20)
        with pytest.raises(AtelierError) as e:
            self.run(self.make(service), self.tasks[0], files, tmp_path, seed=1, n=1)
        assert not isinstance(e.value, ConfigError) and e.value.retryable and str(e.value).startswith(self.service)
        assert 2 <= len(service.requests) <= 5  # tried again, but not for ever
        assert self.waits and all(w > 0 for w in self.waits) and self.waits[-1] >= self.waits[0]

    def test_every_request_has_a_deadline(self, files, tmp_path):
        service = Service(self.render)
        self.run(self.make(service), self.tasks[0], files, tmp_path, seed=1, n=1)
        for request in service.requests:
            timeout = request.extensions["timeout"]
            assert all(v is not None and 0 < v <= 900 for v in (timeout["connect"], timeout["read"]))


class TestOpenAIImages(RemoteContract):
    service, seeded, tasks = "OpenAI", False, ("text2img", "inpaint", "instruct")

    def make(self, service):
        return OpenAIImages("gpt-image-1.5", api_key="sk-test-openai-0123456789abcdefa1b2c3",
                            http_client=service.client())

    def render(self, request):
        return openai_render(request)

    def run(self, backend, task, files, out, **kw):
        source, mask = files
        request = GenerationRequest(prompt="a lighthouse at dusk", model="openai:gpt-image-1.5",
                                    extra={"quality": "low"}, **kw)
        if task == "text2img":
            return backend.generate(request.model_copy(update={"width": 1536, "height": 1024}), out)
        update = {"source_image": source, "instruction": "make the sky orange"}
        return backend.edit(request.model_copy(update={**update, **({"mask": mask} if task == "inpaint" else {})}),
                            out)

    def expected_size(self, task, files):
        return (1536, 1024) if task == "text2img" else (1024, 1536)  # the menu's nearest to a 2:3 source

    def flagged(self, request):
        return recorded("openai_content_policy.json", 400)


class TestStability(RemoteContract):
    service, tasks, price_per_image = "Stability", ("text2img", "inpaint"), None

    def make(self, service):
        clock = FakeClock()
        backend = StabilityImages("core", api_key="sk-stability-test-0123456789abcdef", client=service.client(),
                                  sleep=self.waits.append, clock=clock.now)
        return backend

    def render(self, request):
        return stability_render(request)

    def run(self, backend, task, files, out, **kw):
        source, mask = files
        if task == "text2img":
            return backend.generate(GenerationRequest(prompt="a lighthouse", model="stability:core", width=1344,
                                                      height=768, **kw), out)
        return backend.edit(GenerationRequest(prompt="a lighthouse", model="stability:core", source_image=source,
                                              mask=mask, **kw), out)

    def expected_size(self, task, files):
        return (1344, 768) if task == "text2img" else (880, 1320)

    def flagged(self, request):  # the picture came back filtered (a 200 with finish_reason CONTENT_FILTERED)
        return recorded("stability_filtered.json")

    def test_each_task_with_one_and_many(self, files, tmp_path):
        self.price_per_image = prices.price("stability", "generate", "core")
        super().test_each_task_with_one_and_many(files, tmp_path)


class TestReplicate(RemoteContract):
    """Replicate's predictions API from recorded answers: create, poll, download."""

    service, tasks, seeded = "Replicate", ("text2img",), False

    def make(self, service):
        return ReplicateImages("black-forest-labs/flux-schnell", api_key="r8_test_0123456789abcdefghijklmnopqrstu",
                               client=service.client(), sleep=self.waits.append, clock=FakeClock().now)

    def render(self, request):
        url = str(request.url)
        if request.method == "POST":
            return recorded("replicate_created.json", 201)
        if "replicate.delivery" in url:
            return httpx.Response(200, headers={"content-type": "image/png"},
                                  content=png((64, 64), url.rsplit("/", 1)[1]))
        return recorded("replicate_succeeded.json")

    def run(self, backend, task, files, out, **kw):
        return backend.generate(GenerationRequest(prompt="two red circles left of a blue square", width=1024,
                                                  height=1024, **kw), out)

    def expected_size(self, task, files):
        return (1024, 1024)

    def flagged(self, request):
        return recorded("replicate_created.json", 201) if request.method == "POST" else \
            recorded("replicate_failed_nsfw.json")

    def test_each_task_with_one_and_many(self, files, tmp_path):
        service = Service(self.render)
        many = self.run(self.make(service), "text2img", files, tmp_path, seed=3, n=2)
        created = json.loads(service.requests[0].content)["input"]
        assert created["num_outputs"] == 2 and created["seed"] == 3 and len(many) == 2
        assert all(a.cost_usd == pytest.approx(prices.price("replicate", "black-forest-labs/flux-schnell",
                                                            "per_output")) for a in many)
        assert (pixels(many[0].path) != pixels(many[1].path)).any()


class TestRunway(RemoteContract):
    """Runway makes one clip a call: n >= 2 is refused before anything is sent."""

    service, tasks, seeded = "Runway", ("image2video",), False

    def make(self, service):
        return RunwayVideo("gen4_turbo", api_key="key_runway_test_0123456789abcdef", client=service.client(),
                           sleep=self.waits.append, clock=FakeClock().now)

    def render(self, request):
        if request.method == "POST":
            return recorded("runway_task_created.json")
        if "cloudfront.net" in str(request.url):
            return httpx.Response(200, headers={"content-type": "video/mp4"},
                                  content=b"\0\0\0\x20ftypisom" + b"\0" * 512)
        return recorded("runway_task_succeeded.json")

    def run(self, backend, task, files, out, **kw):
        return backend.generate(GenerationRequest(prompt="the camera pushes in", model="runway:gen4_turbo",
                                                  source_image=files[0], **kw), out)

    def flagged(self, request):
        return recorded("runway_task_created.json") if request.method == "POST" else \
            recorded("runway_task_failed_safety.json")

    def test_each_task_with_one_and_many(self, files, tmp_path):
        service = Service(self.render)
        backend = self.make(service)
        with pytest.raises(InputError, match="one clip per call"):
            self.run(backend, "image2video", files, tmp_path, seed=3, n=2)
        assert not service.requests
        clip, = self.run(backend, "image2video", files, tmp_path, seed=3, n=1)
        body = json.loads(service.requests[0].content)
        assert body["ratio"] == "832:1104" and clip.meta["ratio"] == "832:1104"  # the portrait source's shape
        assert clip.cost_usd == pytest.approx(prices.price("runway", "per_second", "gen4_turbo") * body["duration"])
