"""replicate:OWNER/MODEL[:VERSION] over httpx with recorded predictions-API answers."""
from __future__ import annotations

import io
import json
from pathlib import Path

import httpx
import pytest
from PIL import Image

from agent.core.errors import ConfigError, InputError
from agent.core.types import GenerationRequest
from agent.backends.remote.http import RemoteError
from agent.backends.remote.replay import FakeClock, Replay
from agent.backends.remote.replicate import ReplicateImages, ReplicateVideo

FIX = Path(__file__).parent / "fixtures" / "remote"
KEY = "r8_test_0123456789abcdefghijklmnopqrstu"
PID = "gm3qorzdhgbfurvjtvhg6dckhu"
VERSION = "5c7d5dc6dd8bf75c1acaa8565735e7986bc5b66206b55cca93cb72c9bf15ccaa"
MP4 = b"\0\0\0\x18ftypmp42" + b"\0" * 256


def ok(name: str, status: int = 200, **kw) -> httpx.Response:
    return httpx.Response(status, json=json.loads((FIX / name).read_text()), **kw)


def png() -> httpx.Response:
    buf = io.BytesIO()
    Image.new("RGB", (8, 8), "red").save(buf, "PNG")
    return httpx.Response(200, headers={"content-type": "image/png"}, content=buf.getvalue())


def images(model: str, replay: Replay, clock: FakeClock | None = None, **kw) -> ReplicateImages:
    clock = clock or FakeClock()
    return ReplicateImages(model, api_key=KEY, client=replay.client(), sleep=clock.sleep, clock=clock.now, **kw)


def req(**kw) -> GenerationRequest:
    return GenerationRequest(**{"prompt": "two red circles left of a blue square", "seed": 7, **kw})


def flux_success() -> list:
    return [("POST", "/v1/models/black-forest-labs/flux-schnell/predictions", ok("replicate_created.json", 201)),
            ("GET", f"/v1/predictions/{PID}", ok("replicate_processing.json")),
            ("GET", f"/v1/predictions/{PID}", ok("replicate_succeeded.json")),
            ("GET", "replicate.delivery", png()), ("GET", "replicate.delivery", png())]


def test_official_model_polls_and_downloads(tmp_path):
    clock = FakeClock()
    replay = Replay(*flux_success())
    arts = images("black-forest-labs/flux-schnell", replay, clock).generate(req(n=2, width=1344, height=768), tmp_path)
    assert json.loads(replay.requests[0].content) == {"input": {
        "prompt": "two red circles left of a blue square", "seed": 7, "aspect_ratio": "16:9",
        "num_outputs": 2, "output_format": "png"}}
    assert replay.requests[0].headers["authorization"] == f"Bearer {KEY}"
    assert "authorization" not in replay.requests[3].headers  # no key to the CDN
    assert len(arts) == 2 and arts[0].meta["prediction_id"] == PID
    assert sum(a.cost_usd for a in arts) == pytest.approx(0.006) and clock.sleeps == [2.0]


def test_pinned_version_uses_predictions_endpoint(tmp_path):
    replay = Replay(("POST", "/v1/predictions", ok("replicate_created.json", 201)),
                    ("GET", f"/v1/predictions/{PID}", ok("replicate_succeeded.json")),
                    ("GET", "replicate.delivery", png()), ("GET", "replicate.delivery", png()))
    images(f"stability-ai/sdxl:{VERSION}", replay).generate(req(negative_prompt="blur", guidance=7.5), tmp_path)
    body = json.loads(replay.requests[0].content)
    assert body["version"] == VERSION and str(replay.requests[0].url).endswith("/v1/predictions")
    assert body["input"]["negative_prompt"] == "blur" and body["input"]["guidance_scale"] == 7.5
    assert (body["input"]["width"], body["input"]["height"]) == (1024, 1024)


def test_401(tmp_path):
    replay = Replay(("POST", "/predictions", ok("replicate_401.json", 401)))
    with pytest.raises(RemoteError, match="REPLICATE_API_TOKEN") as e:
        images("black-forest-labs/flux-schnell", replay).generate(req(), tmp_path)
    assert e.value.kind == "auth"


def test_429_with_retry_after_then_success(tmp_path):
    clock = FakeClock()
    steps = flux_success()
    replay = Replay(("POST", "/predictions", ok("replicate_429.json", 429, headers={"retry-after": "1"})), *steps)
    assert len(images("black-forest-labs/flux-schnell", replay, clock).generate(req(n=2), tmp_path)) == 2
    assert clock.sleeps[0] == 1.0


def test_500_on_poll_then_success(tmp_path):
    steps = flux_success()
    steps.insert(1, ("GET", f"/v1/predictions/{PID}", httpx.Response(500, text="Internal Server Error")))
    assert len(images("black-forest-labs/flux-schnell", Replay(*steps)).generate(req(n=2), tmp_path)) == 2


def test_timeout_on_poll_is_retried(tmp_path):
    steps = flux_success()
    steps.insert(1, ("GET", f"/v1/predictions/{PID}", httpx.ReadTimeout("slow")))
    assert len(images("black-forest-labs/flux-schnell", Replay(*steps)).generate(req(n=2), tmp_path)) == 2


def test_malformed_json(tmp_path):
    replay = Replay(("POST", "/predictions", ok("replicate_created.json", 201)),
                    ("GET", f"/v1/predictions/{PID}", httpx.Response(200, content=b'{"id": "gm3q", "status": ')))
    with pytest.raises(RemoteError, match="malformed JSON"):
        images("black-forest-labs/flux-schnell", replay).generate(req(), tmp_path)


def test_nsfw_failure_is_a_content_policy_refusal(tmp_path):
    replay = Replay(("POST", "/predictions", ok("replicate_created.json", 201)),
                    ("GET", f"/v1/predictions/{PID}", ok("replicate_failed_nsfw.json")))
    with pytest.raises(RemoteError, match="NSFW") as e:
        images("black-forest-labs/flux-schnell", replay).generate(req(), tmp_path)
    assert e.value.kind == "content_policy" and not e.value.retryable


def test_invalid_input_422_not_retried(tmp_path):
    replay = Replay(("POST", "/predictions", ok("replicate_422.json", 422)))
    with pytest.raises(RemoteError, match="num_outputs") as e:
        images("black-forest-labs/flux-schnell", replay).generate(req(), tmp_path)
    assert e.value.kind == "bad_request" and replay.done


def test_job_that_never_finishes_is_cancelled_at_the_deadline(tmp_path):
    clock = FakeClock()
    steps = [("POST", "/predictions", ok("replicate_created.json", 201))]
    steps += [("GET", f"/v1/predictions/{PID}", ok("replicate_processing.json"))] * 9  # polls at 0, 2, 5, 9.5, ... 60 s
    steps += [("POST", f"/v1/predictions/{PID}/cancel", ok("replicate_canceled.json"))]
    replay = Replay(*steps)
    with pytest.raises(RemoteError, match="did not finish within 60s; cancelled") as e:
        images("black-forest-labs/flux-schnell", replay, clock, deadline_s=60).generate(req(), tmp_path)
    assert e.value.kind == "deadline" and replay.requests[-1].url.path.endswith("/cancel")
    assert clock.now() <= 60


def test_download_too_big(tmp_path):
    steps = flux_success()[:3] + [("GET", "replicate.delivery",
                                   httpx.Response(200, headers={"content-length": str(200 * 2**20)}, content=b""))]
    with pytest.raises(RemoteError, match="over the 50 MiB limit") as e:
        images("black-forest-labs/flux-schnell", Replay(*steps)).generate(req(n=2), tmp_path)
    assert e.value.kind == "too_large"


def test_edit_sends_image_and_mask_as_data_urls(tmp_path):
    src, mask = tmp_path / "s.png", tmp_path / "m.png"
    Image.new("RGB", (16, 16), "blue").save(src)
    Image.new("L", (16, 16), 255).save(mask)
    replay = Replay(("POST", "/v1/models/black-forest-labs/flux-fill-pro/predictions", ok("replicate_created.json", 201)),
                    ("GET", f"/v1/predictions/{PID}", ok("replicate_succeeded.json")),
                    ("GET", "replicate.delivery", png()), ("GET", "replicate.delivery", png()))
    arts = images("black-forest-labs/flux-fill-pro", replay).edit(req(source_image=src, mask=mask), tmp_path)
    model_input = json.loads(replay.requests[0].content)["input"]
    assert model_input["image"].startswith("data:image/png;base64,") and model_input["mask"].startswith("data:image/png")
    assert arts[0].parent


def test_video_model(tmp_path):
    vid = "q0dxy1fy9hrma0cmsnpsbb6zf0"
    src = tmp_path / "first.png"
    Image.new("RGB", (16, 16), "green").save(src)
    clock = FakeClock()
    replay = Replay(("POST", "/v1/models/minimax/video-01/predictions", ok("replicate_video_created.json", 201)),
                    ("GET", f"/v1/predictions/{vid}", ok("replicate_video_succeeded.json")),
                    ("GET", "replicate.delivery", httpx.Response(200, headers={"content-type": "video/mp4"}, content=MP4)))
    art, = ReplicateVideo("minimax/video-01", api_key=KEY, client=replay.client(), sleep=clock.sleep,
                          clock=clock.now).generate(req(prompt="a paper boat", source_image=src, num_frames=144, fps=24), tmp_path)
    model_input = json.loads(replay.requests[0].content)["input"]
    assert model_input["first_frame_image"].startswith("data:image/png") and model_input["duration"] == 6
    assert art.kind == "video" and art.path.suffix == ".mp4" and art.path.read_bytes() == MP4
    assert art.cost_usd == pytest.approx(0.5)


def test_names_and_options_checked_before_any_call(tmp_path):
    with pytest.raises(ConfigError, match="OWNER/MODEL"):
        ReplicateImages("flux")
    with pytest.raises(ConfigError, match="OWNER/MODEL"):
        ReplicateImages("a/b:notahash")
    b = images("black-forest-labs/flux-schnell", Replay())
    with pytest.raises(InputError, match="1344x768"):
        b.generate(req(width=1000, height=1000), tmp_path)
    with pytest.raises(InputError, match="negative"):
        b.generate(req(negative_prompt="blur"), tmp_path)
    with pytest.raises(ConfigError, match="REPLICATE_API_TOKEN"):
        ReplicateImages("black-forest-labs/flux-schnell").generate(req(), tmp_path)


def test_aborted_is_final(tmp_path):
    """A prediction that is `aborted` (terminated before it started) never changes again: polling it
    until the deadline used to cancel it and wait out the whole deadline."""
    clock = FakeClock()
    replay = Replay(("POST", "/v1/models/black-forest-labs/flux-schnell/predictions", ok("replicate_created.json", 201)),
                    ("GET", f"/v1/predictions/{PID}", ok("replicate_aborted.json")))
    with pytest.raises(RemoteError, match="aborted") as e:
        images("black-forest-labs/flux-schnell", replay, clock).generate(req(), tmp_path)
    assert e.value.retryable and replay.done and clock.sleeps == []  # no polling to the deadline


def test_inputs_over_1_mb_go_through_the_files_api(tmp_path):
    import numpy as np

    big, small = tmp_path / "big.png", tmp_path / "small.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (720, 720, 3), dtype=np.uint8)).save(big)
    Image.new("L", (720, 720), 255).save(small)
    assert big.stat().st_size > 1_000_000 and small.stat().st_size < 1_000_000
    file_url = json.loads((FIX / "replicate_file_created.json").read_text())["urls"]["get"]
    replay = Replay(("POST", "/v1/files", ok("replicate_file_created.json", 201)),
                    ("POST", "/v1/models/black-forest-labs/flux-fill-pro/predictions", ok("replicate_created.json", 201)),
                    ("GET", f"/v1/predictions/{PID}", ok("replicate_succeeded.json")),
                    ("GET", "replicate.delivery", png()), ("GET", "replicate.delivery", png()))
    images("black-forest-labs/flux-fill-pro", replay).edit(req(source_image=big, mask=small), tmp_path)
    upload = replay.requests[0]
    assert upload.headers["content-type"].startswith("multipart/form-data") and b'name="content"' in upload.content
    model_input = json.loads(replay.requests[1].content)["input"]
    assert model_input["image"] == file_url and model_input["mask"].startswith("data:image/png;base64,")
