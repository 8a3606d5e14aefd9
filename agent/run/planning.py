"""Planning for the run: the LLM planner and the plan state built from a run record (the types
are in `agent.core.plans`). The fixed loop asks a planner for the first prompt and for
each next step; an LLM plans through structured output, the offline planner by rules."""
from __future__ import annotations

import json
from typing import Any

from agent.core.plans import AttemptView, BudgetLeft, LayoutPolicy, NextStep, PlanState, Proposal, wants_clip, wants_layout
from agent.core.prompts import load_prompt
from agent.core.types import Attempt, RunRecord


def _rules():
    """The offline planner (stateless), through the registry: the run layer does not import the LLMs'."""
    from agent.core import registry
    return registry.resolve("llm", "offline")


class LLMPlanner:
    """Plans the fixed loop with any LLM through structured output."""

    def __init__(self, llm):
        self.llm = llm

    def propose(self, state: PlanState) -> Proposal:
        return self.llm.structured(load_prompt("system"), load_prompt("refine", **prompt_vars(state)), Proposal)

    def first_step(self, state: PlanState) -> NextStep:
        """The refined prompt, drawn from a layout planned by rules where the model composes regions
        (a clip run: the refined prompt as a clip of the model's default length)."""
        if state.clip and state.clip_from == "image":  # a first frame to animate, composed as the offline planner does
            return _rules().first_frame(state, state.seed)
        if state.clip:
            return NextStep(action="video", prompt=state.refined_prompt or state.brief, seed=state.seed,
                            n=state.candidates)
        grounded = wants_layout(state)
        return NextStep(action="generate", prompt=state.refined_prompt or state.brief, seed=state.seed,
                        n=state.candidates, layout="auto" if grounded else None)

    def next_step(self, state: PlanState) -> NextStep:
        prompt = load_prompt("revise", state=state.model_dump_json(indent=1, exclude_none=True))
        step = self.llm.structured(load_prompt("system"), prompt, NextStep)
        if state.clip and state.clip_from == "image":
            # a first frame may be drawn or edited; a clip needs one to animate
            if step.action == "video" and step.attempt is None:
                return _rules().next_animated(state)
            return step
        if state.clip and step.action != "video":  # a clip run delivers a clip: an image step would not count
            step = step.model_copy(update={"action": "video", "box": None, "layout": None, "attempt": None,
                                           "strength": None})
        return step


def prompt_vars(state: PlanState) -> dict[str, Any]:
    spec = state.spec.to_geneval() if state.spec else None
    clip = (f"This run delivers a clip: make it with generate_video ({state.video_model}, "
            f"{state.frames[0]} to {state.frames[1]} frames); the critic judges every frame and the motion."
            if state.clip and state.frames else
            f"This run delivers a clip: make it with generate_video ({state.video_model})." if state.clip else "")
    return {"brief": state.brief, "image_model": state.image_model, "video_line": clip,
            "spec_line": f"Scene spec (GenEval format): {json.dumps(spec)}" if spec else "",
            "sizes": ", ".join(f"{w}x{h}" for w, h in state.sizes) or "any",
            "guidance": state.default_guidance, "candidates": state.candidates,
            "vocabulary": f"The model only knows: {state.vocabulary}" if state.vocabulary else "",
            "state": state.model_dump_json(indent=1, exclude_none=True, include={
                "brief", "spec", "image_model", "sizes", "default_guidance", "candidates", "seed", "edits",
                "adds_by_inpainting", "layouts", "layout_policy", "vocabulary", "renders_text", "clip", "video_model", "frames",
                "default_frames"})}


def attempt_view(a: Attempt) -> AttemptView:
    """One attempt as a planner sees it (its size is the request's, as the back end recorded it)."""
    r = a.artifact.request
    size = None
    if a.artifact.kind == "image":
        size = (r.width, r.height) if r.width and r.height else _size_of(a.artifact.path)
    return AttemptView(index=a.index, action=a.action, prompt=a.prompt, seed=a.seed, size=size,
                       guidance=r.guidance, frames=r.num_frames if a.artifact.kind == "video" else None, path=str(a.artifact.path), note=a.note, typeset=a.typeset, source=a.source, region=a.region,
                       steps=_steps(a), layout=r.layout, verdict=a.verdict)


def _steps(a: Attempt) -> int | None:
    """The denoising steps it took (a typeset's 0 is a count, not missing: Artifact.denoiser_steps); None
    when neither its back end nor its request says."""
    known = a.artifact.meta.get("denoiser_steps") is not None or a.artifact.request.steps
    return a.artifact.denoiser_steps() if known else None


def attempt_data(a: Attempt) -> dict[str, Any]:
    """The same as JSON, for tool results an LLM reads."""
    return attempt_view(a).model_dump(mode="json", exclude_none=True)


def state_from_record(record: RunRecord, info, budget_left: BudgetLeft, edits: bool = True,
                      layouts: LayoutPolicy = "auto", video_info=None) -> PlanState:
    """`budget_left`: RunContext.budget_left(); `layouts="never"` plans as if the model could not compose
    a layout (the benchmark's baseline); `video_info` is the run's video model's ModelInfo, when it has one."""
    clip = video_info is not None and wants_clip(record.brief.text, record.spec, record.video_model)
    shown = video_info if clip else info  # what the clip's model can do is what the planner reads
    return PlanState(clip=clip, video_model=record.video_model or "",
                     frames=video_info.frames if video_info else None,
                     default_frames=video_info.default_frames if video_info else None,
                     clip_from=video_info.clip_from if video_info else "text", brief=record.brief.text, spec=record.spec, image_model=record.image_model,
                     sizes=info.sizes, default_guidance=shown.default_guidance, vocabulary=shown.vocabulary,
                     renders_text=info.renders_text if info.renders_text is not None else not info.vocabulary,
                     adds_by_inpainting=info.adds_by_inpainting, layouts=info.layouts if layouts != "never" else "words",
                     layout_policy=layouts, candidates=record.brief.candidates, seed=record.brief.seed or 0, edits=edits,
                     refined_prompt=record.refined_prompt,
                     attempts=[attempt_view(a) for a in record.attempts],
                     budget_left=budget_left)


def _size_of(path) -> tuple[int, int] | None:
    """Only for a back end that did not record the size it made (the request says it otherwise)."""
    from PIL import Image
    try:
        with Image.open(path) as im:
            return im.size
    except OSError:
        return None
