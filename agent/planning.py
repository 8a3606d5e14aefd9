"""What a planner sees and proposes. The fixed loop asks a planner for the first prompt and for
each next step; an LLM plans through structured output, the offline planner by rules."""
from __future__ import annotations

import json
import re
import secrets
from typing import Any, Literal, Protocol

from pydantic import BaseModel, Field

from agent.prompts import load_prompt
from agent.protocols import Message, ToolCall
from agent.types import Attempt, RunRecord, SceneSpec


class Proposal(BaseModel):
    prompt: str
    negative_prompt: str = ""
    rationale: str = ""


class NextStep(BaseModel):
    action: Literal["generate", "edit"]
    prompt: str
    negative_prompt: str = ""
    seed: int | None = None
    guidance: float | None = None
    n: int = Field(1, ge=1, le=16)
    attempt: int | None = Field(None, description="for edit: the attempt to edit")
    box: tuple[int, int, int, int] | None = Field(None, description="for edit: region to repaint")
    strength: float | None = Field(None, gt=0, le=1)
    reason: str = ""

    def call(self) -> ToolCall:
        if self.action == "edit":
            args = {"attempt": self.attempt, "prompt": self.prompt, "box": self.box, "seed": self.seed,
                    "guidance": self.guidance, "n": self.n}
            if self.strength is not None:
                args["strength"] = self.strength
        else:
            args = {"prompt": self.prompt, "negative_prompt": self.negative_prompt, "seed": self.seed,
                    "guidance": self.guidance, "n": self.n}
        return ToolCall(id=f"call_{secrets.token_hex(6)}", name=f"{self.action}_image",
                        arguments={k: v for k, v in args.items() if v is not None})


class PlanState(BaseModel):
    """Everything a planner needs, as plain data (the same whether read off the record or off
    the conversation), so LLM and rules plan from the same facts."""

    brief: str
    spec: SceneSpec | None = None
    image_model: str
    sizes: list[tuple[int, int]] = Field(default_factory=list)
    default_guidance: float | None = None
    vocabulary: str = ""
    candidates: int = 1
    seed: int = 0
    edits: bool = True
    adds_by_inpainting: bool = True
    refined_prompt: str | None = None
    attempts: list[dict[str, Any]] = Field(default_factory=list)
    last_error: str | None = None


class Planner(Protocol):
    def propose(self, state: PlanState) -> Proposal: ...

    def next_step(self, state: PlanState) -> NextStep: ...


class LLMPlanner:
    """Plans the fixed loop with any LLM through structured output."""

    def __init__(self, llm):
        self.llm = llm

    def propose(self, state: PlanState) -> Proposal:
        return self.llm.structured(load_prompt("system"), load_prompt("refine", **prompt_vars(state)), Proposal)

    def next_step(self, state: PlanState) -> NextStep:
        prompt = load_prompt("revise", state=state.model_dump_json(indent=1, exclude_none=True))
        return self.llm.structured(load_prompt("system"), prompt, NextStep)


def prompt_vars(state: PlanState) -> dict[str, Any]:
    spec = state.spec.to_geneval() if state.spec else None
    return {"brief": state.brief, "image_model": state.image_model,
            "spec_line": f"Scene spec (GenEval format): {json.dumps(spec)}" if spec else "",
            "sizes": ", ".join(f"{w}x{h}" for w, h in state.sizes) or "any",
            "guidance": state.default_guidance, "candidates": state.candidates,
            "vocabulary": f"The model only knows: {state.vocabulary}" if state.vocabulary else "",
            "state": state.model_dump_json(indent=1, exclude_none=True, include={
                "brief", "spec", "image_model", "sizes", "default_guidance", "candidates", "seed", "edits",
                "adds_by_inpainting"})}


_JSON_BLOCK = re.compile(r"```json\n(.*?)\n```", re.S)


def state_from_messages(messages: list[Message]) -> PlanState:
    """Rebuild the plan state from a conversation: the task's JSON block, then every tool result."""
    state = PlanState.model_validate_json(_JSON_BLOCK.findall(messages[0].text)[-1])
    for message in messages[1:]:
        for part in message.parts:
            if getattr(part, "type", "") != "tool_result":
                continue
            state.last_error = part.data.get("error")
            if "prompt" in part.data and part.name == "refine_prompt":
                state.refined_prompt = part.data["prompt"]
            by_index = {a["index"]: a for a in state.attempts}
            for a in part.data.get("attempts", []):
                by_index[a["index"]] = a
            state.attempts = [by_index[i] for i in sorted(by_index)]
    return state


def attempt_data(a: Attempt) -> dict[str, Any]:
    """One attempt as a planner (or an LLM reading JSON) sees it."""
    size = None
    if a.artifact.kind == "image":
        from PIL import Image
        with Image.open(a.artifact.path) as im:
            size = list(im.size)
    r = a.artifact.request
    return {"index": a.index, "action": a.action, "prompt": a.prompt, "seed": a.seed, "size": size,
            "guidance": r.guidance, "path": str(a.artifact.path), "note": a.note,
            "verdict": a.verdict.model_dump(mode="json") if a.verdict else None}


def state_from_record(record: RunRecord, info, edits: bool = True) -> PlanState:
    return PlanState(brief=record.brief.text, spec=record.spec, image_model=record.image_model,
                     sizes=info.sizes, default_guidance=info.default_guidance, vocabulary=info.vocabulary,
                     adds_by_inpainting=info.adds_by_inpainting, candidates=record.brief.candidates, seed=record.brief.seed or 0, edits=edits,
                     refined_prompt=record.refined_prompt,
                     attempts=[attempt_data(a) for a in record.attempts])
