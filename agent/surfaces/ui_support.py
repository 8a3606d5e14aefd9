"""What the chat UI (`agent/surfaces/ui.py`) needs besides Gradio itself, in three modules:
this one (settings → a Studio, checks before a run, which back ends would run here, uploads, masks
and the viewer's images, where the server listens), `ui_desks` (runs in flight: threads, the review
gate, per-tab desks and queues, ownership) and `ui_text` (the text of every chat message, tables,
status and progress). Everything is re-exported here, so `ui_support.X` keeps working.

Nothing here decides anything about a run: the director, the critic and the records do that. These
modules import no Gradio, so they are tested on their own.
"""
from __future__ import annotations

import os
import secrets
import shutil
from pathlib import Path
from typing import Any

from pydantic import Field

from agent.core.defaults import DEFAULT_CRITIC, DEFAULT_IMAGE_MODEL, DEFAULT_LLM
from agent.core.errors import AtelierError, InputError
from agent.core.options import RunOptions
from agent.core.types import MAX_BRIEF_CHARS, Attempt
from agent.surfaces.ui_desks import (  # noqa: F401  (re-exported: ui_support.X keeps working)
    REVIEW_TIMEOUT_S, Pump, ReviewGate, Live, Hub, owner_id, new_token, visible_runs, may_open, Job, Desk,
    Desks, _first_seed,
)
from agent.surfaces.ui_text import (  # noqa: F401  (re-exported: ui_support.X keeps working)
    msg, error_msg, verdict_text, frame_checks, frame_groups, frame_span, frame_line, attempt_title, attempt_msg,
    refined_msg, changes_markdown, final_msg, edit_words, queued_msg, step_line,
    log_msg, RunView, spec_line, record_msgs, status_words, STATUS_ICONS, status_html, scrub, short,
    viewer_text, progress_text, seconds_left, progress_fraction,
)
from agent.surfaces.ui_tables import (  # noqa: F401  (re-exported)
    gallery_items, TABLE_HEADERS, verdict_rows, HISTORY_HEADERS, STATUS_SHORT, history_status, history_rows,
    history_choices,
)

LLM_CHOICES = [DEFAULT_LLM, "anthropic:claude-sonnet-4-6", "openai:gpt-5.5",
               "openai-compatible:qwen2.5@http://localhost:11434/v1"]
IMAGE_CHOICES = [DEFAULT_IMAGE_MODEL, "local:sdxl", "local:flux-schnell", "openai:gpt-image-2", "stability:sd3",
                 "replicate:black-forest-labs/flux-schnell"]
VIDEO_CHOICES = ["(none)", "local:shapes-animate", "local:shapes-video", "local:svd", "runway:gen4_turbo", "replicate:minimax/video-01"]
CRITIC_CHOICES = [DEFAULT_CRITIC, "critic:vlm", "critic:detector+vlm"]


# ---- settings ---------------------------------------------------------------------------------
class Settings(RunOptions):
    """The settings panel: the run options (agent.core.options: the same fields, defaults and limits
    as every surface) and what only the panel has. Defaults are the offline shapes world (no keys)."""

    review: bool = Field(False, description="show the rewritten prompt before it is used")
    negative_prompt: str = ""

    @classmethod
    def from_form(cls, llm, image_model, video_model, critic, mode, max_iterations, max_seconds,
                  max_cost_usd, candidates, seed, review, edits, negative_prompt="", steps="", guidance="", size="",
                  sampler="") -> "Settings":
        """From the widgets' raw values: a blank means "no limit" / "random"; a money budget of 0 means
        spend nothing (free back ends only) and a time budget must be more than 0 s, as on every
        surface. A value out of its limits is InputError, the line every surface gives for it."""
        def spec(x):
            return None if _blank(x) or str(x).strip() == "(none)" else str(x).strip()

        seconds = parse_number(max_seconds, "the time budget", float)
        cost = parse_number(max_cost_usd, "the money budget", float)
        return cls.parse(llm=spec(llm), image_model=spec(image_model), video_model=spec(video_model),
                         critic=spec(critic), mode=mode or None, max_iterations=None if _blank(max_iterations)
                         else max_iterations, max_seconds=seconds,
                         max_cost_usd=cost, candidates=None if _blank(candidates) else candidates,
                         seed=parse_number(seed, "the seed", int),
                         review=bool(review), edits=bool(edits), negative_prompt=(negative_prompt or "").strip(),
                         steps=parse_number(steps, "steps", int), guidance=parse_number(guidance, "the guidance", float),
                         size=spec(size), sampler=spec(sampler))

    def studio(self, runs_dir: Path | str):
        from agent.surfaces.api import Studio
        return Studio(**self.studio_fields(), runs_dir=runs_dir)

    def brief_fields(self, budget=None) -> dict[str, Any]:
        return {**super().brief_fields(budget), "negative_prompt": self.negative_prompt,
                "rewrite": "review" if self.review else self.rewrite}

    def as_dict(self) -> dict[str, Any]:
        return self.model_dump()


def _blank(x) -> bool:
    return x is None or (isinstance(x, str) and not x.strip())


def parse_number(value, what: str, kind=int):
    """A number typed in a text box (blank → None), or ValueError with a line the user can act on."""
    if _blank(value):
        return None
    try:
        number = float(str(value).strip())
        if kind is int:
            if number != int(number) or number < 0:
                raise ValueError
            return int(number)
        return number
    except (TypeError, ValueError, OverflowError):
        raise ValueError(f"{what} must be a {'whole number ≥ 0' if kind is int else 'number'}, "
                         f"not {str(value).strip()!r}") from None


def keep_upload(path: str | Path, runs_dir: Path | str) -> Path:
    """Copy an uploaded reference image next to the runs, so the run record never points at a
    temporary file that Gradio deletes later."""
    from agent.core.types import Artifact
    src = Path(path)
    digest = Artifact.digest(src)[:16]
    dest = Path(runs_dir).expanduser().resolve() / "uploads" / f"{digest}{src.suffix.lower() or '.png'}"
    dest.parent.mkdir(parents=True, exist_ok=True)
    if not dest.exists():
        shutil.copyfile(src, dest)
    return dest


def mask_from_layers(layers: list, size: tuple[int, int]):
    """A white-on-black mask (mode L, `size`) of everything painted on the editor's layers."""
    from PIL import Image, ImageChops
    mask = Image.new("L", size, 0)
    for layer in layers or []:
        if layer is None:
            continue
        if not isinstance(layer, Image.Image):
            layer = Image.open(layer)
        alpha = layer.convert("RGBA").getchannel("A")
        if alpha.size != size:
            alpha = alpha.resize(size, Image.NEAREST)
        mask = ImageChops.lighter(mask, alpha.point(lambda v: 255 if v > 16 else 0))
    return mask if mask.getbbox() else None


# ---- checks before running ---------------------------------------------------------------------
def check_brief(text: str) -> str | None:
    """Why `text` cannot be sent as a brief, or None."""
    if not text.strip():
        return "the brief is empty: describe the picture you want"
    if len(text) > MAX_BRIEF_CHARS:
        return (f"the brief is {len(text):,} characters long; the limit is {MAX_BRIEF_CHARS:,}: "
                f"shorten it (it is still in the box)")
    return None


def check_upload(path: str | Path, name: str | None = None) -> str | None:
    """Why an uploaded file cannot be a reference image (not an image, too many pixels), naming it
    by its own file name only, or None when it is fine."""
    from agent.core.artifacts import check_image_header
    name = Path(name or path).name
    try:
        check_image_header(Path(path), name=name)
    except AtelierError as e:
        return str(e)
    except OSError:
        return f"could not read the attached file {name}"
    return None


def preflight(settings: Settings) -> None:
    """What Studio.prepare checks before a run, checked before a brief leaves the box: the back
    ends are known, and the image and video models' weights or keys are here (ConfigError if not)."""
    from agent.core import registry
    from agent.core.protocols import check_ready
    registry.resolve("llm", settings.llm)
    registry.resolve("critic", settings.critic)
    check_ready(image := registry.resolve("image", settings.image_model))
    if problem := settings.image_settings().problem(image.info):  # what the model cannot honour: refused here
        raise InputError(f"bad run options: {problem}")
    if settings.video_model:
        check_ready(registry.resolve("video", settings.video_model))


def instruction_problem(image_model: str) -> str | None:
    """Why an edit instruction cannot be followed by `image_model` (its ModelInfo declares no
    "instruct" edit), or None when it can."""
    from agent.core import registry
    info = registry.resolve("image", image_model).info
    if "instruct" in info.edits:
        return None
    how = " and ".join(info.edits) or "no edits"
    return (f"{image_model} cannot follow an instruction (it edits by {how}): describe the result instead "
            f"(e.g. add \"on a white background\" to what the result should show), or paint the region to "
            f"change, and leave the instruction blank")


def feather_problem(image_model: str, feather: int | None, masked: bool) -> str | None:
    """Why an edit on `image_model` cannot take the feather (tools.edit_image's check), or None."""
    from agent.core import registry
    from tools.edit_image import feather_problem as problem
    return problem(registry.resolve("image", image_model).info, feather, masked)


# ---- which back ends would run here -------------------------------------------------------------
LLM_KEYS = {"anthropic": "ANTHROPIC_API_KEY", "openai": "OPENAI_API_KEY"}


def availability(kind: str, spec: str, policy=None) -> str | None:
    """None when back end `spec` of `kind` would run on this machine for a UI user, else why not in
    a few words (weights absent, key unset, not allowed by the operator)."""
    if policy is not None:
        try:
            from agent.core.trust import check_untrusted_spec
            check_untrusted_spec(kind, spec, policy)
        except ImportError:
            pass
        except AtelierError:
            return "not allowed here"
    prefix = spec.partition(":")[0]
    if kind == "llm":
        if prefix in LLM_KEYS and not os.environ.get(LLM_KEYS[prefix]):
            return f"{LLM_KEYS[prefix]} is not set"
        return None
    from agent.core import registry
    from agent.core.protocols import check_ready
    try:
        backend = registry.resolve(kind, spec)
        if kind in ("image", "video"):
            check_ready(backend)
    except AtelierError as e:
        text = str(e)
        if "weights" in text or "missing" in text:
            return "weights absent"
        if "_KEY" in text or "key" in text.lower():
            return "API key not set"
        return text.split(":")[0][:60]
    except Exception as e:  # an optional dependency missing, say
        return f"cannot load ({type(e).__name__})"
    return None


def choice_labels(kind: str, specs: list[str], status: dict[str, str | None]) -> list[tuple[str, str]]:
    """Dropdown choices: ready ones first as they are, the rest marked with why they would not run."""
    ready = [(s, s) for s in specs if not status.get(s)]
    absent = [(f"{s} — ✗ {status[s]}", s) for s in specs if status.get(s)]
    return ready + absent


# ---- the viewer ---------------------------------------------------------------------------------
def viewer_image(attempt: Attempt, out_dir: Path, *, boxes: bool = True, side: int = 512) -> Path:
    """The attempt's image enlarged (nearest neighbour, so pixels stay crisp) with its layout's boxes
    (magenta, when it was composed from a layout) and what the critic saw (cyan) drawn over it."""
    from PIL import Image, ImageDraw
    with Image.open(attempt.artifact.path) as im:
        im = im.convert("RGB")
    w, h = im.size
    scale = max(1, side // max(w, h))
    big = im.resize((w * scale, h * scale), Image.NEAREST)
    if boxes:
        draw = ImageDraw.Draw(big)
        layout = attempt.artifact.request.layout if attempt.artifact.request else None
        if layout is not None and layout.boxes:
            for b in layout.scaled(w, h).boxes:
                x0, y0, x1, y1 = (v * scale for v in b.box)
                draw.rectangle((x0, y0, x1 - 1, y1 - 1), outline=(255, 0, 255), width=max(2, scale // 4))
                draw.text((x0 + 3, y0 + 2), b.describe(), fill=(255, 0, 255))
        for d in (attempt.verdict.detections if attempt.verdict else []):
            if d.box:
                x0, y0, x1, y1 = (v * scale for v in d.box)
                draw.rectangle((x0, y0, x1 - 1, y1 - 1), outline=(0, 200, 255), width=max(1, scale // 8))
    out_dir.mkdir(parents=True, exist_ok=True)
    out = out_dir / f"view-{attempt.artifact.sha256[:12] if attempt.artifact.sha256 else secrets.token_hex(6)}-{int(boxes)}.png"
    big.save(out)
    return out


def upscaled(path: Path, out_dir: Path, factor: int = 4) -> Path:
    """The image `factor` times larger (nearest neighbour), for the download button, with the
    original's settings (its PNG text: "parameters", "atelier") kept and the upscale noted."""
    from PIL import Image, PngImagePlugin
    with Image.open(path) as im:
        big = im.resize((im.width * factor, im.height * factor), Image.NEAREST)
        text = dict(getattr(im, "text", {}) or {})
    info = PngImagePlugin.PngInfo()
    for key, value in text.items():
        if key == "parameters":
            value += f", Upscale: x{factor} nearest"
        info.add_text(key, value)
    out_dir.mkdir(parents=True, exist_ok=True)
    out = out_dir / f"{Path(path).stem}-x{factor}.png"
    big.save(out, pnginfo=info)
    return out


def png_settings_markdown(path: str | Path) -> str:
    """What a dropped PNG says about how it was made (its "parameters" text, A1111's format, which
    Atelier writes too, and Atelier's own request), as Markdown; a line saying why not otherwise."""
    import json

    from PIL import Image
    name = Path(path).name
    try:
        with Image.open(path) as im:
            text = dict(getattr(im, "text", {}) or {})
    except (OSError, SyntaxError, ValueError):
        return f"⚠️ {name} is not a PNG this page can read."
    if not text.get("parameters") and not text.get("atelier"):
        return f"_{name} carries no generation settings (it was not made by Atelier or A1111)._"
    lines = [f"### Settings in {name}"]
    if text.get("parameters"):
        prompt, _, rest = text["parameters"].partition("\n")
        lines.append(f"**Prompt:** {prompt}")
        for line in rest.splitlines():
            key, sep, value = line.partition(": ")
            if key == "Negative prompt" or not sep:
                lines.append(f"- **{key}:** {value}" if sep else f"- {line}")
                continue
            for part in line.split(", "):  # A1111's settings line: "Seed: 0, Size: 64x64, Model: ..."
                key, sep, value = part.partition(": ")
                lines.append(f"- **{key}:** {value}" if sep else f"- {part}")
    try:
        made = json.loads(text.get("atelier") or "{}")
    except ValueError:
        made = {}
    request = made.get("request") or {}
    fields = [(k, request[k]) for k in ("model", "seed", "width", "height", "steps", "guidance", "strength",
                                        "instruction") if request.get(k) not in (None, "")]
    if fields:
        lines += ["", "**Request:** " + ", ".join(f"{k} {v}" for k, v in fields)]  # a paragraph, not in the list
    steps = (made.get("meta") or {}).get("denoiser_steps")
    if steps is not None and steps != request.get("steps"):  # a layout's passes, an edit's share: all it ran
        lines += ["", f"**Denoising steps run:** {steps} (every pass of the picture together)"]
    return "\n".join(lines)


# ---- clips ----------------------------------------------------------------------------------------
PLAYED = (".mp4", ".webm", ".mov")  # clips the page plays in a video player; a GIF is shown as an image
MAX_PREVIEW_FRAMES = 48


def plays_as_video(path: str | Path) -> bool:
    """Whether the page shows this file in a video player (an MP4), not as an image (a PNG or GIF)."""
    return Path(path).suffix.lower() in PLAYED


def clip_frames(path: str | Path, limit: int = MAX_PREVIEW_FRAMES) -> list:
    """The first `limit` frames of a clip (MP4 through PyAV, GIF through Pillow), as RGB images."""
    from PIL import Image, ImageSequence
    path = Path(path)
    if not plays_as_video(path):
        with Image.open(path) as im:
            return [f.convert("RGB") for _, f in zip(range(limit), ImageSequence.Iterator(im))]
    import av
    frames = []
    with av.open(str(path)) as container:
        for frame in container.decode(video=0):
            frames.append(frame.to_image().convert("RGB"))
            if len(frames) >= limit:
                break
    return frames


def clip_preview(path: str | Path, out_dir: Path, side: int = 128) -> Path | None:
    """What the attempts gallery shows for a clip: a GIF already is one; an MP4 becomes a looping GIF
    of its frames (at least `side` pixels, nearest neighbour), named by the clip's content so it is
    made once. None when the clip cannot be read."""
    from agent.core.types import Artifact
    path = Path(path)
    if not plays_as_video(path):
        return path
    try:
        out = Path(out_dir) / f"clip-{Artifact.digest(path)[:16]}.gif"
        if out.is_file():
            return out
        frames = clip_frames(path)
        if not frames:
            return None
        from PIL import Image
        w, h = frames[0].size
        scale = max(1, side // max(w, h))
        frames = [f.resize((w * scale, h * scale), Image.NEAREST) for f in frames]
        out.parent.mkdir(parents=True, exist_ok=True)
        part = out.with_suffix(f".{secrets.token_hex(4)}.part")
        frames[0].save(part, format="GIF", save_all=True, append_images=frames[1:], loop=0,
                       duration=round(1000 / clip_fps(path)))
        part.replace(out)
        return out
    except Exception:  # a clip that cannot be decoded: the gallery shows nothing rather than failing
        return None


def clip_fps(path: str | Path, default: float = 8.0) -> float:
    try:
        import av
        with av.open(str(path)) as container:
            rate = container.streams.video[0].average_rate
            return float(rate) if rate else default
    except Exception:
        return default


def servable(path: str | Path | None, roots: list[Path]) -> Path | None:
    """`path` resolved (links followed) when it lies under one of `roots` and is a file, else None:
    the page only ever gets copies of the runs folder's files and of what the UI made itself."""
    if path is None:
        return None
    from agent.core.errors import InputError
    from agent.core.trust import contained
    try:
        return contained(path, roots)  # the one containment check every surface uses
    except InputError:
        return None


# ---- where the server listens ------------------------------------------------------------------
def listen_address(host: str | None, port: int | None, env=None) -> tuple[str, int]:
    """Flags win; then GRADIO_SERVER_NAME / GRADIO_SERVER_PORT; then loopback:7860."""
    env = os.environ if env is None else env
    host = host or env.get("GRADIO_SERVER_NAME") or "127.0.0.1"
    if port is None:
        raw = env.get("GRADIO_SERVER_PORT")
        try:
            port = int(raw) if raw else 7860
        except ValueError:
            raise SystemExit(f"error: GRADIO_SERVER_PORT must be a port number, not {raw!r}") from None
    return host, int(port)
