"""Files over MCP: an attempt's resource URI typed by its file, mime types, and images sent inline."""
from __future__ import annotations

import base64
import binascii
from pathlib import Path

from agent.core.errors import InputError

MAX_UPLOAD_BYTES = 20_000_000  # an image_base64 decoded; its pixels are checked against the bomb limit too


ATTEMPT_TYPES = {"png": "image/png", "gif": "image/gif", "mp4": "video/mp4", "webm": "video/webm"}


def attempt_uri(run_id: str, index: int, path: Path) -> str:
    """The resource URI of an attempt's file, typed by its suffix where there is a template for it."""
    suffix = Path(path).suffix.lower().lstrip(".")
    return f"atelier://runs/{run_id}/attempts/{index}" + (f".{suffix}" if suffix in ATTEMPT_TYPES else "")


def mime_of(path: Path) -> str:
    return {".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".gif": "image/gif",
            ".webp": "image/webp", ".mp4": "video/mp4", ".webm": "video/webm",
            ".mov": "video/quicktime"}.get(Path(path).suffix.lower(), "application/octet-stream")


def decode_upload(data: str):
    """An image sent inline, as a PIL image: size and pixels checked before anything is decoded
    in full or written (a bomb is refused by its header)."""
    import io

    from PIL import Image

    from agent.core.artifacts import check_image_header
    if len(data) > MAX_UPLOAD_BYTES * 4 // 3 + 4:
        raise InputError(f"image_base64 is over {MAX_UPLOAD_BYTES // 1_000_000} MB")
    try:
        raw = base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError):
        raise InputError("image_base64 is not valid base64") from None
    check_image_header(io.BytesIO(raw), "image_base64")
    try:
        with Image.open(io.BytesIO(raw)) as im:
            im.load()
            return im.convert("RGB") if im.mode not in ("RGB", "L") else im.copy()
    except (OSError, SyntaxError, Image.DecompressionBombError):
        raise InputError("image_base64 is not a PNG or JPEG image") from None
