"""runway:MODEL over httpx with recorded developer-API answers (api.dev.runwayml.com, X-Runway-Version)."""
from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest
from PIL import Image

from agent.core.errors import BudgetSpent, ConfigError, InputError
from agent.core.types import GenerationRequest
from agent.backends.remote import prices
from agent.backends.remote.http import RemoteError
from agent.backends.remote.replay import FakeClock, Replay
from agent.backends.remote.runway import RunwayVideo

FIX = Path(__file__).parent / "fixtures" / "remote"
KEY = "key_runway_test_0123456789abcdef0123456789"
TID = "17f20503-6c24-4c16-946b-35dbbce2af2f"
MP4 = b"\0\0\0\x20ftypisom" + b"\0" * 512


def ok(name: str, status: int = 200, **kw) -> httpx.Response:
    return httpx.Response(status, json=json.loads((FIX / name).read_text()), **kw)


def video(model: str, replay: Replay, clock: FakeClock | None = None, **kw) -> RunwayVideo:
    clock = clock or FakeClock()
    return RunwayVideo(model, api_key=KEY, client=replay.client(), sleep=clock.sleep, clock=clock.now, **kw)


@pytest.fixture
def image(tmp_path) -> Path:
    path = tmp_path / "first.png"
    Image.new("RGB", (32, 18), "orange").save(path)
    return path


def req(**kw) -> GenerationRequest:
    return GenerationRequest(**{"prompt": "the camera slowly pushes in", "seed": 5, "model": "runway:gen4_turbo", **kw})


def success(path: str = "/v1/image_to_video") -> list:
    return [("POST", path, ok("runway_task_created.json")),
            ("GET", f"/v1/tasks/{TID}", ok("runway_task_pending.json")),
            ("GET", f"/v1/tasks/{TID}", ok("runway_task_running.json")),
            ("GET", f"/v1/tasks/{TID}", ok("runway_task_succeeded.json")),
            ("GET", "cloudfront.net", httpx.Response(200, headers={"content-type": "video/mp4"}, content=MP4))]


def test_image_to_video_submit_poll_download(tmp_path, image):
    clock = FakeClock()
    replay = Replay(*success())
    art, = video("gen4_turbo", replay, clock).generate(req(source_image=image, num_frames=240, fps=24), tmp_path)
    sent = replay.requests[0]
    body = json.loads(sent.content)
    assert sent.headers["x-runway-version"] == "2024-11-06" and sent.headers["authorization"] == f"Bearer {KEY}"
    assert body["promptImage"].startswith("data:image/png;base64,")
    assert {k: v for k, v in body.items() if k != "promptImage"} == {
        "model": "gen4_turbo", "promptText": "the camera slowly pushes in", "ratio": "1280:720", "duration": 10, "seed": 5}
    assert all(r.headers["x-runway-version"] == "2024-11-06" for r in replay.requests[1:4])
    assert "authorization" not in replay.requests[4].headers
    assert art.kind == "video" and art.path.suffix == ".mp4" and art.meta["task_id"] == TID
    assert art.cost_usd == pytest.approx(0.5) and clock.sleeps == [5.0, 7.5]  # no faster than every 5 s


def test_text_to_video(tmp_path):
    replay = Replay(*success("/v1/text_to_video"))
    video("veo3.1_fast", replay).generate(req(width=720, height=1280, extra={"duration": 6}), tmp_path)
    assert json.loads(replay.requests[0].content) == {"model": "veo3.1_fast", "promptText": "the camera slowly pushes in",
                                                     "ratio": "720:1280", "duration": 6}


def test_401(tmp_path, image):
    with pytest.raises(RemoteError, match="RUNWAYML_API_SECRET") as e:
        video("gen4_turbo", Replay(("POST", "/v1/image_to_video", ok("runway_401.json", 401)))).generate(
            req(source_image=image), tmp_path)
    assert e.value.kind == "auth"


def test_429_with_retry_after_then_success(tmp_path, image):
    clock = FakeClock()
    replay = Replay(("POST", "/v1/image_to_video", ok("runway_429.json", 429, headers={"retry-after": "3"})), *success())
    assert len(video("gen4_turbo", replay, clock).generate(req(source_image=image), tmp_path)) == 1
    assert clock.sleeps[0] == 3.0


def test_500_on_poll_then_success(tmp_path, image):
    steps = success()
    steps.insert(2, ("GET", f"/v1/tasks/{TID}", httpx.Response(503, text="upstream unavailable")))
    assert len(video("gen4_turbo", Replay(*steps)).generate(req(source_image=image), tmp_path)) == 1


def test_submit_timeout_is_not_resent(tmp_path, image):
    replay = Replay(("POST", "/v1/image_to_video", httpx.WriteTimeout("stalled")))
    with pytest.raises(RemoteError, match="not retried") as e:
        video("gen4_turbo", replay).generate(req(source_image=image), tmp_path)
    assert e.value.kind == "timeout"


def test_malformed_json(tmp_path, image):
    replay = Replay(("POST", "/v1/image_to_video", httpx.Response(200, content=b"id=17f2")))
    with pytest.raises(RemoteError, match="malformed JSON"):
        video("gen4_turbo", replay).generate(req(source_image=image), tmp_path)


def test_bad_request(tmp_path, image):
    with pytest.raises(RemoteError, match="Validation of body failed") as e:
        video("gen4_turbo", Replay(("POST", "/v1/image_to_video", ok("runway_400.json", 400)))).generate(
            req(source_image=image), tmp_path)
    assert e.value.kind == "bad_request"


def test_content_moderation_failure(tmp_path, image):
    replay = Replay(("POST", "/v1/image_to_video", ok("runway_task_created.json")),
                    ("GET", f"/v1/tasks/{TID}", ok("runway_task_failed_safety.json")))
    with pytest.raises(RemoteError, match="SAFETY.INPUT.TEXT") as e:
        video("gen4_turbo", replay).generate(req(source_image=image), tmp_path)
    assert e.value.kind == "content_policy" and not e.value.retryable


def test_task_that_never_finishes_is_cancelled(tmp_path, image):
    clock = FakeClock()
    steps = [("POST", "/v1/image_to_video", ok("runway_task_created.json"))]
    steps += [("GET", f"/v1/tasks/{TID}", ok("runway_task_running.json"))] * 7  # 0, 5, 12.5, 23.75, 40.6, 60.6, 80
    steps += [("DELETE", f"/v1/tasks/{TID}", httpx.Response(204))]
    replay = Replay(*steps)
    with pytest.raises(RemoteError, match="did not finish within 80s; cancelled") as e:
        video("gen4_turbo", replay, clock, deadline_s=80).generate(req(source_image=image), tmp_path)
    assert e.value.kind == "deadline" and replay.done


def test_download_too_big(tmp_path, image):
    steps = success()[:-1] + [("GET", "cloudfront.net", httpx.Response(200, content=iter([MP4] * 4096)))]
    import agent.backends.remote.runway as runway

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(runway, "MAX_VIDEO_BYTES", 2**20)
        with pytest.raises(RemoteError, match="over the 1 MiB limit") as e:
            video("gen4_turbo", Replay(*steps)).generate(req(source_image=image), tmp_path)
    assert e.value.kind == "too_large"


def test_options_checked_before_any_call(tmp_path, image):
    b = video("gen4_turbo", Replay())
    with pytest.raises(InputError, match="source image"):
        b.generate(req(), tmp_path)
    with pytest.raises(InputError, match="1280x720"):
        b.generate(req(source_image=image, width=640, height=480), tmp_path)
    with pytest.raises(InputError, match="5, 10"):
        b.generate(req(source_image=image, extra={"duration": 7}), tmp_path)
    with pytest.raises(ConfigError, match="runway:gen4_turbo"):
        RunwayVideo("gen 2")
    newer = RunwayVideo("gen5", api_key=KEY, client=Replay().client())  # a newer model is sent as named
    with prices.spending_limit(5.0), pytest.raises(ConfigError, match="no price"):
        newer.generate(req(prompt="a fox", extra={"duration": 5}), tmp_path)
    with prices.spending_limit(0.20), pytest.raises(BudgetSpent):
        b.generate(req(source_image=image), tmp_path)  # 5 s of gen4_turbo is $0.25
