"""What a planner sees and proposes: the plan state, a proposal, the next step and the Planner
protocol. Types only (plus reading a state back off a conversation), so planners and LLM providers
need nothing but the core."""
from __future__ import annotations

import re
import secrets
from typing import Literal, Protocol, runtime_checkable

from pydantic import BaseModel, Field

from agent.core.layout import Layout
from agent.core.errors import ConfigError
from agent.core.protocols import Message, TextPart, ToolCall, ToolResult
from agent.core.types import SceneSpec, Verdict


class Proposal(BaseModel):
    prompt: str
    negative_prompt: str = ""
    rationale: str = ""


class NextStep(BaseModel):
    action: Literal["generate", "edit", "video"]
    prompt: str
    negative_prompt: str = ""
    seed: int | None = None
    guidance: float | None = None
    n: int = Field(1, ge=1, le=16)
    attempt: int | None = Field(None, description="for edit: the attempt to edit")
    box: tuple[int, int, int, int] | None = Field(None, description="for edit: region to repaint")
    strength: float | None = Field(None, gt=0, le=1)
    layout: Layout | Literal["auto"] | None = Field(
        None, description="for generate: boxes to compose the image from, or auto to plan them by rules")
    num_frames: int | None = Field(None, ge=1, le=1000, description="for video: frames in the clip")
    reason: str = ""

    def call(self) -> ToolCall:
        if self.action == "video":
            args = {"prompt": self.prompt, "negative_prompt": self.negative_prompt, "seed": self.seed,
                    "guidance": self.guidance, "n": self.n, "num_frames": self.num_frames,
                    "attempt": self.attempt}
            return ToolCall(id=f"call_{secrets.token_hex(6)}", name="generate_video",
                            arguments={k: v for k, v in args.items() if v not in (None, "")})
        if self.action == "edit":
            args = {"attempt": self.attempt, "prompt": self.prompt, "box": self.box, "seed": self.seed,
                    "guidance": self.guidance, "n": self.n}
            if self.strength is not None:
                args["strength"] = self.strength
        else:
            args = {"prompt": self.prompt, "negative_prompt": self.negative_prompt, "seed": self.seed,
                    "guidance": self.guidance, "n": self.n,
                    "layout": self.layout.model_dump() if isinstance(self.layout, Layout) else self.layout}
        return ToolCall(id=f"call_{secrets.token_hex(6)}", name=f"{self.action}_image",
                        arguments={k: v for k, v in args.items() if v is not None})


# never: plain text-to-image; always: every generation from a layout (where the model composes
# regions); auto: where it is the better bet (see wants_layout)
LayoutPolicy = Literal["auto", "always", "never"]


class AttemptView(BaseModel):
    """One attempt as a planner (or an LLM reading JSON) sees it."""

    index: int
    action: str
    prompt: str
    seed: int
    size: tuple[int, int] | None = None
    guidance: float | None = None
    frames: int | None = Field(None, description="a clip's frame count")
    path: str = ""
    note: str = ""
    typeset: str | None = Field(None, description="the words this attempt set onto its source (no pixel repainted)")
    source: int | None = Field(None, description="the attempt this one edits")
    region: tuple[int, int, int, int] | None = Field(None, description="the box a region edit repainted")
    steps: int | None = Field(None, description="the denoising steps it took (every pass of a layout counted)")
    layout: Layout | None = None
    verdict: Verdict | None = None

    @property
    def score(self) -> float:
        return self.verdict.score if self.verdict else -1e9

    @property
    def rank(self) -> tuple[float, int]:
        """How it ranks against the run's other attempts (`rank`); the best is the highest, the earliest among equals."""
        return rank(self.verdict)


def rank(verdict: Verdict | None) -> tuple[float, int]:
    """The order attempts are ranked in: the verdict's score, then fewer checklist items found wrong (words
    set where the shape they go with is missing turn a failed item into one the critic cannot check: no
    better by score, but nothing found wrong with them)."""
    if verdict is None:
        return -1e9, 0
    return verdict.score, -sum(r.status == "failed" for r in verdict.requirements)


class BudgetLeft(BaseModel):
    """What the run's budget still allows (None: no limit), so a planner can finish the picture before
    the run ends instead of spending the last round on a step that cannot lead to an approval."""

    iterations: int | None = Field(None, description="critique rounds left")
    generations: int | None = Field(None, description="images or clips left")
    steps: int | None = Field(None, description="denoising steps left")

    def short_of(self, steps: int, rounds: int) -> Literal["iterations", "generations", "compute"] | None:
        """The budget that has no room for `rounds` more rounds (one image each) taking `steps` denoising
        steps in all; None when all have room."""
        for name, left, need in (("iterations", self.iterations, rounds), ("generations", self.generations, rounds),
                                 ("compute", self.steps, steps)):
            if left is not None and left < need:
                return name
        return None


class PlanState(BaseModel):
    """Everything a planner needs, as plain data (the same whether read off the record or off
    the conversation), so LLM and rules plan from the same facts."""

    brief: str
    spec: SceneSpec | None = None
    image_model: str
    sizes: list[tuple[int, int]] = Field(default_factory=list)
    default_guidance: float | None = None
    vocabulary: str = ""
    renders_text: bool = Field(False, description="the model draws legible words (ModelInfo.renders_text)")
    candidates: int = 1
    seed: int = 0
    edits: bool = True
    adds_by_inpainting: bool = True
    layouts: Literal["regions", "words"] = "words"
    layout_policy: LayoutPolicy = "auto"
    clip: bool = Field(False, description="the run delivers a clip: every generation is a video")
    video_model: str = ""
    frames: tuple[int, int] | None = Field(None, description="the video model's fewest and most frames")
    default_frames: int | None = None
    clip_from: Literal["text", "image"] = Field("text", description="what the video model makes a clip from "
                                                "(ModelInfo.clip_from): image, a first frame composed first")
    refined_prompt: str | None = None
    attempts: list[AttemptView] = Field(default_factory=list)
    budget_left: BudgetLeft = Field(default_factory=BudgetLeft)
    last_error: str | None = None


# the first issue of an image's verdict in a clip run (RunContext.judge_first_frame): it is not the result
FIRST_FRAME_ISSUE = "this run delivers a clip: an image cannot be its result"


def first_frame_ok(a: AttemptView) -> bool:
    """An image of a clip run that the critic approved as a still (the brief without its motion): its
    checklist all passed, and nothing wrong with it but being an image."""
    v = a.verdict
    return bool(a.action != "video" and v and not v.error and v.requirements and v.issues == [FIRST_FRAME_ISSUE]
                and all(r.status == "passed" for r in v.requirements))


def wants_layout(state: PlanState) -> bool:
    """Whether the next generation should be drawn from a layout: wherever the model composes regions
    and the spec names objects. Judged by eye (the approval sets, 518 images), plain text-to-image
    was right 20 times in 118 and the layout path 104 in 157: it misses exact counts, ignores the
    background the brief names (the layout path paints the canvas that colour) and misplaces objects."""
    spec = state.spec
    if state.clip or state.layouts != "regions" or not (spec and spec.include) or state.layout_policy == "never":
        return False
    return True


CLIP_WORDS = {"video", "clip", "animation", "animated", "animate", "moving", "moves", "motion", "movie", "gif"}


def wants_clip(brief: str, spec: SceneSpec | None, video_model: str | None) -> bool:
    """Whether a run delivers a clip: it has a video model, and the brief asks for motion (its spec
    gives an object a motion, a speed, or a place to start or end at) or names a clip in words."""
    if not video_model:
        return False
    if spec and any(o.motion or o.speed or o.start or o.end for o in spec.include):  # a place to start or end at is a clip's
        return True
    return bool(CLIP_WORDS & set(re.findall(r"[a-z]+", brief.lower())))


@runtime_checkable
class Planner(Protocol):
    def propose(self, state: PlanState) -> Proposal: ...

    def first_step(self, state: PlanState) -> NextStep: ...

    def next_step(self, state: PlanState) -> NextStep: ...


PLAN_STATE = "plan_state"  # the task message's TextPart.data key: the PlanState the run started from


def task_part(text: str, state: PlanState) -> TextPart:
    """The task as the model reads it, with the plan state it was written from as data."""
    return TextPart(text=text, data={PLAN_STATE: state.model_dump(mode="json")})


def state_from_messages(messages: list[Message]) -> PlanState:
    """The plan state of a conversation: the task's, then what every tool result since gave back."""
    task = next((p for p in messages[0].parts if isinstance(p, TextPart) and PLAN_STATE in p.data), None)
    if task is None:
        raise ConfigError("the conversation does not start with a task carrying its plan state "
                          "(the director's task message)")
    state = PlanState.model_validate(task.data[PLAN_STATE])
    for message in messages[1:]:
        for part in message.parts:
            if not isinstance(part, ToolResult):
                continue
            state.last_error = part.data.get("error")
            if "budget_left" in part.data:
                state.budget_left = BudgetLeft.model_validate(part.data["budget_left"])
            if "prompt" in part.data and part.name == "refine_prompt":
                state.refined_prompt = part.data["prompt"]
            by_index = {a.index: a for a in state.attempts}
            for a in part.data.get("attempts", []):
                view = AttemptView.model_validate(a)
                by_index[view.index] = view
            state.attempts = [by_index[i] for i in sorted(by_index)]
    return state
