"""The narrow interfaces every back end implements. One back end per file, our own types in and out."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Literal, Protocol, runtime_checkable

from pydantic import BaseModel, Field

from agent.core.types import Artifact, GenerationRequest, RunRecord, SceneSpec, Verdict


# ---- images and video -------------------------------------------------------------------------
class ModelInfo(BaseModel):
    """What a generation back end offers; checked before any weights load or any call is paid."""

    name: str
    sizes: list[tuple[int, int]] = Field(description="(width, height) menu; the first is the default")
    default_steps: int | None = None
    default_guidance: float | None = None
    # what a user's image settings may ask (agent.core.image_settings): None / empty, the model does not take it
    steps_range: tuple[int, int] | None = Field(None, description="the denoising steps a request may set "
                                                "(fewest, most); None: the back end chooses its own")
    guidance_range: tuple[float, float] | None = Field(None, description="the guidance scale a request may set; "
                                                       "None: the model has none to set")
    schedulers: list[str] = Field(default_factory=list, description="samplers a request may name; empty: its own")
    default_scheduler: str | None = Field(None, description="the sampler it uses unless told (None: unnamed)")
    supports_negative: bool = True
    max_n: int = 8
    edits: list[str] = Field(default_factory=list, description="img2img, inpaint, instruct, ...")
    vocabulary: str = Field("", description="what the model can draw, when that is limited")
    renders_text: bool | None = Field(None, description="draws legible words when the prompt asks (gpt-image, "
                                      "FLUX, SD3): a misspelling gets one retry with the words in the prompt "
                                      "before they are typeset; None: any model without a limited vocabulary")
    quality_notes: str = Field("", description="what good output of this model looks like, when it differs "
                               "from a real image (the critic's rubric adds it; the shapes world: flat colour)")
    layouts: Literal["regions", "words"] = Field(
        "words", description="regions: composes a Layout box by box (inpainting); words: gets it in the prompt")
    frames: tuple[int, int] | None = Field(None, description="a video model: the fewest and most frames per clip")
    default_frames: int | None = None
    clip_from: Literal["text", "image"] = Field("text", description="a video model: what a clip starts from: "
                                                "text (text to video), or image (it animates a source image, a "
                                                "first frame the run composes and the critic approves first)")
    adds_by_inpainting: bool = Field(True, description="inpainting an empty region can add a new object "
                                     "(measured False for local:shapes: 16% of such edits approved)")
    reports_steps: bool = Field(False, description="calls the caller's step hook once per denoising step "
                                "(agent.core.progress), so a surface can show 'step 12/20' live")
    mask_feather: bool = Field(False, description="an inpaint takes a feather (`extra['mask_blur']`, pixels): the "
                               "painted mask's edge softened by it and the edit blended through it")


@runtime_checkable
class ImageBackend(Protocol):
    info: ModelInfo

    def generate(self, request: GenerationRequest, out_dir: Path) -> list[Artifact]: ...

    def edit(self, request: GenerationRequest, out_dir: Path) -> list[Artifact]: ...


@runtime_checkable
class VideoBackend(Protocol):
    info: ModelInfo

    def generate(self, request: GenerationRequest, out_dir: Path) -> list[Artifact]: ...


@runtime_checkable
class ChecksReady(Protocol):
    """An optional ability of a back end: it can tell, before anything is spent, whether it can work on
    this machine (weights present, key set), raising ConfigError naming what is missing."""

    def check_ready(self) -> None: ...


def check_ready(backend: ImageBackend | VideoBackend) -> None:
    """Raise ConfigError when a back end that `ChecksReady` cannot work here; any other is taken as ready."""
    if isinstance(backend, ChecksReady):
        backend.check_ready()


@runtime_checkable
class EstimatesSteps(Protocol):
    """An optional ability of an image back end: the denoising steps one image of a request will take,
    every pass counted (a layout drawn box by box takes one pass per box), before anything runs, the
    same count its artifacts will record (`Artifact.denoiser_steps`)."""

    def planned_steps(self, request: GenerationRequest, edit: bool = False) -> int: ...


def planned_steps(backend: ImageBackend, request: GenerationRequest, edit: bool = False) -> int:
    """The denoising steps all `request.n` images will take: the back end's own estimate where it gives
    one (`EstimatesSteps`), else what an artifact without a count records (the request's steps, else the
    model's default)."""
    if isinstance(backend, EstimatesSteps):
        return request.n * backend.planned_steps(request, edit)
    return request.n * (request.steps or backend.info.default_steps or 1)


# ---- critics ----------------------------------------------------------------------------------
@runtime_checkable
class Critic(Protocol):
    name: str
    kinds: tuple[Literal["image", "video"], ...]  # the artifacts it can judge; any other is never shown to it

    def critique(self, artifact: Artifact, brief_text: str, spec: SceneSpec | None) -> Verdict: ...


# ---- LLMs -------------------------------------------------------------------------------------
class TextPart(BaseModel):
    """Words for the model; `data` for programs (the task's plan state, read by the offline planner)."""

    type: Literal["text"] = "text"
    text: str
    data: dict[str, Any] = Field(default_factory=dict)


class ImagePart(BaseModel):
    type: Literal["image"] = "image"
    path: Path
    media_type: str = "image/png"


class ToolCall(BaseModel):
    type: Literal["tool_call"] = "tool_call"
    id: str
    name: str
    arguments: dict[str, Any] = Field(default_factory=dict)
    error: str | None = Field(None, description="set by the provider when the model's arguments were not a "
                              "JSON object; the director answers with an error result instead of running it")


class ToolResult(BaseModel):
    """What a tool gave back: text and images for the model, `data` for programs (the offline planner)."""

    type: Literal["tool_result"] = "tool_result"
    call_id: str
    name: str
    content: list[TextPart | ImagePart] = Field(default_factory=list)
    data: dict[str, Any] = Field(default_factory=dict)
    is_error: bool = False


Part = TextPart | ImagePart | ToolCall | ToolResult


class Message(BaseModel):
    role: Literal["user", "assistant", "tool"]
    parts: list[Part]

    @property
    def text(self) -> str:
        return "".join(p.text for p in self.parts if isinstance(p, TextPart))

    @property
    def tool_calls(self) -> list[ToolCall]:
        return [p for p in self.parts if isinstance(p, ToolCall)]


class ToolSpec(BaseModel):
    """A tool as an LLM sees it; `parameters` is JSON schema derived from the function signature."""

    name: str
    description: str
    parameters: dict[str, Any]


@runtime_checkable
class LLM(Protocol):
    """One chat turn: the system prompt, the conversation and the tools in; the assistant's message out."""

    name: str
    # a class attribute, so it can be read off the registry's factory before anything is built: True when
    # structured() answers free-form questions (the brief's SceneSpec, critic:vlm's judge); False (the
    # offline planner, scripts): the spec comes from the rules parser
    structured_output: bool

    def complete(self, system: str, messages: list[Message], tools: list[ToolSpec]) -> Message: ...

    def structured(self, system: str, prompt: str, schema: type[BaseModel],
                   images: list[Path] = ()) -> BaseModel:
        """One reply parsed into `schema` (used by the critic and for SceneSpec extraction)."""
        ...


@runtime_checkable
class Presents(Protocol):
    """An optional ability of an LLM: it writes the run's closing words itself (the offline planner, by
    rules); the director gives any other LLM one last turn to present the result."""

    def present(self, record: RunRecord) -> str: ...
