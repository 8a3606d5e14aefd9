"""The core types of Atelier: what a run takes in, makes, judges and keeps (pydantic v2)."""
from __future__ import annotations

import hashlib
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator

from agent.core import limits
from agent.core.defaults import DEFAULT_IMAGE_MODEL
from agent.core.image_settings import ImageSettings
from agent.core.options import RunOptions
from agent.core.record_formats import BACKEND_FIELDS, RECORD_FORMAT, migrate_record  # noqa: F401 (RECORD_FORMAT re-exported)
from agent.core.layout import Layout, LayoutBox  # noqa: E402,F401 (re-exported)
from agent.core.requirements import Requirement
from agent.core.sizes import Size

Relation = Literal["left of", "right of", "above", "below"]
Motion = Literal["left", "right", "up", "down", "still"]
Speed = Literal["slow", "fast"]
Place = Literal["left", "right", "top", "bottom", "center", "top left", "top right", "bottom left", "bottom right"]
MAX_BRIEF_CHARS = limits.MAX_BRIEF_CHARS


def _limited(value, info: ValidationInfo):
    """Validator: `value` within agent.core.limits' limit for its field (a stored record is not re-checked)."""
    if (info.context or {}).get("stored"):
        return value
    if isinstance(value, list):
        return limits.items(info.field_name, value)
    return limits.text(info.field_name, value) if isinstance(value, str) else value


class ObjectSpec(BaseModel):
    """One object constraint, in GenEval's format: `{"class": "circle", "count": 2, "color": "red",
    "position": ["left of", 1]}`; `position[1]` indexes the object in `include` it is relative to."""

    model_config = ConfigDict(populate_by_name=True, extra="forbid")
    cls: str = Field(alias="class", min_length=1)
    count: int = Field(1, ge=1, le=100)
    color: str | None = None
    position: tuple[Relation, int] | None = None
    # in a clip: its way ("still": stays put), how fast (None: normal), where in the first and last frame (places.py)
    motion: Motion | None = None
    speed: Speed | None = None
    start: Place | None = None
    end: Place | None = None
    # "a"/"one"/"two" mean exactly that many; only "at least two", "two or more" or a bare plural
    # ("circles") ask for a minimum (GenEval's export keeps its own rule: an exclude entry of count + 1)
    at_least: bool | None = Field(None, description="True: at least `count`; otherwise exactly `count`")
    # "a small circle", "two big squares" (agent.core.sizes; GenEval's export drops it)
    size: Size | None = Field(None, description="small or large (its side: agent.core.sizes.SIZES); None: any size")

    def describe(self) -> str:
        """"one red circle", "two blue squares" (agent.core.captions.describe, counted in words)."""
        from agent.core.captions import describe
        return describe(self, one_word="one")


TEXT_PLACEMENTS = ("top", "bottom", "left", "right", "center")


class TextSpec(BaseModel):
    """Words the picture must show: `{"text": "SALE", "placement": "below object 0"}`. Placement is
    one of TEXT_PLACEMENTS or "above/below/left of/right of object K" (K indexes `include`)."""

    model_config = ConfigDict(extra="forbid")
    text: str = Field(min_length=1, max_length=200, description="the words, exactly as they must read")
    placement: str | None = Field(None, description="top, bottom, left, right, center, or "
                                  "'above object K' / 'below object K' / 'left of object K' / 'right of object K'")
    case_sensitive: bool = Field(False, description="True: the letters' case must match too")

    @field_validator("text")
    @classmethod
    def _words(cls, text: str) -> str:
        if not text.strip():
            raise ValueError("the text to write is empty")
        return text.strip()

    @field_validator("placement")
    @classmethod
    def _placement(cls, value: str | None) -> str | None:
        if value is None or value in TEXT_PLACEMENTS:
            return value
        rel, _, k = value.rpartition(" object ")
        if rel in ("above", "below", "left of", "right of") and k.isdigit():
            return value
        raise ValueError(f"placement {value!r}: use {', '.join(TEXT_PLACEMENTS)} or 'below object 0'")

    def relative_to(self) -> tuple[str, int] | None:
        """("below", 0) for "below object 0"; None for a named placement or none."""
        if not self.placement or self.placement in TEXT_PLACEMENTS:
            return None
        rel, _, k = self.placement.rpartition(" object ")
        return rel, int(k)


class SceneSpec(BaseModel):
    """What an image must contain, checkably (GenEval's format)."""

    model_config = ConfigDict(extra="forbid")
    include: list[ObjectSpec] = Field(default_factory=list)
    exclude: list[ObjectSpec] = Field(default_factory=list)
    background: str | None = Field(None, description="the background colour the brief asks for")
    only: bool | None = Field(None, description="True: nothing but the included objects ('only', "
                              "'nothing else'); the shapes world's critic asks this of every image")
    text: list[TextSpec] = Field(default_factory=list, description="words the picture must show")

    @model_validator(mode="after")
    def _consistent(self) -> "SceneSpec":
        for i, obj in enumerate(self.include):
            if obj.position and not (0 <= obj.position[1] < len(self.include) and obj.position[1] != i):
                raise ValueError(f"include[{i}].position refers to object {obj.position[1]}, "
                                 f"which is not another entry of include")
        for i, words in enumerate(self.text):
            if (rel := words.relative_to()) and not 0 <= rel[1] < len(self.include):
                raise ValueError(f"text[{i}].placement refers to object {rel[1]}, which is not in include")
        for j, ex in enumerate(self.exclude):
            for i, inc in enumerate(self.include):
                if inc.cls == ex.cls and (ex.color is None or ex.color == inc.color) and inc.count >= ex.count:
                    raise ValueError(f"spec contradicts itself: include[{i}] asks for {inc.count} "
                                     f"{inc.cls} but exclude[{j}] forbids {ex.count} or more")
        return self

    def to_geneval(self) -> dict[str, Any]:
        out = self.model_dump(by_alias=True, exclude_none=True)
        if not self.text:  # GenEval's format has no words: the key appears only when there are some
            out.pop("text")
        return out


class Budget(BaseModel):
    model_config = ConfigDict(extra="forbid")
    max_iterations: int = Field(4, ge=1, le=100, description="critique rounds at most")
    max_generations: int | None = Field(None, ge=1, le=1000, description="images generated at most")
    max_seconds: float | None = Field(None, gt=0, le=7 * 24 * 3600)
    max_cost_usd: float | None = Field(None, ge=0, le=10_000)
    max_denoiser_steps: int | None = Field(None, ge=1, le=100_000, description="denoising steps at most, "
                                           "every pass counted (a composed layout takes one per group)")


class Brief(BaseModel):
    """What the user asks for."""

    model_config = ConfigDict(extra="forbid")
    text: str
    spec: SceneSpec | None = None
    reference_images: list[Path] = Field(default_factory=list)
    mask: Path | None = None
    negative_prompt: str = ""
    style: str = ""
    budget: Budget = Field(default_factory=Budget)
    settings: ImageSettings = Field(default_factory=ImageSettings, description="the image settings the user fixed "
                                    "for every image (agent.core.image_settings); None each: the model's")
    seed: int | None = Field(None, ge=0, lt=2**32)
    candidates: int = Field(1, ge=1, le=16, description="images per generation step")
    rewrite: Literal["auto", "review", "off"] = Field(
        "auto", description="auto: use the refined prompt; off: generate from the brief verbatim; "
        "review: the caller sees the rewrite before it is used")

    @field_validator("text")
    @classmethod
    def _text(cls, text: str) -> str:
        text = text.strip()
        if not text:
            raise ValueError("the brief is empty: say what to make")
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:  # e.g. bytes from a terminal in another encoding, kept as surrogates
            raise ValueError("the brief is not valid UTF-8 text") from None
        if len(text) > MAX_BRIEF_CHARS:
            raise ValueError(f"the brief is {len(text)} characters long; the limit is {MAX_BRIEF_CHARS}")
        return text

    _limits = field_validator("negative_prompt", "style")(_limited)

    @field_validator("reference_images", "mask")
    @classmethod
    def _exists(cls, value, info: ValidationInfo):
        if (info.context or {}).get("stored"):
            return value  # a saved record loads even when a file it names was deleted since
        return existing_files(_limited(value, info))


class GenerationRequest(BaseModel):
    """One call to an image or video back end; stored with every artifact it makes."""

    model_config = ConfigDict(extra="forbid")
    prompt: str = Field(min_length=1)
    negative_prompt: str = ""
    model: str = DEFAULT_IMAGE_MODEL
    width: int | None = Field(None, ge=8, le=8192)
    height: int | None = Field(None, ge=8, le=8192)
    steps: int | None = Field(None, ge=1, le=500)
    guidance: float | None = Field(None, ge=0, le=50)
    seed: int = Field(0, ge=0, lt=2**32)
    scheduler: str | None = None
    n: int = Field(1, ge=1, le=16)
    # edits
    source_image: Path | None = None
    mask: Path | None = None
    strength: float | None = Field(None, gt=0, le=1)
    instruction: str | None = None
    layout: Layout | None = Field(None, description="boxes to compose the image from, for back ends "
                                  "whose ModelInfo.layouts is 'regions'")
    # video
    num_frames: int | None = Field(None, ge=1, le=1000)
    fps: int | None = Field(None, ge=1, le=120)
    extra: dict[str, Any] = Field(default_factory=dict, description="back-end specific options")

    _limits = field_validator("prompt", "negative_prompt", "instruction", "scheduler", "model")(_limited)

    @field_validator("seed", mode="before")
    @classmethod
    def _wrap_seed(cls, value):
        # a run's later seeds are seed + i: near 2**32 they wrap around, as every back end wraps them
        return value % 2**32 if isinstance(value, int) and not isinstance(value, bool) and value >= 2**32 else value


class Artifact(BaseModel):
    """A file a back end made, with how it was made."""

    path: Path
    sha256: str
    kind: Literal["image", "video"] = "image"
    request: GenerationRequest
    parent: str | None = Field(None, description="sha256 of the artifact this one edits")
    seconds: float = 0.0
    cost_usd: float = 0.0
    meta: dict[str, Any] = Field(default_factory=dict, description="e.g. the service's revised prompt")

    def denoiser_steps(self, default: int = 1) -> int:
        """Denoising steps this artifact took (every pass of a composed layout counted), as its back end
        reported them, else the request's steps, else the model's `default`."""
        steps = self.meta.get("denoiser_steps")  # 0 is a count too: a typeset runs no denoiser
        return int(steps if steps is not None else (self.request.steps or default))

    @staticmethod
    def digest(path: Path) -> str:
        return hashlib.sha256(Path(path).read_bytes()).hexdigest()


class Finding(BaseModel):
    """One concrete problem a critic found, precise enough for a planner to fix a region."""

    # in a clip also "motion" (not moving as asked) and "continuity" (an object that vanishes, appears,
    # changes colour or jumps between frames)
    # "background": not the background asked for; "artifact": a part of the picture no asked object
    # explains (a patch of another background, a seam, a stray blob, touching or malformed shapes)
    kind: Literal["missing", "extra", "color", "position", "excluded", "quality", "seen", "motion",
                  "continuity", "background", "artifact", "other"] = "other"
    message: str
    object: int | None = Field(None, description="index into spec.include")
    box: tuple[int, int, int, int] | None = Field(None, description="x0, y0, x1, y1 in image pixels")
    # what was seen, as fields a planner reads (the message is for people)
    shape: str | None = Field(None, description="the kind of shape seen (a 'seen' detection)")
    color: str | None = Field(None, description="its colour name")
    text: str | None = Field(None, description="the words this finding is about: read, or asked for and missing")
    requirement: str | None = Field(None, description="the id of the checklist item it fails, when one does")
    edge: Literal["top", "bottom", "left", "right"] | None = Field(
        None, description="the canvas edge the shape runs into, when that is what is wrong with it")


class FrameCheck(BaseModel):
    """What a critic saw in one frame of a clip."""

    index: int = Field(ge=0, description="the frame's index in the clip (0: the first)")
    time: float | None = Field(None, description="seconds from the clip's start, when its frame rate is known")
    detections: list[Finding] = Field(default_factory=list, description="what it saw there (kind 'seen', boxes)")
    issues: list[str] = Field(default_factory=list, description="what is wrong in this frame")


class Verdict(BaseModel):
    critic: str
    approved: bool
    scores: dict[str, float] = Field(default_factory=dict)
    issues: list[str] = Field(default_factory=list)
    findings: list[Finding] = Field(default_factory=list)
    detections: list[Finding] = Field(default_factory=list,
                                      description="what the critic saw and where, when it can tell")
    error: str | None = Field(None, description="set when the critique itself failed; never approved")
    frames: list[FrameCheck] = Field(default_factory=list, description="a clip's verdict frame by frame")
    requirements: list[Requirement] = Field(default_factory=list, description="the brief's checklist, each "
                                            "item passed, failed or unchecked, with its evidence")

    @model_validator(mode="after")
    def _earned(self) -> "Verdict":
        # an approval holds only when every requirement on the checklist passed: never by default
        if self.approved and (self.error or any(r.status != "passed" for r in self.requirements)):
            self.approved = False
        return self

    @property
    def unverified(self) -> bool:
        """Nothing this critic checked is wrong, yet something the brief asks could not be checked:
        no further attempt can be approved by it (an unchecked requirement is never a pass)."""
        return (not self.approved and self.error is None and any(r.status == "unchecked" for r in self.requirements)
                and not any(r.status == "failed" for r in self.requirements))

    @property
    def score(self) -> float:
        """One number to rank attempts by: approval first, then the mean score."""
        mean = sum(self.scores.values()) / len(self.scores) if self.scores else 0.0
        return (1000.0 if self.approved else 0.0) + mean - 0.01 * len(self.issues)

    @property
    def state(self) -> str:
        """The verdict in a word or two: "approved", "not approved" or "critique failed: why"."""
        if self.error:
            return f"critique failed: {self.error}"
        return "approved" if self.approved else "not approved"

    def summary(self) -> str:
        """The verdict in one line, for events and the director: "not approved: no star; 2 circles"."""
        if self.error or not self.issues:
            return self.state
        return f"{self.state}: {'; '.join(self.issues)}"

    def scores_text(self) -> str:
        """The scores as "count 1.00, color 0.50" ("" when there are none)."""
        return ", ".join(f"{k} {v:.2f}" for k, v in self.scores.items())


class Attempt(BaseModel):
    index: int
    iteration: int
    action: Literal["generate", "edit", "video"] = "generate"
    prompt: str
    seed: int
    artifact: Artifact
    verdict: Verdict | None = None
    note: str = ""
    typeset: str | None = Field(None, description="the words this attempt set onto its source (typeset_text, "
                                "no pixel repainted); None: made or repainted by a model")
    source: int | None = Field(None, description="for an edit: the attempt it edits")
    region: tuple[int, int, int, int] | None = Field(None, description="for a region edit: the box it repainted")


# unverified: the run stopped because the critic could not check something the brief asks
Status = Literal["running", "approved", "budget_spent", "ended", "stopped", "failed", "unverified"]

class RunRecord(BaseModel):
    """The whole history of a run; `runs/<run_id>/run.json` is this, rewritten after every step."""

    format: int = Field(RECORD_FORMAT, description="run.json's format version (see RECORD_FORMAT)")
    run_id: str
    brief: Brief
    spec: SceneSpec | None = None
    options: RunOptions = Field(default_factory=RunOptions, description="the options the run was started with, "
                                "its back ends among them (the brief's budget may grow later: each edit of a "
                                "finished run adds a round)")
    status: Status = "running"
    stop_reason: str = ""
    error: str | None = None
    refined_prompt: str | None = None
    refined_negative_prompt: str | None = None
    iterations: int = 0
    attempts: list[Attempt] = Field(default_factory=list)
    best_index: int | None = None
    messages: list[dict[str, Any]] = Field(default_factory=list, description="the LLM conversation")
    usage: list[dict[str, Any]] = Field(default_factory=list, description="tokens of every LLM / VLM call "
                                        "(input, output, cached) and their price (agent.core.usage.Usage)")
    presentation: str = Field("", description="the director's closing words: what it made and why")
    cost_usd: float = 0.0
    seconds: float = 0.0
    created: datetime = Field(default_factory=lambda: datetime.now(timezone.utc))

    @model_validator(mode="before")
    @classmethod
    def _migrate(cls, data, info: ValidationInfo):
        """A stored record (validated with context {"stored": True}) of an older format is migrated;
        one of a newer format is refused with a clear message rather than a field error."""
        if isinstance(data, dict) and (info.context or {}).get("stored"):
            return migrate_record(data)
        if isinstance(data, dict) and (beside := sorted(set(data) & set(BACKEND_FIELDS))):
            raise ValueError(f"{beside[0]}: a run's back ends are its options' (options=RunOptions({beside[0]}=...))")
        return data

    @field_validator("options", mode="before")
    @classmethod
    def _stored_options(cls, value, info: ValidationInfo):
        if isinstance(value, dict) and (info.context or {}).get("stored"):
            return RunOptions.model_construct(**value)  # a limit lowered later never makes an old run unreadable
        return value

    # the back ends are the options' (one definition of a run's options); read here for short
    @property
    def llm(self) -> str:
        return self.options.llm

    @property
    def image_model(self) -> str:
        return self.options.image_model

    @property
    def critic(self) -> str:
        return self.options.critic

    @property
    def video_model(self) -> str | None:
        return self.options.video_model

    @property
    def video_format(self) -> Literal["mp4", "gif"] | None:
        return self.options.video_format

    @property
    def mode(self) -> Literal["agent", "loop"]:
        return self.options.mode

    @property
    def best(self) -> Attempt | None:
        return None if self.best_index is None else self.attempts[self.best_index]

    @property
    def approved(self) -> bool:
        return bool(self.best and self.best.verdict and self.best.verdict.approved)

    def summary(self) -> dict[str, Any]:
        """The command-line contract's JSON object (paths absolute)."""
        def brief_attempt(a: Attempt) -> dict[str, Any]:
            return {"path": str(a.artifact.path.resolve()), "prompt": a.prompt, "seed": a.seed,
                    "approved": bool(a.verdict and a.verdict.approved)}
        best = self.best
        return {
            "run_id": self.run_id, "approved": self.approved, "iterations": self.iterations,
            "status": self.status, "stop_reason": self.stop_reason, "error": self.error,
            "best": None if best is None else {
                **brief_attempt(best),
                # how the best was made (the attempts' own shape is the CLI contract's, kept as it is)
                "index": best.index, "action": best.action, "source": best.source,
                "region": list(best.region) if best.region else None,
                "typeset": best.artifact.meta.get("typeset") or [],  # the words set on it: text, font, box
                "verdict": best.verdict.model_dump(include={"approved", "scores", "issues", "requirements"})
                if best.verdict else None},
            "attempts": [brief_attempt(a) for a in self.attempts],
            "cost_usd": self.cost_usd, "seconds": round(self.seconds, 3),
            "tokens": {k: sum(int(u.get(k) or 0) for u in self.usage)
                       for k in ("input_tokens", "output_tokens", "cached_tokens")},
            "presentation": self.presentation,
        }


class Event(BaseModel):
    """What the UI and CLI watch while a run unfolds."""

    type: Literal["run_started", "step_started", "prompt_refined", "attempt_made", "verdict",
                  "tool_error", "message", "run_finished",
                  "progress"]  # a denoising step: data step, total, preview (a small PNG data URL or None)
    run_id: str
    message: str = ""
    attempt: Attempt | None = None
    data: dict[str, Any] = Field(default_factory=dict)


def existing_files(value):
    """Validator: every path given (one or a list) is a whole image file (decoded: a truncated one is
    refused) within the pixel limit (checked from its header first), else a clear error naming it."""
    from agent.core.artifacts import check_image_file
    from agent.core.errors import InputError
    for path in value if isinstance(value, list) else [value] if value else []:
        if not Path(path).is_file():
            raise ValueError(f"reference image not found: {path}")
        try:
            check_image_file(Path(path))
        except InputError as e:
            raise ValueError(str(e)) from None
    return value


_NUMBERS = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten"]


def number_word(n: int) -> str:
    return _NUMBERS[n] if 0 <= n < len(_NUMBERS) else str(n)


def plural(noun: str) -> str:
    irregular = {"person": "people", "mouse": "mice", "knife": "knives", "skis": "skis",
                 "sheep": "sheep", "scissors": "scissors", "glass": "glasses"}
    last = noun.split(" ")[-1]
    if last in irregular:
        return noun[: -len(last)] + irregular[last]
    if last.endswith(("s", "x", "ch", "sh")):
        return noun + "es"
    if last.endswith("y") and last[-2:-1] not in "aeiou":
        return noun[:-1] + "ies"
    return noun + "s"
