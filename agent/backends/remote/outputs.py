"""Turning what a service sent back into Artifacts, and our inputs into what services accept."""
from __future__ import annotations

import base64
import binascii
import io
import os
import time
from pathlib import Path
from typing import Any

from PIL import Image

from agent.core.artifacts import atomic_write_bytes, load_image, save_image
from agent.core.errors import InputError
from agent.core.types import Artifact, GenerationRequest
from agent.backends.remote.http import MAX_IMAGE_BYTES, RemoteError, sniff


def b64decode(data: str, service: str) -> bytes:
    if len(data) * 3 // 4 > MAX_IMAGE_BYTES:
        raise RemoteError(service, f"inline image is over the {MAX_IMAGE_BYTES // 2**20} MiB limit",
                          kind="too_large")
    try:
        return base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError):
        raise RemoteError(service, "answered with an image that is not valid base64", kind="malformed",
                          retryable=True) from None


def image_artifact(data: bytes, service: str, out_dir: Path, request: GenerationRequest, *, index: int,
                   parent: str | None, seconds: float, cost_usd: float, meta: dict[str, Any]) -> Artifact:
    """Check the bytes really are an image, then save them as a PNG carrying the request in its metadata."""
    if not (sniff(data) or "").startswith("image/"):
        raise RemoteError(service, f"answered with something that is not an image ({len(data)} bytes)",
                          kind="malformed", retryable=True)
    try:
        with Image.open(io.BytesIO(data)) as im:
            im.load()
            image = im.convert("RGBA" if "A" in im.getbands() else "RGB")
    except (OSError, Image.DecompressionBombError):
        raise RemoteError(service, "answered with an image that cannot be decoded", kind="malformed",
                          retryable=True) from None
    return save_image(image, out_dir, request, index=index, parent=parent, seconds=seconds,
                      cost_usd=cost_usd, meta=meta)


def video_artifact(data: bytes, service: str, out_dir: Path, request: GenerationRequest, *, index: int,
                   seconds: float, cost_usd: float, meta: dict[str, Any]) -> Artifact:
    mime = sniff(data) or ""
    if not mime.startswith("video/"):
        raise RemoteError(service, f"answered with something that is not a video ({len(data)} bytes)",
                          kind="malformed")
    ext = {"video/webm": ".webm", "video/quicktime": ".mov"}.get(mime, ".mp4")
    path = Path(out_dir) / f"{time.strftime('%H%M%S')}-s{request.seed}-{index}-{os.urandom(3).hex()}{ext}"
    atomic_write_bytes(path, data)
    return Artifact(path=path, sha256=Artifact.digest(path), kind="video", request=request,
                    seconds=seconds, cost_usd=cost_usd, meta=meta)


def png_bytes(path: Path, *, mode: str | None = None) -> bytes:
    """A user's image re-encoded as PNG (services accept PNG everywhere); InputError if unreadable."""
    image = load_image(path)
    if mode:
        image = image.convert(mode)
    buf = io.BytesIO()
    image.save(buf, format="PNG")
    return buf.getvalue()


def data_url(path: Path, *, max_bytes: int = 10 * 2**20) -> str:
    """The image as a data URI of at most `max_bytes` characters: the limit services set is on the
    URI (base64 is 4/3 of the bytes), not on the file. PNG when it fits, else JPEG, smaller by steps
    down to a third of its size; the aspect is kept. InputError when even that does not fit."""
    image = load_image(path)

    def uri(picture: Image.Image, fmt: str, **options: Any) -> str:
        buf = io.BytesIO()
        picture.save(buf, format=fmt, **options)
        return f"data:image/{fmt.lower()};base64," + base64.b64encode(buf.getvalue()).decode()

    out = uri(image, "PNG")
    if len(out) <= max_bytes:
        return out
    rgb, (w, h) = image.convert("RGB"), image.size
    for scale in (1.0, 0.8, 0.6, 0.45, 0.33):
        picture = rgb if scale == 1.0 else rgb.resize((max(1, round(w * scale)), max(1, round(h * scale))),
                                                      Image.LANCZOS)
        out = uri(picture, "JPEG", quality=90)
        if len(out) <= max_bytes:
            return out
    raise InputError(f"{path} does not fit in a {max_bytes / 2**20:.0f} MiB data URI even as a JPEG at a third "
                     f"of its size; send a smaller image")


def source_digest(request: GenerationRequest) -> str | None:
    return Artifact.digest(request.source_image) if request.source_image else None
