"""The OpenAI Images API with Atelier's loop behind it: `POST /v1/images/generations` (JSON) and
`POST /v1/images/edits` (multipart: image, optional mask), the official request shape.

- `model` picks an Atelier preset: `atelier` (the server's defaults) or `atelier/IMAGE_MODEL`
  (`atelier/local:shapes`, any image back end the operator allows).
- Each of the `n` images is the best attempt of its own run (seeds seed, seed+1, ...), approved by
  the critic. Every image carries the extension field `atelier`: run id, status, approved,
  attempts, iterations, the verdict's issues, the size the run made; the response's own `atelier`
  lists every run, delivered or not.
- A run that is not approved is never a plain success: its image is left out. When none of the n
  runs is approved the answer is 422 (`code` not_approved, or unverified when the critic could not
  check the brief) with the runs in `error.atelier`; a failed run is 500 (`run_failed`). A client
  that wants the unapproved best anyway sends `atelier: {"include_unapproved": true}` and gets it
  marked `approved: false` with its status.
- `size` comes from the model's menu (`auto`: its default); the approved image is delivered at that
  size, scaled (nearest neighbour) when the run made another size of the menu.
- `response_format`: `b64_json` (the default, as gpt-image-1) or `url`: a link to the PNG signed for
  an hour, valid while this server runs, which needs no token (as OpenAI's links).
"""
from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import io
import json
import secrets
import time
from pathlib import Path
from typing import Any, Literal

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from agent.core.errors import AtelierError
from agent.core.options import SEED_LIMIT, RunOptions
from agent.surfaces.server.errors import APIError, bad_request, from_validation
from agent.surfaces.server.hub import RunHub

MODEL_PREFIX = "atelier"
MAX_N = 10  # OpenAI's limit
MAX_UPLOAD_BYTES = 20_000_000
URL_TTL_S = 3600
PASSED_THROUGH = ("quality", "style", "user", "moderation", "output_compression", "input_fidelity")


class Extension(BaseModel):
    """What only Atelier reads (the SDK's `extra_body={"atelier": {...}}`)."""
    model_config = ConfigDict(extra="forbid")
    max_iterations: int = RunOptions.field("max_iterations")  # the run options' own limits (agent.core.options)
    max_seconds: float | None = RunOptions.field("max_seconds")
    seed: int | None = RunOptions.field("seed", description="the first image's seed; image i gets seed + i")
    critic: str | None = RunOptions.field("critic", default=None)
    include_unapproved: bool = False


class ImagesRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    prompt: str = Field(min_length=1, max_length=32000)
    model: str = MODEL_PREFIX
    n: int = Field(1, ge=1, le=MAX_N)
    size: str | None = "auto"
    response_format: Literal["url", "b64_json"] | None = None
    output_format: Literal["png"] | None = None
    background: Literal["auto", "opaque"] | None = None
    stream: Literal[False] | None = None
    partial_images: Literal[0] | None = None
    quality: str | None = None
    style: str | None = None
    user: str | None = None
    moderation: str | None = None
    output_compression: int | None = None
    input_fidelity: str | None = None
    atelier: Extension = Field(default_factory=Extension)


def router(hub: RunHub, identify) -> APIRouter:
    api = APIRouter(tags=["OpenAI Images API"])
    secret = secrets.token_bytes(32)  # signs this process's image links

    def sign(run_id: str, index: int, size: tuple[int, int], expires: int) -> str:
        message = f"{run_id}/{index}/{size[0]}x{size[1]}/{expires}".encode()
        return hmac.new(secret, message, hashlib.sha256).hexdigest()

    @api.get("/v1/models", summary="The presets `model` may name (OpenAI's model list)")
    async def models(_: str = Depends(identify)) -> dict:
        names = [MODEL_PREFIX, f"{MODEL_PREFIX}/{hub.defaults['image_model']}"]
        return {"object": "list", "data": [{"id": n, "object": "model", "created": 0, "owned_by": "atelier"}
                                           for n in names]}

    @api.post("/v1/images/generations", summary="Create images (OpenAI's request shape)")
    async def generations(request: Request, who: str = Depends(identify)) -> dict:
        try:
            body = await request.json()
        except (json.JSONDecodeError, UnicodeDecodeError):
            raise bad_request("We could not parse the JSON body of your request.", code="invalid_json") from None
        if not isinstance(body, dict):
            raise bad_request("the request body must be a JSON object", code="invalid_json")
        return await answer(request, who, parse(body))

    @api.post("/v1/images/edits", summary="Edit an image inside a mask (OpenAI's multipart shape)")
    async def edits(request: Request, who: str = Depends(identify)) -> dict:
        try:
            form = await request.form(max_part_size=MAX_UPLOAD_BYTES)
        except Exception as e:  # not multipart, a part over the limit
            raise bad_request(f"the edit request must be multipart/form-data with image and prompt ({e})",
                              code="invalid_multipart") from None
        images = [v for k, v in form.multi_items() if k in ("image", "image[]") and hasattr(v, "read")]
        if not images:
            raise bad_request("Missing required parameter: 'image'.", "image", "missing_required_parameter")
        if len(images) > 1:
            raise bad_request("Atelier edits one image at a time: send one image", "image")
        mask = form.get("mask")
        fields: dict[str, Any] = {k: v for k, v in form.multi_items() if k not in ("image", "image[]", "mask")}
        if "atelier" in fields:
            try:
                fields["atelier"] = json.loads(fields["atelier"])
            except json.JSONDecodeError:
                raise bad_request("atelier must be a JSON object", "atelier") from None
        nested = {k[len("atelier["):-1]: fields.pop(k) for k in list(fields)
                  if k.startswith("atelier[") and k.endswith("]")}  # the SDK's form encoding of extra_body
        if nested:
            fields["atelier"] = {**(fields.get("atelier") or {}), **nested}
        req = parse(fields)
        source = await read_image(images[0], "image")
        mask_image = await read_image(mask, "mask") if hasattr(mask, "read") else None
        return await answer(request, who, req, edit=(source, mask_image))

    @api.get("/v1/images/files/{run_id}/{name}", summary="An image link from response_format=url",
             response_class=Response, responses={200: {"content": {"image/png": {}}}})
    async def image_file(run_id: str, name: str, expires: int, size: str, signature: str) -> Response:
        index_text = name.removesuffix(".png")
        wanted = parse_size(size)
        if not index_text.isdigit() or wanted is None or expires < time.time() or not hmac.compare_digest(
                sign(run_id, int(index_text), wanted, expires), signature):
            raise APIError(404, "this image link is unknown or has expired", code="not_found")
        record = hub.store.load(run_id)
        path = record.attempts[int(index_text)].artifact.path
        return Response(await asyncio.to_thread(png_at, Path(path), wanted), media_type="image/png")

    async def answer(request: Request, who: str, req: ImagesRequest, edit=None) -> dict:
        image_model = preset(req.model)
        studio = hub.studio(image_model=image_model, critic=req.atelier.critic)
        backend = ready_backend(image_model)
        sizes = [tuple(s) for s in backend.info.sizes]
        wanted = sizes[0] if req.size in (None, "auto") else parse_size(req.size)
        if wanted not in sizes:
            menu = ", ".join(f"{w}x{h}" for w, h in sizes)
            raise bad_request(f"Invalid value for 'size': {req.size!r} is not a size {image_model or backend.info.name} makes; "
                              f"supported values are: auto, {menu}", "size")
        seed = req.atelier.seed if req.atelier.seed is not None else secrets.randbelow(2**31 - MAX_N)
        budget = {"max_iterations": req.atelier.max_iterations, "max_seconds": req.atelier.max_seconds}
        lives = []
        for i in range(req.n):
            fields: dict[str, Any] = {"seed": (seed + i) % SEED_LIMIT, "budget": budget}
            run_id = hub.store.new_id() + (f"-{i}" if req.n > 1 else "")
            try:
                if edit is not None:
                    fields.update(await asyncio.to_thread(save_inputs, hub, run_id, *edit))
                lives.append(hub.start(who, studio, req.prompt, run_id=run_id, **fields))
            except BaseException:  # refused before it ran: no folder is left behind
                import shutil
                shutil.rmtree(hub.store.run_dir(run_id), ignore_errors=True)
                raise
        summaries = await asyncio.gather(*(live.result() for live in lives))
        runs = [run_info(s, hub) for s in summaries]
        base = str(request.base_url).rstrip("/")
        data = []
        for summary, info in zip(summaries, runs):
            if summary["best"] is None or not (summary["approved"] or req.atelier.include_unapproved):
                continue
            index = info["best_attempt"]
            item: dict[str, Any] = {"revised_prompt": summary["best"]["prompt"], "atelier": info}
            if req.response_format == "url":
                expires = int(time.time()) + URL_TTL_S
                item["url"] = (f"{base}/v1/images/files/{summary['run_id']}/{index}.png?expires={expires}"
                               f"&size={wanted[0]}x{wanted[1]}&signature={sign(summary['run_id'], index, wanted, expires)}")
            else:
                png = await asyncio.to_thread(png_at, Path(summary["best"]["path"]), wanted)
                item["b64_json"] = base64.b64encode(png).decode()
            data.append(item)
        if not data:
            raise refusal(runs)
        return {"created": int(time.time()), "data": data, "output_format": "png", "size": f"{wanted[0]}x{wanted[1]}",
                "atelier": {"runs": runs}}

    return api


def parse(body: dict) -> ImagesRequest:
    try:
        return ImagesRequest.model_validate(body)
    except ValidationError as e:
        raise from_validation(e.errors()) from None


def preset(model: str) -> str | None:
    """`atelier` -> the server's image model (None); `atelier/SPEC` -> SPEC."""
    name = model.strip()
    if name == MODEL_PREFIX:
        return None
    if name.startswith(MODEL_PREFIX + "/") and name[len(MODEL_PREFIX) + 1:].strip():
        return name[len(MODEL_PREFIX) + 1:].strip()
    raise APIError(400, f"The model '{model}' does not exist here: use atelier (the server's defaults) or "
                   f"atelier/IMAGE_MODEL, e.g. atelier/local:shapes", param="model", code="model_not_found")


def parse_size(size: str | None) -> tuple[int, int] | None:
    width, sep, height = (size or "").strip().lower().partition("x")
    return (int(width), int(height)) if sep and width.isdigit() and height.isdigit() else None


def ready_backend(image_model: str | None):
    from agent.core import registry
    from agent.core.defaults import DEFAULT_IMAGE_MODEL
    from agent.core.protocols import check_ready
    spec = image_model or DEFAULT_IMAGE_MODEL
    try:
        backend = registry.resolve("image", spec)
        check_ready(backend)
    except AtelierError as e:
        raise APIError(400, f"model atelier/{spec} cannot be used: {e}", param="model", code="model_not_found",
                       scrub=True) from None
    return backend


async def read_image(upload, what: str):
    """An uploaded PNG / JPEG / WebP as a PIL image: its header checked (size, pixel bomb) first."""
    from PIL import Image

    from agent.core.artifacts import check_image_header
    raw = await upload.read(MAX_UPLOAD_BYTES + 1)
    if len(raw) > MAX_UPLOAD_BYTES:
        raise bad_request(f"'{what}' is over {MAX_UPLOAD_BYTES // 1_000_000} MB", what)
    try:
        check_image_header(io.BytesIO(raw), what)
        with Image.open(io.BytesIO(raw)) as im:
            im.load()
            return im.copy()
    except AtelierError as e:
        raise bad_request(str(e), what, "invalid_image_format") from None
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError):
        raise bad_request(f"Invalid image file for '{what}': send a PNG, JPEG or WebP image", what,
                          "invalid_image_format") from None


def save_inputs(hub: RunHub, run_id: str, image, mask) -> dict[str, Any]:
    """The edit's image and mask as files in the run's own folder (so the run's record stays the
    caller's), the mask turned from OpenAI's (transparent = edit) into Atelier's (white = repaint)."""
    from PIL import Image
    if mask is not None:
        if mask.mode not in ("RGBA", "LA", "PA") and not (mask.mode == "P" and "transparency" in mask.info):
            raise bad_request(f"Invalid mask: it must have an alpha channel (transparent where to edit), "
                              f"got mode {mask.mode}", "mask", "invalid_mask")
        if mask.size != image.size:
            raise bad_request(f"Invalid mask: it is {mask.size[0]}x{mask.size[1]}, the image "
                              f"{image.size[0]}x{image.size[1]}; they must be the same size", "mask", "invalid_mask")
    inputs = hub.store.run_dir(run_id) / "inputs"
    inputs.mkdir(parents=True, exist_ok=True)
    fields: dict[str, Any] = {"reference_images": [inputs / "image.png"]}
    image.convert("RGB").save(inputs / "image.png")
    if mask is not None:
        alpha = mask.convert("RGBA").getchannel("A")
        alpha.point(lambda a: 255 if a == 0 else 0).save(inputs / "mask.png")
        fields["mask"] = inputs / "mask.png"
    return fields


def png_at(path: Path, size: tuple[int, int]) -> bytes:
    from PIL import Image
    with Image.open(path) as im:
        im = im.convert("RGB") if im.mode not in ("RGB", "RGBA") else im.copy()
    if im.size != tuple(size):
        im = im.resize(tuple(size), Image.Resampling.NEAREST)
    out = io.BytesIO()
    im.save(out, format="PNG")
    return out.getvalue()


def run_info(summary: dict[str, Any], hub: RunHub) -> dict[str, Any]:
    """The extension field: what became of one run."""
    best = summary.get("best")
    record = None
    try:
        record = hub.store.load(summary["run_id"]) if best else None
    except AtelierError:
        pass
    attempt = record.best if record else None
    made = None
    if attempt is not None:
        from PIL import Image
        with Image.open(attempt.artifact.path) as im:
            made = f"{im.size[0]}x{im.size[1]}"
    return {"run_id": summary["run_id"], "status": summary["status"], "approved": summary["approved"],
            "attempts": len(summary["attempts"]), "iterations": summary["iterations"],
            "stop_reason": summary.get("stop_reason"), "error": summary.get("error"),
            "best_attempt": attempt.index if attempt else None, "made_size": made,
            "issues": ((best or {}).get("verdict") or {}).get("issues", []),
            "run": f"/api/runs/{summary['run_id']}"}


def refusal(runs: list[dict[str, Any]]) -> APIError:
    """No image approved: 500 when a run failed, else 422, naming every run and why it stopped."""
    why = "; ".join(f"run {r['run_id']}: {r['status']}" + (f" ({r['error'] or r['stop_reason']})"
                                                           if (r['error'] or r['stop_reason']) else "") for r in runs)
    if any(r["status"] == "failed" for r in runs):
        return APIError(500, f"the run failed: {why}", code="run_failed", extra={"atelier": {"runs": runs}},
                        scrub=True)
    code = "unverified" if all(r["status"] == "unverified" for r in runs) else "not_approved"
    return APIError(422, f"no image was approved, so none is returned: {why}; ask again, give a larger "
                    f"atelier.max_iterations, or send atelier.include_unapproved", code=code,
                    extra={"atelier": {"runs": runs}}, scrub=True)
