"""Setting a brief's words by rules, the same for every director: where each asked text goes (a box per
TextSpec, in its own place), which font a try uses, and the typeset step onto an attempt. The offline
planner plans with it (`agent.llm.words`); the director uses it to deliver the words once the budget is
spent, with no LLM turn (`Director.deliver_words`)."""
from __future__ import annotations

import secrets
from typing import Literal

from agent.core.plans import AttemptView, NextStep, PlanState
from agent.core.protocols import ToolCall
from agent.core.typeset import named_box
from agent.core.types import SceneSpec

UNIT = 64  # the layout's canvas
FONTS = ("DejaVu Sans", "DejaVu Serif")  # a second try sets the words in the other family
SIDE_OF = {"below": "bottom", "above": "top", "left of": "left", "right of": "right"}


class Step(NextStep):
    """A NextStep with what only the words ask for: the delivery size, and typesetting."""

    action: Literal["generate", "edit", "video", "typeset"]
    width: int | None = None
    height: int | None = None
    text: str | None = None
    font: str | None = None
    plate: bool = False

    def call(self) -> ToolCall:
        if self.action == "typeset":
            args = {"attempt": self.attempt, "text": self.text, "box": list(self.box), "font": self.font,
                    "plate": self.plate or None}
            return ToolCall(id=f"call_{secrets.token_hex(6)}", name="typeset_text",
                            arguments={k: v for k, v in args.items() if v is not None})
        call = super().call()
        if self.action == "generate" and self.width:
            call.arguments.update(width=self.width, height=self.height)
        return call


def text_boxes(spec: SceneSpec, width: int = UNIT, height: int = UNIT) -> list[tuple[int, int, int, int]]:
    """One box per TextSpec on a width x height canvas, each in its own place."""
    out, taken = [], set()
    for t in spec.text:
        rel = t.relative_to()
        where = SIDE_OF[rel[0]] if rel else t.placement or ("bottom" if spec.include else "center")
        for alternative in (where, "bottom", "top", "center"):
            if alternative not in taken:
                where = alternative
                break
        taken.add(where)
        out.append(named_box(where, width, height))
    return out


def text_ok(a: AttemptView) -> tuple[bool, list[int]]:
    """(every item but the words passed, the indexes of the texts not yet right)."""
    reqs = a.verdict.requirements if a.verdict else []
    shapes = all(r.status == "passed" for r in reqs if r.kind != "text" or r.id == "text:only") and bool(reqs)
    missing = [int(r.id.split(":")[1]) for r in reqs if r.kind == "text" and r.id != "text:only"
               and r.status != "passed"]
    return shapes, missing


def typeset_step(state: PlanState, base: AttemptView, why: str = "whose shapes are right",
                 text: int | None = None) -> Step | None:
    """Set text `text` (else the first not yet right) onto `base`, in its box (over the model's
    misspelling, on a plate, where it wrote one); None when every font has been tried on it."""
    k = text_ok(base)[1][0] if text is None else text
    tries = [a for a in state.attempts if a.source == base.index and a.typeset == state.spec.text[k].text]
    if len(tries) >= len(FONTS):
        return None
    w, h = base.size
    box = text_boxes(state.spec, w, h)[k]
    misspelt = next((r.box for r in base.verdict.requirements if r.id == f"text:{k}" and r.box), None)
    if misspelt and not (misspelt[2] > box[0] and box[2] > misspelt[0] and misspelt[3] > box[1] and box[3] > misspelt[1]):
        misspelt = None  # written somewhere else: a plate that big would paint over the shapes
    if misspelt:  # the model wrote it wrong where the words go: cover its words, painted over
        m = max(2, round(0.02 * min(w, h)))
        box = (max(0, min(box[0], misspelt[0] - m)), max(0, min(box[1], misspelt[1] - m)),
               min(w, max(box[2], misspelt[2] + m)), min(h, max(box[3], misspelt[3] + m)))
    return Step(action="typeset", attempt=base.index, prompt=state.spec.text[k].text, text=state.spec.text[k].text,
                box=box, font=FONTS[len(tries)], plate=bool(misspelt),
                reason=f"typeset {state.spec.text[k].text!r} at {list(box)} on attempt {base.index}, {why}"
                       + (f" ({FONTS[len(tries)]}: the first setting misread)" if tries else "")
                       + (f", on a plate over the misspelt words at {list(misspelt)}" if misspelt else ""))
