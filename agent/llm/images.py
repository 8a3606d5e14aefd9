"""What of a conversation's images goes to an LLM: previews, not the full-resolution files, and only
the latest few, so a long run's request stays within every provider's limits however many
attempts it has made.

Limits (the providers' vision and API-error pages): Anthropic takes at most 100 images and 32 MB
a request, each image at most 8000 px a side, or 2000 px once a request holds more than 20, and
5 MB of base64 an image; it scales anything over 1568 px on the long side down before the model
sees it, so larger sends only bytes. OpenAI takes up to 500 images and 50 MB a request, 20 MB an
image, and fits high-detail images into 2048 px. A preview is at most 1568 px on its long side
and about 1 MB, which is under all of them; at most ATELIER_LLM_IMAGES (8) of the latest images
are sent, older ones become a line of text (the tool's text that came with each image, its
verdict, stays in the conversation)."""
from __future__ import annotations

import base64
import functools
import io
import os
from dataclasses import dataclass
from pathlib import Path

from agent.core.errors import ConfigError, InputError
from agent.core.protocols import ImagePart, Message, TextPart, ToolResult

PREVIEW_SIDE = 1568  # Anthropic's recommended long side; what it would scale to anyway
PREVIEW_BYTES = 1_000_000  # a preview's encoded size at most (before base64)
KEEP_VAR, KEEP_DEFAULT = "ATELIER_LLM_IMAGES", 8
# Older images are dropped this many at a time, so the conversation's prefix (and Anthropic's
# prompt cache over it) stays the same for several turns instead of changing on every one.
DROP_STEP = 4


@dataclass(frozen=True)
class ImageLimits:
    """What one request to a provider may carry, with headroom for the text around the images."""

    max_images: int
    max_request_bytes: int  # base64 characters of image data in one request
    max_side: int  # px, the long side of any image when the request holds many


ANTHROPIC = ImageLimits(max_images=100, max_request_bytes=24_000_000, max_side=2000)  # 32 MB a request
OPENAI = ImageLimits(max_images=500, max_request_bytes=40_000_000, max_side=2048)  # 50 MB a request


def keep_setting() -> int:
    """How many of the latest images a request carries: ATELIER_LLM_IMAGES, default 8."""
    raw = os.environ.get(KEEP_VAR, "").strip()
    if not raw:
        return KEEP_DEFAULT
    if not raw.isdigit() or not 1 <= int(raw) <= 100:
        raise ConfigError(f"{KEEP_VAR} must be a whole number from 1 to 100, not {raw!r}")
    return int(raw)


def encode_preview(path: Path, media_type: str = "image/png") -> tuple[str, str]:
    """(media_type, base64 data) of the image's preview: the file itself when it is already small
    (at most 1568 px and 1 MB), else a PNG or JPEG at most 1568 px, whichever fits in 1 MB first."""
    path = Path(path)
    try:
        stat = path.stat()
    except OSError:
        raise InputError(f"image not found: {path}") from None
    return _preview(str(path), stat.st_mtime_ns, stat.st_size, media_type)


@functools.lru_cache(maxsize=32)  # a run's latest images are re-sent every turn; encode each once
def _preview(path: str, mtime_ns: int, size: int, media_type: str) -> tuple[str, str]:
    from PIL import Image

    data = Path(path).read_bytes()
    try:
        with Image.open(io.BytesIO(data)) as im:
            im.load()
            fmt, small = im.format, max(im.size) <= PREVIEW_SIDE and len(data) <= PREVIEW_BYTES
            if small and fmt in ("PNG", "JPEG", "GIF", "WEBP"):
                return media_type, base64.b64encode(data).decode("ascii")
            image = im.copy()
    except (OSError, Image.DecompressionBombError) as e:
        raise InputError(f"{path} cannot be read as an image: {e}") from None
    source_pixels = image.size[0] * image.size[1]
    image.thumbnail((PREVIEW_SIDE, PREVIEW_SIDE))
    # PNG first where it may fit (flat renders, diagrams and text stay exact and small in it); the
    # source's bytes a pixel say when it cannot, and then the slow PNG encode is skipped
    if fmt != "JPEG" and len(data) * image.size[0] * image.size[1] / source_pixels < 2 * PREVIEW_BYTES:
        out = io.BytesIO()
        image.save(out, "PNG")
        if out.tell() <= PREVIEW_BYTES:
            return "image/png", base64.b64encode(out.getvalue()).decode("ascii")
    rgb = image.convert("RGB")
    for side, quality in ((PREVIEW_SIDE, 85), (PREVIEW_SIDE, 70), (1024, 70), (768, 60)):
        rgb.thumbnail((side, side))
        out = io.BytesIO()
        rgb.save(out, "JPEG", quality=quality)
        if out.tell() <= PREVIEW_BYTES:
            break
    return "image/jpeg", base64.b64encode(out.getvalue()).decode("ascii")


def fit_images(messages: list[Message], limits: ImageLimits, keep: int | None = None) -> list[Message]:
    """The conversation as it should be sent: the latest `keep` images (ATELIER_LLM_IMAGES) at
    most, fewer when their previews would pass `limits`; each image left out becomes a text line
    naming its file. The messages given are not changed (the run record keeps every image)."""
    keep = min(keep or keep_setting(), limits.max_images)
    images = [p for m in messages for p in _image_parts(m)]
    drop = 0
    if len(images) > keep:
        drop = min(len(images), -(-(len(images) - keep) // DROP_STEP) * DROP_STEP)
    while drop < len(images) and sum(len(encode_preview(p.path, p.media_type)[1]) for p in images[drop:]) \
            > limits.max_request_bytes:
        drop += 1
    if not drop:
        return messages
    dropped = {id(p) for p in images[:drop]}
    return [_without(m, dropped) for m in messages]


def _image_parts(message: Message) -> list[ImagePart]:
    found: list[ImagePart] = []
    for part in message.parts:
        if isinstance(part, ImagePart):
            found.append(part)
        elif isinstance(part, ToolResult):
            found += [p for p in part.content if isinstance(p, ImagePart)]
    return found


def _stand_in(part: ImagePart) -> TextPart:
    return TextPart(text=f"(image {Path(part.path).name} was shown in an earlier turn; only the latest "
                         f"images are sent again)")


def _without(message: Message, dropped: set[int]) -> Message:
    parts = []
    for part in message.parts:
        if isinstance(part, ImagePart) and id(part) in dropped:
            parts.append(_stand_in(part))
        elif isinstance(part, ToolResult) and any(id(p) in dropped for p in part.content):
            content = [_stand_in(p) if id(p) in dropped else p for p in part.content]
            parts.append(part.model_copy(update={"content": content}))
        else:
            parts.append(part)
    return message.model_copy(update={"parts": parts})
