"""`atelier serve` from its clients' side, on the real embedded model (local:shapes): the official
`openai` SDK generates and edits (with a mask) and gets OpenAI's errors; the run API's server-sent
events are Studio.stream's; callers see only their own runs, over the API and over MCP; the chat
UI is mounted on the same port."""
from __future__ import annotations

import base64
import io
import json

import httpx
import pytest

pytest.importorskip("fastapi", reason="the server needs the serve extra (pip install 'atelier[serve]')")
pytest.importorskip("mcp", reason="the server needs the mcp SDK (pip install 'atelier[mcp]')")

from PIL import Image  # noqa: E402

from tests.test_mcp import SHAPES_WEIGHTS  # noqa: E402

pytestmark = pytest.mark.skipif(not SHAPES_WEIGHTS.exists(), reason="the local:shapes weights are absent")

ALICE, BOB = "a" * 20 + "-alice-token", "b" * 20 + "-bob-token"
APPROVED_AT_ONCE = ("a red circle", 3)  # (brief, seed): approved at the first attempt
NOT_AT_ONCE = ("four red rings", 3)  # not approved at the first attempt (seed 1 is, since the inpainting fine-tune)


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    from agent.surfaces.server.app import build
    from agent.surfaces.server.serve import Running
    runs = tmp_path_factory.mktemp("serve") / "runs"
    app = build(runs, llm="offline", image_model="local:shapes", critic="critic:detector",
                tokens={ALICE: "mcp:alice", BOB: "mcp:bob"})
    with Running(app) as running:
        running.runs = runs
        yield running


def sdk(server, token=ALICE):
    from openai import OpenAI
    return OpenAI(base_url=server.url + "/v1", api_key=token, max_retries=0, timeout=300)


def api(server, token=ALICE) -> httpx.Client:
    return httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {token}"}, timeout=300)


def png(b64: str) -> Image.Image:
    return Image.open(io.BytesIO(base64.b64decode(b64))).convert("RGB")


def test_the_sdk_gets_the_approved_best_of_a_run(server):
    brief, seed = APPROVED_AT_ONCE
    result = sdk(server).images.generate(model="atelier/local:shapes", prompt=brief, size="128x128",
                                         extra_body={"atelier": {"seed": seed, "max_iterations": 1}})
    assert len(result.data) == 1
    image, info = result.data[0], result.data[0].model_extra["atelier"]
    assert info["approved"] is True and info["status"] == "approved" and info["attempts"] == 1
    assert png(image.b64_json).size == (128, 128) and info["made_size"] == "64x64"
    with api(server) as http:
        record = http.get(f"/api/runs/{info['run_id']}").json()
    assert record["approved"] and record["best"]["seed"] == seed and record["live"] is False
    linked = sdk(server).images.generate(model="atelier", prompt=brief, response_format="url",
                                         extra_body={"atelier": {"seed": seed, "max_iterations": 1}})
    fetched = httpx.get(linked.data[0].url, timeout=60)  # a signed link: no token needed, as OpenAI's
    assert fetched.status_code == 200 and Image.open(io.BytesIO(fetched.content)).size == (64, 64)
    forged = linked.data[0].url.replace("signature=", "signature=0")
    assert httpx.get(forged, timeout=60).status_code == 404


def test_an_unapproved_run_is_an_error_not_a_success(server):
    from openai import UnprocessableEntityError
    brief, seed = NOT_AT_ONCE
    with pytest.raises(UnprocessableEntityError) as refused:
        sdk(server).images.generate(model="atelier", prompt=brief,
                                    extra_body={"atelier": {"seed": seed, "max_iterations": 1}})
    error = refused.value.body if isinstance(refused.value.body, dict) and "code" in refused.value.body \
        else refused.value.body["error"]
    assert error["code"] == "not_approved" and "budget_spent" in error["message"]
    run = error["atelier"]["runs"][0]
    assert run["approved"] is False and run["attempts"] == 1
    # asked for explicitly, the unapproved best comes back marked as such
    shown = sdk(server).images.generate(model="atelier", prompt=brief, extra_body={
        "atelier": {"seed": seed, "max_iterations": 1, "include_unapproved": True}})
    assert shown.data[0].model_extra["atelier"]["approved"] is False
    assert shown.data[0].model_extra["atelier"]["status"] == "budget_spent"


def test_an_edit_repaints_inside_the_mask_only(server, tmp_path):
    source = Image.new("RGB", (64, 64), (245, 245, 245))
    for x in range(8, 24):
        for y in range(8, 24):
            source.putpixel((x, y), (30, 60, 220))  # a blue square at top left
    mask = Image.new("RGBA", (64, 64), (0, 0, 0, 255))
    mask.paste((0, 0, 0, 0), (32, 32, 60, 60))  # transparent: where OpenAI's edits repaint
    (tmp_path / "source.png").write_bytes(_png_bytes(source))
    (tmp_path / "mask.png").write_bytes(_png_bytes(mask))
    with open(tmp_path / "source.png", "rb") as image, open(tmp_path / "mask.png", "rb") as mask_file:
        result = sdk(server).images.edit(model="atelier", image=image, mask=mask_file,
                                         prompt="a blue square and a red circle",
                                         extra_body={"atelier": {"seed": 0, "max_iterations": 1,
                                                                 "include_unapproved": True}})
    info = result.data[0].model_extra["atelier"]
    edited = png(result.data[0].b64_json)
    outside = [(x, y) for x in range(64) for y in range(64) if not (32 <= x < 60 and 32 <= y < 60)]
    assert sum(edited.getpixel(p) != source.getpixel(p) for p in outside) == 0  # untouched outside the mask
    with api(server) as http:
        record = http.get(f"/api/runs/{info['run_id']}").json()["record"]
    assert record["brief"]["mask"] and record["brief"]["reference_images"]
    assert info["approved"] == (record["status"] == "approved")


def test_errors_come_in_openais_shape(server):
    import openai
    client = sdk(server)
    for kwargs, param in [({"size": "100x100"}, "size"), ({"n": 11}, "n"), ({"n": 0}, "n"),
                          ({"model": "dall-e-3"}, "model"), ({"model": "atelier/nowhere:model"}, "model"),
                          ({"extra_body": {"colour": "red"}}, "colour")]:
        with pytest.raises(openai.BadRequestError) as e:
            client.images.generate(prompt="a red circle", **{"model": "atelier", **kwargs})
        assert e.value.body["param"] == param, (kwargs, e.value.body)
        assert e.value.body["type"] == "invalid_request_error" and e.value.body["message"]
    with pytest.raises(openai.AuthenticationError) as e:
        sdk(server, token="c" * 24).images.generate(model="atelier", prompt="a red circle")
    assert e.value.body["code"] == "invalid_api_key"
    assert httpx.get(server.url + "/api/runs", timeout=30).status_code == 401  # no token at all
    with api(server) as http:
        missing = http.get("/api/runs/20000101-000000-abcdef")
        assert missing.status_code == 404 and missing.json()["error"]["code"] == "run_not_found"
        assert http.post("/v1/embeddings", json={}).json()["error"]["code"] == "unknown_url"
        no_image = http.post("/v1/images/edits", data={"prompt": "x"}, files={"other": ("a.txt", b"x")})
        assert no_image.status_code == 400 and no_image.json()["error"]["param"] == "image"
        flat_mask = http.post("/v1/images/edits", data={"prompt": "x", "model": "atelier"},
                              files={"image": ("i.png", _png_bytes(Image.new("RGB", (64, 64)))),
                                     "mask": ("m.png", _png_bytes(Image.new("RGB", (64, 64))))})
        assert flat_mask.status_code == 400 and flat_mask.json()["error"]["param"] == "mask"
        not_image = http.post("/v1/images/edits", data={"prompt": "x"}, files={"image": ("i.png", b"not a png")})
        assert not_image.status_code == 400 and not_image.json()["error"]["code"] == "invalid_image_format"


def test_run_events_are_studio_streams(server, tmp_path):
    from agent.surfaces.api import Studio
    brief, seed = NOT_AT_ONCE
    with api(server) as http:
        started = http.post("/api/runs", json={"brief": brief, "seed": seed, "max_iterations": 2})
        assert started.status_code == 201, started.text
        run_id = started.json()["run_id"]
        served = sse(http, f"/api/runs/{run_id}/events")
        record = http.get(f"/api/runs/{run_id}").json()
    local = [e.model_dump(mode="json") for e in
             Studio(runs_dir=tmp_path / "runs").stream(brief, seed=seed, budget={"max_iterations": 2})]
    # step progress is live: a follower there all along sees the steps as they go (at most one every
    # hub.PROGRESS_EVERY_S), a late one only the latest of each image's
    assert [kind for kind, _ in served if kind != "progress"] == [e["type"] for e in local if e["type"] != "progress"]
    assert all(data["type"] == kind and data["run_id"] == run_id for kind, data in served)
    assert all(0 < d["data"]["step"] <= d["data"]["total"] for k, d in served if k == "progress")
    assert [d["message"] for _, d in served if d["type"] == "verdict"] == \
        [e["message"] for e in local if e["type"] == "verdict"]
    assert served[-1][0] == "run_finished" and served[-1][1]["data"]["summary"]["status"] == record["status"]
    with api(server) as http:  # after the end, a late follower still gets the whole stream, each image's last step
        late = [k for k, _ in sse(http, f"/api/runs/{run_id}/events")]
    assert [k for k in late if k != "progress"] == [k for k, _ in served if k != "progress"]
    assert 0 < late.count("progress") <= [k for k, _ in served].count("progress")
    assert "progress progress" not in " ".join(late)


def test_callers_see_only_their_own_runs_over_the_api_and_mcp(server):
    brief, seed = APPROVED_AT_ONCE
    made = sdk(server, ALICE).images.generate(model="atelier", prompt=brief,
                                              extra_body={"atelier": {"seed": seed, "max_iterations": 1}})
    run_id = made.data[0].model_extra["atelier"]["run_id"]
    with api(server, ALICE) as alice, api(server, BOB) as bob:
        assert run_id in [r["run_id"] for r in alice.get("/api/runs").json()]
        assert run_id not in [r["run_id"] for r in bob.get("/api/runs").json()]
        for path in (f"/api/runs/{run_id}", f"/api/runs/{run_id}/events", f"/api/runs/{run_id}/attempts/0"):
            assert bob.get(path).status_code == 404, path
            assert alice.get(path).status_code == 200, path
        assert bob.post(f"/api/runs/{run_id}/stop").status_code == 404
        assert bob.post("/api/runs", json={"brief": brief, "llm": "scripted:/etc/passwd"}).status_code == 400
    import anyio
    assert run_id in anyio.run(_mcp_runs, server.url, ALICE)  # one identity across the API and MCP
    assert run_id not in anyio.run(_mcp_runs, server.url, BOB)
    page = httpx.get(server.url + "/ui/", timeout=60)  # the chat UI on the same port
    assert page.status_code == 200 and "gradio" in page.text.lower()
    schema = httpx.get(server.url + "/openapi.json", timeout=60).json()["paths"]  # the documented schema
    assert {"/v1/images/generations", "/v1/images/edits", "/api/runs", "/api/runs/{run_id}/events"} <= schema.keys()


async def _mcp_runs(url: str, token: str) -> str:
    from mcp import ClientSession
    from mcp.client.streamable_http import streamable_http_client
    async with httpx.AsyncClient(headers={"Authorization": f"Bearer {token}"}, timeout=60) as http:
        async with streamable_http_client(f"{url}/mcp", http_client=http) as (read, write):
            async with ClientSession(read, write) as session:
                await session.initialize()
                return (await session.read_resource("atelier://runs")).contents[0].text


def sse(http: httpx.Client, path: str) -> list[tuple[str, dict]]:
    """(event type, data) of a whole server-sent event stream."""
    from agent.surfaces.server.client import _events
    return [(kind, json.loads(data)) for kind, data in _events(http, path)]


def _png_bytes(image: Image.Image) -> bytes:
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()
