"""Writing what back ends make: PNGs that carry their request (and later their verdict) in metadata
any common tool can read (PNG text chunks: `parameters` in the A1111 style, `atelier` as JSON)."""
from __future__ import annotations

import json
import os
import tempfile
import time
from pathlib import Path
from typing import Any

from PIL import Image, PngImagePlugin

from agent.core.errors import InputError, out_of_space
from agent.core.types import Artifact, GenerationRequest, Verdict

Image.MAX_IMAGE_PIXELS = 64_000_000  # refuse decompression bombs (about 8000×8000)


def load_image(path: Path | str) -> Image.Image:
    """Open a user-supplied image with a clear error for missing, non-image or oversized files."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"image not found: {path}")
    try:
        with Image.open(path) as im:
            _check_pixels(im, str(path))  # from the header, before a byte of pixels is decoded
            im.load()
            return im.convert("RGB") if im.mode not in ("RGB", "L") else im.copy()
    except Image.DecompressionBombError as e:
        raise InputError(f"image too large: {path} ({e})") from None
    except (OSError, SyntaxError):
        raise InputError(f"not an image file: {path}") from None


def check_image_header(source, name: str | None = None) -> tuple[int, int]:
    """(width, height) of an image file or stream, read from its header only: InputError when it
    is not an image or has more pixels than the limit (Pillow itself raises only above twice it)."""
    name = name or str(source)
    try:
        with Image.open(source) as im:
            return _check_pixels(im, name)
    except Image.DecompressionBombError as e:
        raise InputError(f"image too large: {name} ({e})") from None
    except (OSError, SyntaxError, ValueError):
        raise InputError(f"not an image file: {name}") from None


def check_image_file(path: Path) -> tuple[int, int]:
    """(width, height) of an image file given as an input, decoded whole (a truncated or corrupt file
    is refused now, not when a back end reads it mid-run); InputError otherwise."""
    size = check_image_header(path)
    try:
        with Image.open(path) as im:
            im.load()
    except (OSError, SyntaxError, ValueError):
        raise InputError(f"not an image file: {path} (it is truncated or damaged)") from None
    return size


def _check_pixels(im: Image.Image, name: str) -> tuple[int, int]:
    width, height = im.size
    limit = Image.MAX_IMAGE_PIXELS
    if limit and width * height > limit:
        raise InputError(f"image too large: {name} is {width}×{height} ({width * height / 1e6:.0f} Mpx); "
                         f"the limit is {limit / 1e6:.0f} Mpx")
    return width, height


def _pnginfo(request: GenerationRequest, extra: dict[str, Any]) -> PngImagePlugin.PngInfo:
    info = PngImagePlugin.PngInfo()
    # A1111's "parameters" text, with only what is known (a back end's own default is not guessed)
    # the sampler named, else the scheduler class a back end reports it ran (meta.scheduler)
    sampler = request.scheduler or (extra.get("meta") or {}).get("scheduler")
    known = [("Steps", request.steps), ("Sampler", sampler), ("CFG scale", request.guidance), ("Seed", request.seed),
             ("Size", f"{request.width}x{request.height}" if request.width and request.height else None),
             ("Denoising strength", request.strength), ("Model", request.model)]
    params = request.prompt + (f"\nNegative prompt: {request.negative_prompt}" if request.negative_prompt else "")
    params += "\n" + ", ".join(f"{key}: {value}" for key, value in known if value is not None)
    info.add_text("parameters", params)
    info.add_text("atelier", json.dumps({"request": request.model_dump(mode="json"), **extra}))
    return info


def atomic_write_bytes(path: Path, data: bytes, durable: bool = True) -> None:
    """Write via a temp file and rename, so a crash never leaves a half-written file behind (and a
    full disk leaves the old file as it was: OutOfSpace naming the folder). `durable`: fsync before
    the rename, which only a power loss (not a killed process) needs; a run's intermediate saves
    skip it (`RunStore.save`)."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as e:
        raise out_of_space(e, path.parent) or e
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            if durable:
                os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException as e:
        Path(tmp).unlink(missing_ok=True)
        if isinstance(e, OSError) and (full := out_of_space(e, path.parent)):
            raise full from None
        raise


def save_image(image: Image.Image, out_dir: Path, request: GenerationRequest, *, index: int = 0,
               parent: str | None = None, seconds: float = 0.0, cost_usd: float = 0.0,
               meta: dict[str, Any] | None = None) -> Artifact:
    """Save one generated image as a PNG with its request in the metadata; return its Artifact."""
    import io

    buf = io.BytesIO()
    image.save(buf, format="PNG", pnginfo=_pnginfo(request, {"parent": parent, "meta": meta or {}}))
    stamp = time.strftime("%H%M%S")
    path = Path(out_dir) / f"{stamp}-s{request.seed}-{index}-{os.urandom(3).hex()}.png"
    atomic_write_bytes(path, buf.getvalue())
    return Artifact(path=path, sha256=Artifact.digest(path), request=request, parent=parent,
                    seconds=seconds, cost_usd=cost_usd, meta=meta or {})


def stamp_verdict(artifact: Artifact, verdict: Verdict) -> Artifact:
    """Rewrite a PNG so its metadata carries the verdict too; returns the artifact with its new hash."""
    if artifact.path.suffix.lower() != ".png":
        return artifact
    with Image.open(artifact.path) as im:
        im.load()
        image = im.copy()
    import io

    buf = io.BytesIO()
    extra = {"parent": artifact.parent, "meta": artifact.meta, "verdict": verdict.model_dump(mode="json")}
    image.save(buf, format="PNG", pnginfo=_pnginfo(artifact.request, extra))
    atomic_write_bytes(artifact.path, buf.getvalue())
    return artifact.model_copy(update={"sha256": Artifact.digest(artifact.path)})


def read_metadata(path: Path) -> dict[str, Any]:
    with Image.open(path) as im:
        return json.loads(im.text.get("atelier", "{}"))
